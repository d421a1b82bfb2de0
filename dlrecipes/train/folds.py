"""k-fold cross-validation: one run per fold of a recipe's training data, then their spread.

`cross_validate` cuts the training data (every example but the test split's) into K folds
(`data.split.folds`; `data.folds` where a source keeps its split keys in `data` itself, as
idx does) and trains K runs, the usual way (`fit.train`): run i validates on fold i, trains
on the other K-1, and is tested on the recipe's test split, which folds leave as it is.
Each run's recipe.yaml names its fold (`fold: i`), so `evaluate`, `export` and
`train --resume` treat it as any run and `dlrecipes train RUN/recipe.yaml` trains that fold
again; its run.json says which cross-validation it belongs to:

    "folds": {"k": K, "fold": i, "group": "cv-RECIPE-TIMESTAMP"}

The summary, RUNS/cv-RECIPE-TIMESTAMP.json (the group's name), holds each fold's
validation and test metrics, and the mean and the standard deviation (n - 1 in the
denominator: K folds are a sample) of each.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console

from dlrecipes import consoles, runs
from dlrecipes.tf_quiet import quiet_retracing


@dataclasses.dataclass(frozen=True)
class FoldResult:
    """One fold's run and its final metrics (from its metrics.json)."""

    fold: int  # 1..k
    run: Path
    validation: dict[str, float]
    test: dict[str, float]
    epochs: int


@dataclasses.dataclass(frozen=True)
class CrossValidation:
    """The K runs of a cross-validation and the spread of their metrics."""

    recipe: str
    k: int
    group: str  # the id every fold's run.json carries
    folds: list[FoldResult]
    summary: Path  # the JSON file written

    @property
    def mean(self) -> dict[str, float]:
        """Each validation metric's mean over the folds (what a search would optimise)."""
        return {name: value["mean"] for name, value in spread(self.folds, "validation").items()}

    @property
    def std(self) -> dict[str, float]:
        """Each validation metric's standard deviation over the folds."""
        return {name: value["std"] for name, value in spread(self.folds, "validation").items()}

    def as_dict(self) -> dict:
        return {
            "group": self.group, "recipe": self.recipe, "k": self.k,
            "folds": [{"fold": r.fold, "run": str(r.run), "epochs": r.epochs, "validation": r.validation,
                       "test": r.test} for r in self.folds],
            "validation": spread(self.folds, "validation"),
            "test": spread(self.folds, "test"),
        }


def spread(results: list[FoldResult], split: str) -> dict[str, dict[str, float]]:
    """metric -> {"mean", "std"} over the folds' `split` metrics (std with n - 1)."""
    values: dict[str, list[float]] = {}
    for result in results:
        for name, value in getattr(result, split).items():
            values.setdefault(name, []).append(float(value))
    found = {}
    for name, column in values.items():
        mean = math.fsum(column) / len(column)
        variance = math.fsum((v - mean) ** 2 for v in column) / (len(column) - 1) if len(column) > 1 else 0.0
        found[name] = {"mean": mean, "std": math.sqrt(variance)}
    return found


def with_folds(recipe, folds: int, fold: int | None = None):
    """The recipe with `folds` (and `fold`, the one to train; None: all) set where its source
    declares them, validated by the schema as any recipe."""
    from dlrecipes.data.splits import folds_path
    from dlrecipes.loader import validate

    raw = recipe.model_dump(mode="json")
    section = raw
    for key in folds_path(recipe.data)[:-1]:
        section = section[key]
    section["folds"] = folds
    if "fold" in section:  # not in a source that declares folds only to refuse them
        section["fold"] = fold
    return validate(raw, source=f"recipe '{recipe.name}' with {folds} folds")


def cross_validate(recipe, folds: int, runs_dir: Path, console: Console | None = None,
                   extra_callbacks: list | None = None, track: str | None = None,
                   record: dict | None = None) -> CrossValidation | None:
    """Train `recipe` once per fold of `folds` into runs under `runs_dir`, write the summary
    and return it (None on a multi-worker non-chief, which leaves no runs).

    A recipe that cannot be cross-validated (its source or its task) is refused before any
    run exists. A fold that stops (Ctrl-C, a failure) ends the cross-validation: its run is
    marked as `train` marks it, and the message says which folds finished. `extra_callbacks`
    are given to every fold's training (a search's progress); `track` is train's; `record`
    goes into every fold's run.json (a search's trial).
    """
    import keras

    from dlrecipes import checks
    from dlrecipes.train.fit import train

    console = console or consoles.make(stderr=True)
    recipe = with_folds(recipe, folds)
    checks.check(recipe)
    group = _group(runs_dir, recipe.name)
    done: list[FoldResult] = []
    tag = {"k": folds, "group": group}
    more = {"callbacks": tuple(extra_callbacks)} if extra_callbacks else {}
    if track is not None:
        more["track"] = track
    for fold in range(1, folds + 1):
        try:
            console.print(f"[bold]cross-validation {group}[/]: fold {fold} of {folds}", highlight=False)
            keras.backend.clear_session()  # the last fold's models are not kept in memory
            with quiet_retracing():
                run = train(with_folds(recipe, folds, fold), runs_dir=runs_dir, console=console,
                            record={**(record or {}), "folds": {**tag, "fold": fold}}, **more)
            if run is None:  # a multi-worker non-chief: the chief keeps the runs
                continue
            done.append(_result(fold, run))
        except BaseException:
            console.print(_stopped(fold, folds, done), highlight=False, soft_wrap=True)
            raise
    if len(done) < folds:
        return None
    result = CrossValidation(recipe.name, folds, group, done, runs_dir / f"{group}.json")
    runs.write_json(result.summary, result.as_dict())
    return result


def _result(fold: int, run: Path) -> FoldResult:
    metrics = runs.read_run_json(run, "metrics.json")
    return FoldResult(fold, run, metrics.get("validation") or {}, metrics["test"], metrics["epochs"])


def _group(runs_dir: Path, name: str) -> str:
    """cv-RECIPE-TIMESTAMP, with -2, -3, ... when a summary of that name exists."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    group, n = f"cv-{name}-{stamp}", 1
    while (runs_dir / f"{group}.json").exists():
        n += 1
        group = f"cv-{name}-{stamp}-{n}"
    return group


def _stopped(fold: int, folds: int, done: list[FoldResult]) -> str:
    """What a cross-validation stopped in fold `fold` leaves: the folds that finished."""
    finished = ", ".join(f"{r.fold} ({r.run})" for r in done) or "none"
    return (f"cross-validation stopped in fold {fold} of {folds}; folds finished: {finished}. "
            "No summary is written: run the cross-validation again for one")
