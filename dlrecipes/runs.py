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

import enum
import json
import os
from datetime import datetime, timezone
from pathlib import Path

from dlrecipes.errors import RecipeError, did_you_mean


class RunStatus(str, enum.Enum):
    """A run's `status` in run.json. A str, so it is written to and compared with JSON as is."""

    RUNNING = "running"
    COMPLETE = "complete"
    INTERRUPTED = "interrupted"
    FAILED = "failed"

    def __str__(self) -> str:  # "complete" in messages, not "RunStatus.COMPLETE"
        return self.value


COMPLETE = RunStatus.COMPLETE  # the name older code uses
UNREADABLE = "unreadable"  # shown for a run whose run.json cannot be read; never written


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
        tmp.write_text(data, encoding="utf-8")  # what every reader here decodes, whatever the locale
    os.replace(tmp, path)


def write_json(path: Path, obj) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> dict:
    """The JSON object in `path`. ValueError when it is not one (invalid, truncated, not
    UTF-8, a list), OSError when it cannot be read: callers that list runs catch both."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} holds a JSON {type(data).__name__}, not an object")
    return data


def try_read_json(path: Path) -> tuple[dict, str | None]:
    """(the JSON object in `path`, None), or ({}, why it cannot be read, in one short line)."""
    try:
        return read_json(path), None
    except OSError as error:
        return {}, f"{path.name}: {error.strerror or type(error).__name__}"
    except UnicodeDecodeError:
        return {}, f"{path.name}: not UTF-8 text"
    except json.JSONDecodeError as error:
        return {}, f"{path.name}: not valid JSON ({error.msg}, line {error.lineno})"
    except ValueError as error:
        return {}, str(error)


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
    write_json(path / "run.json", {"recipe": recipe_name, "status": RunStatus.RUNNING, "started": utc_now()})
    return path


def update(run: Path, **fields) -> dict:
    info = read_json(run / "run.json")
    info.update(fields)
    write_json(run / "run.json", info)
    return info


def info(run: Path) -> dict:
    """run.json; {"status": "unreadable", "problem": why} when it cannot be read."""
    meta, problem = try_read_json(run / "run.json")
    return meta if problem is None else {"status": UNREADABLE, "problem": problem}


def summary(run: Path) -> dict:
    """What `dlrecipes runs` shows of a run. A corrupt run.json or metrics.json makes this
    run "unreadable", with `error` saying which file and why, and never fails the listing."""
    meta = info(run)
    problem = meta.get("problem") if meta.get("status") == UNREADABLE else None
    test: dict = {}
    metrics = run / "metrics.json"
    if problem is None and metrics.is_file():
        content, problem = try_read_json(metrics)
        test = content.get("test", {})
        if not isinstance(test, dict):
            test, problem = {}, "metrics.json: 'test' is not a mapping of metrics"
    status = meta.get("status")
    if problem is not None:
        shown = UNREADABLE
    else:
        shown = str(status) if status == RunStatus.COMPLETE else f"incomplete ({status})"
    row = {
        "run": run.name,
        "recipe": meta.get("recipe"),
        "status": shown,
        "started": meta.get("started"),
        "epochs": meta.get("epochs_done"),
        "test": test,
    }
    if problem is not None:
        row["error"] = problem
    return row


def is_run(path: Path) -> bool:
    """Whether `path` is a run folder; False, not an exception, for a name too long or a loop."""
    try:
        return path.is_dir() and (path / "run.json").is_file()
    except (OSError, ValueError):
        return False


def all_runs(runs_dir: Path) -> list[Path]:
    """Runs in `runs_dir`, oldest first."""
    try:
        if not runs_dir.is_dir():
            return []
        runs = [p for p in runs_dir.iterdir() if is_run(p)]
    except OSError as error:
        raise RecipeError(
            f"cannot list the runs folder: {error.strerror or type(error).__name__}.",
            where=str(runs_dir),
            fix="check its permissions, or point --runs-dir elsewhere",
        ) from None
    # str(): a hand-edited run.json may hold a number there, which would not sort with text.
    return sorted(runs, key=lambda p: (str(info(p).get("started", "")), p.name))


def find_run(ref: str, runs_dir: Path, *, complete: bool = True) -> Path:
    """A run from a path, a run name in `runs_dir`, or a recipe name (its latest run)."""
    candidates = [Path(ref), runs_dir / ref]
    for path in candidates:
        if is_run(path):
            return _checked(path, complete)
    latest = [p for p in all_runs(runs_dir) if info(p).get("recipe") == ref]
    if complete:
        latest = [p for p in latest if info(p).get("status") == RunStatus.COMPLETE] or latest
    if latest:
        return _checked(latest[-1], complete)
    names = [p.name for p in all_runs(runs_dir)]
    shown = ref if len(ref) <= 80 else ref[:79] + "…"
    raise RecipeError(
        f"no run '{shown}'.{did_you_mean(ref, names)}",
        where=f"looked for a run folder '{shown}', '{runs_dir / shown}' and runs of recipe '{shown}'",
        fix="`dlrecipes runs` lists the runs (use --runs-dir if they are elsewhere)",
    )


def _checked(path: Path, complete: bool) -> Path:
    meta = info(path)
    status = meta.get("status")
    if status == UNREADABLE:
        raise RecipeError(
            f"run '{path.name}' cannot be read: {meta.get('problem')}.",
            where=str(path / "run.json"),
            fix="pick another run from `dlrecipes runs`, or train again",
        )
    if complete and status != RunStatus.COMPLETE:
        raise RecipeError(
            f"run '{path.name}' is incomplete (status: {status}): its training did not finish.",
            where=str(path),
            fix="train again, or pick a complete run from `dlrecipes runs`",
        )
    return path


def write_recipe(run: Path, recipe) -> None:
    """RUN/recipe.yaml: the resolved recipe, written so that `load_run_recipe` reads it back
    exactly (a name such as '1e5' is quoted, or the loader would read a number)."""
    from dlrecipes.yamlio import dump_yaml

    write_atomic(run / "recipe.yaml", dump_yaml(recipe.model_dump(mode="json")))


def load_run_recipe(run: Path):
    """The run's resolved recipe, read as strictly as any recipe (a run folder is user input)."""
    from dlrecipes.loader import validate
    from dlrecipes.yamlio import read_yaml

    path = run / "recipe.yaml"
    raw, node = read_yaml(path)
    return validate(raw, source=str(path), node=node)


def load_trained(run: Path):
    """(recipe, data signature, uncompiled Keras model) of a complete run."""
    import keras

    import dlrecipes.adversarial  # noqa: F401  (registers the GAN model for load_model)
    import dlrecipes.layers  # noqa: F401  (registers our own layers for load_model)
    from dlrecipes.data import Signature

    signature = Signature(**read_json(run / "signature.json"))
    model = keras.models.load_model(run / "model.keras", compile=False)
    return load_run_recipe(run), signature, model
