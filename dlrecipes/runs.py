"""Run directories: one per training, written so that no file is ever seen half-written.

    runs/<recipe>-<UTC timestamp>/
        run.json        status (running -> complete | failed | interrupted), times, seed
        recipe.yaml     the resolved recipe: every default and --set override filled in
        signature.json  the data's input shape/dtype and classes (exports need no dataset)
        env.json        library versions, platform and devices
        history.csv     per-epoch learning rate, loss and metrics (rewritten each epoch)
        model.keras     the trained model
        metrics.json    final train/validation/test metrics
        curves.png      loss and main metric per epoch, train vs validation

Each file is written to a temporary name and renamed into place. `run.json` says
`complete` only after everything else is written; any other status means incomplete.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import yaml

from dlrecipes.errors import RecipeError, did_you_mean

COMPLETE = "complete"


def default_runs_dir() -> Path:
    return Path(os.environ.get("DLRECIPES_RUNS_DIR") or "runs")


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write to `path` through a temporary file in the same folder, then rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if isinstance(data, bytes):
        tmp.write_bytes(data)
    else:
        tmp.write_text(data)
    os.replace(tmp, path)


def write_json(path: Path, obj) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def create(runs_dir: Path, recipe_name: str) -> Path:
    """A new, empty run directory marked `running`."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = runs_dir / f"{recipe_name}-{stamp}"
    n = 1
    while True:
        try:
            path.mkdir()
            break
        except FileExistsError:
            n += 1
            path = runs_dir / f"{recipe_name}-{stamp}-{n}"
    write_json(path / "run.json", {"recipe": recipe_name, "status": "running", "started": utc_now()})
    return path


def update(run: Path, **fields) -> dict:
    info = read_json(run / "run.json")
    info.update(fields)
    write_json(run / "run.json", info)
    return info


def info(run: Path) -> dict:
    try:
        return read_json(run / "run.json")
    except (OSError, ValueError):
        return {"status": "unreadable"}


def is_run(path: Path) -> bool:
    return (path / "run.json").is_file()


def all_runs(runs_dir: Path) -> list[Path]:
    """Runs in `runs_dir`, oldest first."""
    if not runs_dir.is_dir():
        return []
    runs = [p for p in runs_dir.iterdir() if p.is_dir() and is_run(p)]
    return sorted(runs, key=lambda p: (info(p).get("started", ""), p.name))


def find_run(ref: str, runs_dir: Path, *, complete: bool = True) -> Path:
    """A run from a path, a run name in `runs_dir`, or a recipe name (its latest run)."""
    candidates = [Path(ref), runs_dir / ref]
    for path in candidates:
        if path.is_dir() and is_run(path):
            return _checked(path, complete)
    latest = [p for p in all_runs(runs_dir) if info(p).get("recipe") == ref]
    if complete:
        latest = [p for p in latest if info(p).get("status") == COMPLETE] or latest
    if latest:
        return _checked(latest[-1], complete)
    names = [p.name for p in all_runs(runs_dir)]
    raise RecipeError(
        f"no run '{ref}'.{did_you_mean(ref, names)}",
        where=f"looked for a run folder '{ref}', '{runs_dir / ref}' and runs of recipe '{ref}'",
        fix="`dlrecipes runs` lists the runs (use --runs-dir if they are elsewhere)",
    )


def _checked(path: Path, complete: bool) -> Path:
    status = info(path).get("status")
    if complete and status != COMPLETE:
        raise RecipeError(
            f"run '{path.name}' is incomplete (status: {status}): its training did not finish.",
            where=str(path),
            fix="train again, or pick a complete run from `dlrecipes runs`",
        )
    return path


def load_run_recipe(run: Path):
    from dlrecipes.loader import validate

    path = run / "recipe.yaml"
    return validate(yaml.safe_load(path.read_text()), source=str(path))


def load_trained(run: Path):
    """(recipe, data signature, uncompiled Keras model) of a complete run."""
    import keras

    import dlrecipes.adversarial  # noqa: F401  (registers the GAN model for load_model)
    import dlrecipes.layers  # noqa: F401  (registers our own layers for load_model)
    from dlrecipes.data import Signature

    signature = Signature(**read_json(run / "signature.json"))
    model = keras.models.load_model(run / "model.keras", compile=False)
    return load_run_recipe(run), signature, model
