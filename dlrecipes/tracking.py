"""Experiment tracking beside the run directory: MLflow, an optional extra.

`dlrecipes train --track mlflow` (or `DLRECIPES_TRACKING=mlflow`) records each run in MLflow
as well: the resolved recipe flattened to dotted keys (`train.optimizer.learning_rate`) as
parameters, every epoch's row of history.csv as metrics at step = the epoch, and, once the
run is complete, its test metrics (`test_accuracy`) and the run directory as artifacts.
The store is MLflow's own choice: `MLFLOW_TRACKING_URI`, else MLflow's default (3.x:
`sqlite:///mlflow.db` in the current folder, artifacts under `./mlruns`); the experiment is
`MLFLOW_EXPERIMENT_NAME`, else the recipe's name. A resumed run continues its MLflow run
when that is in the same store (run.json's `mlflow` names it).

The run directory stays the record. MLflow is imported only when asked for, and a missing
package or an unusable store is one message before anything is read or written (within
seconds: the probe does not retry); a store that fails during training costs a note and the
rest of the tracking, never the training. MLflow's own INFO lines ("Creating initial MLflow
database tables...") stay off the screen unless `dlrecipes --verbose` or $MLFLOW_LOGGING_LEVEL.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
from pathlib import Path

import keras
from rich.markup import escape

from dlrecipes import runs, tf_quiet
from dlrecipes.errors import RecipeError

ENV = "DLRECIPES_TRACKING"
TRACKERS = ("mlflow",)
INSTALL = "pip install 'dlrecipes[mlflow]'"
BATCH = 100  # MLflow takes at most 100 parameters per call (MAX_PARAMS_TAGS_PER_BATCH)
# The store probe's HTTP settings, MLflow's own variables (read per request, MLflow 3.x): its
# defaults, 7 retries with backoff, take over 4 minutes to say that nothing listens. A user's
# own setting of one of them is kept.
PROBE = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
         "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}


def requested(track: str | None) -> str | None:
    """The tracker `--track` (else $DLRECIPES_TRACKING) asks for, checked before anything is
    written: a known name, importable, its store usable. None: no tracking."""
    where = "--track" if track is not None else f"${ENV}"
    name = (track if track is not None else os.environ.get(ENV, "")).strip().lower()
    if name in ("", "none"):
        return None
    if name not in TRACKERS:
        raise RecipeError(f"unknown tracker '{name}'.", where=where,
                          fix="--track mlflow (the one tracker there is), or leave it out")
    try:
        import mlflow
    except Exception as err:  # an ImportError, or a broken install failing on its way in
        raise RecipeError(f"--track mlflow needs MLflow, which cannot be imported ({type(err).__name__}: {err}).",
                          where=where, fix=f"{INSTALL}, or train without tracking") from None
    uri = mlflow.get_tracking_uri()
    try:
        with quiet(), _probing():
            mlflow.tracking.MlflowClient(uri).search_experiments(max_results=1)
    except Exception as err:
        raise RecipeError(f"the MLflow tracking store {uri} cannot be used: {type(err).__name__}: {err}",
                          where="$MLFLOW_TRACKING_URI",
                          fix="point MLFLOW_TRACKING_URI at a usable store (e.g. sqlite:///mlflow.db), "
                          "or train without tracking") from None
    return name


@contextlib.contextmanager
def quiet():
    """MLflow's loggers at WARNING for the duration (it logs its database's creation and
    migrations at INFO), unless `dlrecipes --verbose` or the user set $MLFLOW_LOGGING_LEVEL."""
    logger = logging.getLogger("mlflow")
    if tf_quiet.verbose() or "MLFLOW_LOGGING_LEVEL" in os.environ or logger.level >= logging.WARNING:
        yield
        return
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def _probing():
    """PROBE's settings in the environment for the duration; the environment as it was after."""
    added = [name for name in PROBE if name not in os.environ]
    os.environ.update({name: PROBE[name] for name in added})
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def tracker(name: str | None, run: Path, recipe, history, console):
    """The callback that tracks `run` with tracker `name` (from `requested`); None for none."""
    return MlflowRun(run, recipe, history, console) if name == "mlflow" else None


def end(callback, status: str) -> None:
    """End a tracked run that stopped before completing: `KILLED` (interrupted) or `FAILED`."""
    if callback is not None:
        callback.end(status)


def flatten(value, prefix: str = "") -> dict[str, str]:
    """A recipe (`model_dump(mode="json")`) as {"dotted.key": "value"}: sections and lists of
    sections (`train.augment.0.name`) opened up, other lists and numbers as JSON."""
    if isinstance(value, dict) and value:
        flat = {}
        for key, item in value.items():
            flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(value, list) and any(isinstance(item, dict) for item in value):
        flat = {}
        for index, item in enumerate(value):
            flat.update(flatten(item, f"{prefix}.{index}"))
        return flat
    # MLflow's keys take letters, digits, _ - . / and spaces; a user's dict key may not.
    key = re.sub(r"[^\w\-./ ]", "_", prefix)
    return {key: value if isinstance(value, str) else json.dumps(value)}


class MlflowRun(keras.callbacks.Callback):
    """One MLflow run per run directory: parameters when training begins, the history's new
    row after every epoch (after the checkpoint, as TensorBoard's events), and `finish`
    once the run is complete. Comes after RunHistory in the callback list."""

    def __init__(self, run: Path, recipe, history, console):
        super().__init__()
        self.run, self.recipe, self.history, self.console = run, recipe, history, console
        self.client = self.run_id = None
        self.broken = False  # the store failed once: no more tracking for this run

    def _guard(self, action) -> None:
        if self.broken:
            return
        try:
            with quiet():
                action()
        except Exception as err:
            self.broken = True
            self.console.print(f"[yellow]note:[/] MLflow tracking stopped ({escape(f'{type(err).__name__}: {err}')}); "
                               f"the run directory {escape(str(self.run))} has everything", soft_wrap=True, highlight=False)

    def on_train_begin(self, logs=None):
        if self.run_id is None:  # once: fine-tuning's second phase is a second fit
            self._guard(self._start)

    def _start(self) -> None:
        import mlflow
        from mlflow.entities import Param

        uri = mlflow.get_tracking_uri()
        self.client = mlflow.tracking.MlflowClient(uri)
        recorded = runs.info(self.run).get("mlflow") or {}
        if recorded.get("tracking_uri") == uri and self._exists(recorded.get("run_id")):
            self.run_id = recorded["run_id"]  # a resumed run: its parameters are there
            self.client.update_run(self.run_id, status="RUNNING")
            return
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or self.recipe.name
        experiment = self.client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(name)
        created = self.client.create_run(experiment_id, run_name=self.run.name, tags={
            "dlrecipes.run": str(self.run.resolve()), "dlrecipes.recipe": self.recipe.name,
            "dlrecipes.task": self.recipe.task.type,
        })
        self.run_id = created.info.run_id
        params = [Param(key, value) for key, value in flatten(self.recipe.model_dump(mode="json")).items()]
        for start in range(0, len(params), BATCH):
            self.client.log_batch(self.run_id, params=params[start:start + BATCH])
        runs.update(self.run, mlflow={"run_id": self.run_id, "experiment_id": experiment_id, "tracking_uri": uri})

    def _exists(self, run_id: str | None) -> bool:
        if not run_id:
            return False
        try:
            self.client.get_run(run_id)
        except Exception:  # not in this store (deleted, or another store then)
            return False
        return True

    def _log(self, values: dict, step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, float(value), now, step) for key, value in values.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def on_epoch_end(self, epoch, logs=None):
        row = self.history.rows[-1]
        self._guard(lambda: self._log({k: v for k, v in row.items() if k != "epoch"}, row["epoch"]))

    def finish(self, run: Path) -> None:
        """The complete run: test metrics, the run directory as artifacts (not its lock), FINISHED."""
        def finish():
            metrics = runs.read_run_json(run, "metrics.json")
            self._log({f"test_{key}": value for key, value in metrics["test"].items()}, metrics["epochs"])
            for entry in sorted(run.iterdir()):
                if entry.name == "lock" or entry.name.startswith("."):
                    continue
                if entry.is_dir():
                    self.client.log_artifacts(self.run_id, str(entry), artifact_path=entry.name)
                else:
                    self.client.log_artifact(self.run_id, str(entry))
            self.client.set_terminated(self.run_id, "FINISHED")
            experiment = self.client.get_experiment(self.client.get_run(self.run_id).info.experiment_id).name
            self.console.print(f"mlflow: run {self.run_id} in experiment '{experiment}' at {self.client.tracking_uri}",
                               soft_wrap=True, highlight=False, markup=False)

        if self.run_id is not None:
            self._guard(finish)

    def end(self, status: str) -> None:
        if self.run_id is not None:
            self._guard(lambda: self.client.set_terminated(self.run_id, status))
