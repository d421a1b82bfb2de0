"""Train a recipe: data -> model -> fit -> run directory; and resume an interrupted run.

Everything that can be wrong with the input (the dataset, its splits, the head) is checked
before the run directory exists, so bad input never leaves a run behind. Once training has
started, a checkpoint is written after every epoch; a failure or Ctrl-C marks the run
`failed` / `interrupted`, never `complete`, and `resume` continues it from its checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

from rich.console import Console

from dlrecipes import checks, consoles, runs
from dlrecipes.errors import RecipeError
from dlrecipes.train.inputs import (
    adapt_preprocessing,
    balanced_class_weights,
    label_encoding,
    prepare_data,
    with_targets_for,
)


def compile_model(model, recipe, steps_per_epoch: int | None, runtime=None, constant_rate: float | None = None) -> None:
    """Compile with the recipe's optimizer and schedule and the task's loss and metrics.

    A model with auxiliary outputs gets the task's loss on each, weighted as the builder
    says, and the metrics on the main output only. `constant_rate` replaces the schedule
    (fine-tuning's second phase). `runtime` (runtime.Runtime) gives the replicas, which
    scale the rate, and the XLA and batches-per-call settings it can run.
    """
    from dlrecipes.models.common import MAIN_OUTPUT, auxiliary_weights
    from dlrecipes.train.optimizers import build_optimizer
    from dlrecipes.train.schedules import build_schedule

    train = recipe.train
    peak = train.optimizer.learning_rate if constant_rate is None else constant_rate
    if recipe.runtime.scale_learning_rate and runtime is not None:
        peak *= runtime.replicas  # linear scaling rule: the global batch grew by this factor
    learning_rate = peak
    if constant_rate is None:
        learning_rate = build_schedule(train.schedule, peak, steps_per_epoch or 1, train.epochs)
    task = recipe.task.problem
    loss = task.loss_object(label_encoding(recipe), train.label_smoothing)
    metrics = task.metric_objects(label_encoding(recipe))
    loss_weights = None
    auxiliary = auxiliary_weights(model)
    if auxiliary:
        loss_weights = {MAIN_OUTPUT: 1.0, **auxiliary}
        loss = {key: loss for key in loss_weights}
        metrics = {MAIN_OUTPUT: metrics}
    model.compile(
        optimizer=build_optimizer(train.optimizer, learning_rate),
        loss=loss,
        loss_weights=loss_weights,
        metrics=metrics,
        jit_compile=recipe.runtime.jit_compile if runtime is None else runtime.jit_compile,
        # Exactly this many batches per call: each epoch is a finite dataset whose last call
        # runs what is left (data.pipeline.epoch_stream), so no call crosses an epoch's end.
        steps_per_execution=recipe.runtime.steps_per_execution if runtime is None else runtime.steps_per_execution,
    )


def environment() -> dict:
    import tensorflow as tf

    versions = {"python": platform.python_version()}
    for package in ("dlrecipes", "tensorflow", "keras", "tensorflow-datasets", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    devices = [f"{d.device_type}:{d.name}" for d in tf.config.list_physical_devices()]
    return {"versions": versions, "platform": platform.platform(), "devices": devices, "argv": sys.argv}


@dataclasses.dataclass
class Session:
    """Everything a training needs, built and checked before anything is written."""

    recipe: object
    runtime: object
    data: object  # inputs.Prepared
    model: object
    callbacks: list  # the schedule's and early stopping's
    record: dict  # what run.json records about the set-up
    class_weight: dict | None = None  # class id -> loss weight (train.class_weight)
    tracking: str | None = None  # the experiment tracker asked for (tracking.requested)
    tracker: object = None  # its callback while training, ended by fit's handlers

    @classmethod
    def build(cls, recipe, runs_dir: Path, *, transfer_weights: bool = True) -> "Session":
        import keras

        from dlrecipes.models import build_model
        from dlrecipes.models.common import auxiliary_weights
        from dlrecipes.train import runtime as runtime_lib
        from dlrecipes.train.initializers import apply_initializers
        from dlrecipes.train.regularizers import apply_regularizers

        runtime = runtime_lib.setup(recipe.runtime)
        keras.utils.set_random_seed(recipe.train.seed)
        data = prepare_data(recipe, replicas=runtime.replicas)
        if data.steps_per_epoch is None:
            raise RecipeError("the training split's size is unknown, so epochs cannot be counted.", where="data")
        # The same checks `validate` ran, now on the signature read from the examples (the
        # metadata's may have been missing: data downloaded or supplied since).
        checks.raise_problems(recipe, checks.signature_problems(recipe, data.signature))
        with runtime.strategy.scope():
            model = build_model(recipe, data.signature)
            adapt_preprocessing(model, data.train_inputs)
            apply_initializers(model, recipe.train.init, recipe.train.seed)
            apply_regularizers(model, recipe.train.regularizer)
            transferred = start_from(model, recipe, runs_dir, copy=transfer_weights)
            compile_model(model, recipe, data.steps_per_epoch, runtime)
        callbacks = training_callbacks(recipe, auxiliary=bool(auxiliary_weights(model)))
        class_weight = None
        if recipe.train.class_weight == "balanced":
            class_weight = balanced_class_weights(data.train_labels)
        record = {
            "seed": recipe.train.seed, "epochs": recipe.train.epochs,
            **({"class_weight": {str(k): round(v, 4) for k, v in class_weight.items()}} if class_weight else {}),
            **({"skipped_files": data.source.skipped} if getattr(data.source, "skipped", None) else {}),
            **({"data_notes": data.notes} if data.notes else {}),
            **parameter_counts(model),
            "runtime": {**runtime.record(), "jit_compile": model.jit_compile,
                        "steps_per_execution": model.steps_per_execution,
                        "global_batch_size": data.batch_size},
            **transferred,
        }
        return cls(recipe, runtime, data, model, callbacks, record, class_weight)

    def phases(self) -> list[tuple[int, int, float | None]]:
        """(first epoch, end epoch, constant rate or None) of each training phase."""
        train = self.recipe.train
        phases = [(0, train.epochs, None)]
        if train.fine_tune:
            phases.append((train.epochs, train.epochs + train.fine_tune.epochs, train.fine_tune.learning_rate))
        return phases

    def _enter(self, index: int) -> None:
        """Switch to phase `index`'s settings; fine-tuning unfreezes and recompiles."""
        constant_rate = self.phases()[index][2]
        if constant_rate is None:
            return
        from dlrecipes.train.transfer import unfreeze

        # Compiling again is what makes the new trainable flags take effect.
        unfreeze(self.model)
        with self.runtime.strategy.scope():
            compile_model(self.model, self.recipe, self.data.steps_per_epoch, self.runtime,
                          constant_rate=constant_rate)

    def fit(self, run: Path, console: Console, lock, resumed: dict | None = None, announce: tuple = ()) -> Path:
        """Train from the start, or from a checkpoint's state, then save the results.

        `lock` is this process's hold on the run (runlock.py), released when this ends.
        Everything from the first line printed (`announce`) on is inside the handlers, so
        a Ctrl-C at any moment after the run exists marks it interrupted.
        """
        from dlrecipes import interrupts, tracking
        from dlrecipes.train import checkpoint

        # A multi-worker non-chief trains a copy it deletes: what would tell how to
        # continue that copy is not for the user, who continues the chief's run.
        notices = console if self.runtime.chief else Console(quiet=True)
        try:
            interrupts.defer(False)  # a signal since the run was created is raised here, handled below
            interrupts.check()
            for line in announce:
                console.print(line)
            self._train(run, console, resumed)
        except KeyboardInterrupt as interrupt:
            console = notices
            stopped(run, runs.RunStatus.INTERRUPTED, console)
            tracking.end(self.tracker, "KILLED")
            done = checkpoint.epochs_done(run)
            if done is not None:
                console.print(
                    f"interrupted: run {run} keeps its checkpoint after epoch {done}; "
                    f"continue with: dlrecipes train --resume {run}",
                    soft_wrap=True,  # one line, so the command can be copied whole
                    highlight=False,
                )
            else:
                console.print(
                    f"interrupted before the first epoch ended: run {run} marked interrupted",
                    soft_wrap=True,
                    highlight=False,
                )
            # Said once: the CLI prints its bare "interrupted" only where nothing was said.
            interrupt.reported = not console.quiet
            raise
        except BaseException as err:
            tracking.end(self.tracker, "FAILED")
            failure(run, err, notices)
        finally:
            lock.release()
        return run

    def _train(self, run: Path, console: Console, resumed: dict | None) -> None:
        from dlrecipes import interrupts, tracking
        from dlrecipes.models.common import auxiliary_weights, inference_model
        from dlrecipes.train import checkpoint
        from dlrecipes.train.callbacks import (
            Checkpoint, RichProgress, RunHistory, StopOnNonFinite, StopOnSignal, StreamEpochs,
        )
        from dlrecipes.train.tensorboard import TensorBoardLog

        recipe, data, model, runtime = self.recipe, self.data, self.model, self.runtime
        first = resumed["epochs_done"] if resumed else 0
        previous_seconds = resumed["train_seconds"] if resumed else 0.0
        total = self.phases()[-1][1]
        history = RunHistory(run, data.train_examples, rows=resumed["history"] if resumed else [])
        started = time.perf_counter()
        saver = Checkpoint(run, history, lambda: previous_seconds + time.perf_counter() - started)
        # The two stops come first: a NaN step or a swallowed Ctrl-C must end the epoch
        # before the history and the checkpoint record it.
        callbacks = [StopOnSignal(), StopOnNonFinite(recipe.train.optimizer.learning_rate), *self.callbacks,
                     RichProgress(total, data.steps_per_epoch, console), history, saver]
        # After the checkpoint: an epoch is logged once it can be resumed from, so a resumed
        # run never logs an epoch twice. Only the chief's run is tracked.
        callbacks.append(TensorBoardLog(run, history, histograms=recipe.train.tensorboard.histograms))
        self.tracker = tracking.tracker(self.tracking if runtime.chief else None, run, recipe, history, console)
        if self.tracker is not None:
            callbacks.append(self.tracker)
        if recipe.train.snapshots:
            from dlrecipes.train.callbacks import Snapshots

            callbacks.append(Snapshots(run, recipe.train.schedule.cycle_ends(recipe.train.epochs)))
        validation = data.datasets.get("validation")
        if validation is not None:
            validation = runtime.input(with_targets_for(model, validation))
        phases = self.phases()
        entered = 0  # the phase whose settings the model is compiled with
        watched_from = first + 1
        if resumed:
            # Restore in the settings of the phase the checkpoint was taken in (the
            # phase of its last epoch), exactly as the uninterrupted run had them.
            entered = checkpoint_phase(phases, first)
            self._enter(entered)
            with runtime.strategy.scope():  # the optimizer's variables are built here
                checkpoint.restore(run, model, resumed)
        for index, (begin, end, _) in enumerate(phases):
            if first >= end:
                continue
            if index > entered:
                self._enter(index)
                entered = index
            start = max(begin, first)
            watched_from = start + 1  # where early stopping's count begins: each fit starts it afresh
            stream = data.train_stream(start)
            model.fit(
                runtime.input(with_targets_for(model, stream.dataset)),
                validation_data=validation,
                initial_epoch=start,
                epochs=end,
                class_weight=self.class_weight,
                shuffle=False,  # the stream is shuffled, epoch by epoch
                verbose=0,
                callbacks=[StreamEpochs(stream), *callbacks],
            )
            interrupts.check()
            if model.stop_training:  # early stopping ends the training, fine-tuning included
                if index + 1 < len(phases):
                    console.print("[yellow]note:[/] early stopping ended training before fine-tuning")
                break
        train_seconds = previous_seconds + time.perf_counter() - started
        stop = self._early_stopping(run, console, watched_from, history.rows[-1]["epoch"])
        if auxiliary_weights(model):
            with self.runtime.strategy.scope():
                model = inference_model(model)
                compile_model(model, recipe, data.steps_per_epoch, runtime)
                # Built, so the saved optimizer matches the one load_model recreates.
                model.optimizer.build(model.trainable_variables)
        test = model.evaluate(runtime.input(data.datasets["test"]), verbose=0, return_dict=True)
        save_results(run, recipe, model, history.rows, test, early_stopping=stop)
        interrupts.check()  # a Ctrl-C swallowed while saving still counts: not complete
        sha256 = {**runs.info(run).get("sha256", {}), "model.keras": runs.sha256(run / "model.keras")}
        runs.update(run, status=runs.RunStatus.COMPLETE, finished=runs.utc_now(),
                    train_seconds=round(train_seconds, 2), sha256=sha256)
        checkpoint.remove(run)
        runs.remove_temporary_files(run)
        if self.tracker is not None:
            self.tracker.finish(run)

    def _early_stopping(self, run: Path, console: Console, watched_from: int, last_epoch: int) -> dict | None:
        """Record in run.json what early stopping did, and say it when it stopped the
        training or restored another epoch's weights; None without early stopping."""
        from dlrecipes.train import early_stopping

        callback = early_stopping.find(self.callbacks)
        if callback is None:
            return None
        if watched_from > last_epoch:
            # Resumed after the last epoch (the process that trained it was stopped while
            # saving): the weights are the checkpoint's, the last epoch's, whatever the
            # earlier process had restored.
            earlier = runs.info(run).get("early_stopping")
            stop = {**earlier, "restored": False} if isinstance(earlier, dict) else None
        else:
            stop = early_stopping.record(callback, self.recipe.train.early_stopping, watched_from, last_epoch,
                                         planned_last=self.phases()[-1][1])
        if stop is None:
            return None
        runs.update(run, early_stopping=stop)
        line = early_stopping.describe(stop)
        if line:
            console.print(line, highlight=False, soft_wrap=True)
        return stop


def parameter_counts(model) -> dict:
    """What run.json records of the model's size (`runs compare` reads it, without Keras)."""
    import math

    try:
        total = model.count_params()
    except ValueError:  # a model that is not built has no weights to count
        return {}
    return {"params": int(total), "trainable_params": int(sum(math.prod(w.shape) for w in model.trainable_weights))}


def stopped(run: Path, status, console: Console, error: str | None = None, next_command: str | None = None) -> None:
    """Mark a run that ended before completing, after removing the temporary files of the
    writes it did not finish (which also frees the space a full disk needs for run.json).
    `next_command`: what `runs` suggests instead of resuming or training it again."""
    from dlrecipes.train import checkpoint

    runs.remove_temporary_files(run)
    checkpoint.clean(run)
    fields = {"error": error, "next": next_command}
    try:
        runs.update(run, status=status, finished=runs.utc_now(), **{k: v for k, v in fields.items() if v})
    except OSError as problem:
        console.print(f"[yellow]note:[/] could not mark run {run} {status} ({problem.strerror}); "
                      "`dlrecipes runs` shows it as stopped", soft_wrap=True, highlight=False)


def failure(run: Path, err: BaseException, console: Console):
    """Mark the run failed and raise what the user should see: a full disk and a diverged
    training as one message with what to do; anything else as itself, after saying how
    the run can be continued once its cause is fixed."""
    from dlrecipes.errors import EXIT_FAILURE, is_disk_full
    from dlrecipes.train import checkpoint
    from dlrecipes.train.callbacks import TrainingDiverged
    from dlrecipes.writable import free_space

    if isinstance(err, TrainingDiverged):
        # Resuming would diverge again: the way on is the recipe with a lower rate.
        again = f"{runs.train_again_command(run)} --set train.optimizer.learning_rate={err.lower_rate:.3g}"
        stopped(run, runs.RunStatus.FAILED, console, error=err.what, next_command=again)
        done = checkpoint.epochs_done(run)
        err.where = str(run) + (f" (its last good checkpoint, after epoch {done}, is kept)" if done else "")
        raise err from None
    lost = _lost_worker(err)
    if lost is not None:
        from dlrecipes.train.multiworker import LostWorker

        stopped(run, runs.RunStatus.FAILED, console, error=f"the cluster lost a worker: {lost}")
        done = checkpoint.epochs_done(run)
        raise LostWorker(
            f"the cluster lost a worker: {lost}; every step needs all of them, so training stopped"
            + (f" (the checkpoint after epoch {done} is intact)." if done else "."),
            where=str(run),
            fix=f"restart every worker, each with its own TF_CONFIG, with: {runs.next_command(run)} "
            "(the chief's run folder: the others read it, on a shared filesystem when on other hosts)",
            exit_code=EXIT_FAILURE,
        ) from None
    if is_disk_full(err):
        stopped(run, runs.RunStatus.FAILED, console, error="no space left on device")
        done = checkpoint.epochs_done(run)
        raise RecipeError(
            "no space left on device: the training could not write its files"
            + (f" (its checkpoint after epoch {done} is intact)." if done else "."),
            where=f"{run} ({free_space(run)} free)",
            fix=f"free some space (or move the run to a larger disk), then: {runs.next_command(run)}",
            exit_code=EXIT_FAILURE,
        ) from None
    stopped(run, runs.RunStatus.FAILED, console, error=f"{type(err).__name__}: {err}")
    if isinstance(err, Exception):
        console.print(f"run {run} marked failed; once the cause is fixed: {runs.next_command(run)}",
                      soft_wrap=True, highlight=False)
    raise err


def _lost_worker(err: BaseException) -> str | None:
    """What was lost when `err` says a multi-worker cluster lost a worker (only then is
    TensorFlow's collective module looked at)."""
    if "tensorflow" not in sys.modules:
        return None
    from dlrecipes.train.multiworker import lost_worker

    return lost_worker(err)


def checkpoint_phase(phases: list[tuple], epochs_done: int) -> int:
    """The phase a checkpoint taken after `epochs_done` epochs belongs to: its last epoch's."""
    return next(i for i, (begin, end, _) in enumerate(phases) if epochs_done <= end and (epochs_done > begin or i == 0))


def train(recipe, *, runs_dir: Path, console: Console | None = None, track: str | None = None,
          callbacks: tuple = (), record: dict | None = None) -> Path | None:
    """Train `recipe` into a new run directory under `runs_dir`; returns the run's path
    (None on a multi-worker non-chief, which leaves no run).

    `track`: an experiment tracker to record the run in too (dlrecipes.tracking; else
    $DLRECIPES_TRACKING). `callbacks`: Keras callbacks added after the recipe's own (a
    search's pruning, which may end the training as early stopping does); `record`: more
    fields for run.json (a search's study and trial, a cross-validation's folds). A resume
    uses neither.
    """
    from dlrecipes import interrupts, tracking
    from dlrecipes.writable import require_writable_dir

    console = console or consoles.make(stderr=True)
    require_writable_dir(runs_dir, option="--runs-dir", what="runs folder")
    tracked = tracking.requested(track)  # before anything is read or written
    session = Session.build(recipe, runs_dir)
    session.tracking = tracked
    session.callbacks += list(callbacks)
    session.record.update(record or {})
    files = {
        "recipe.yaml": runs.recipe_text(recipe),
        "signature.json": json.dumps(dataclasses.asdict(session.data.signature), indent=2) + "\n",
        "env.json": json.dumps(environment(), indent=2) + "\n",
    }
    notes = [f"[yellow]note:[/] {note}" for note in [*session.runtime.notes, *session.data.notes]]
    if session.record.get("skipped_files"):
        skipped = session.record["skipped_files"]
        notes.append(f"[yellow]note:[/] skipped {len(skipped)} unreadable file(s), e.g. {skipped[0]} (listed in run.json)")
    if not session.runtime.chief:
        def work(scratch: Path) -> Path:
            run, lock = runs.create(scratch, recipe.name, session.record, files)
            cluster = session.runtime.cluster
            return session.fit(run, console, lock, announce=(
                f"[bold]{recipe.name}[/]: {cluster.task} of {cluster.workers} workers, in step with the chief",))

        return _as_worker(session.runtime.cluster.task, console, work)
    interrupts.defer()  # until fit's handlers: a Ctrl-C once the run exists marks it interrupted
    try:
        run, lock = runs.create(runs_dir, recipe.name, session.record, files)
    except BaseException:
        interrupts.defer(False)
        raise
    return session.fit(run, console, lock, announce=(*notes, f"[bold]{recipe.name}[/]: {recipe.description} -> {run}"))


SCRATCH_PREFIX = "dlrecipes-scratch-"


def _as_worker(task: str, console: Console, work) -> None:
    """A multi-worker non-chief's part of a run: `work(folder)` trains in step with the
    chief into a temporary folder and returns the run there, which is deleted at the end,
    so that only the chief's run directory stays (as TensorFlow's multi-worker guide has it).
    The folders of earlier workers that were killed (their process is gone) go too."""
    import os
    import shutil
    import tempfile

    from dlrecipes import runlock
    from dlrecipes.train.multiworker import LostWorker

    for old in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*"):
        pid = old.name.removeprefix(SCRATCH_PREFIX).split("-")[0]
        if pid.isdigit() and runlock.owner_alive({**runlock.this_process(), "pid": int(pid), "process_started": None}) is False:
            shutil.rmtree(old, ignore_errors=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-{task.replace(':', '')}-"))
    try:
        run = work(scratch)
        metrics = runs.read_run_json(run, "metrics.json")
        # The weights' fingerprint: the chief's metrics.json has the same when all agree.
        console.print(f"done: {task}'s part is over; the chief's run directory holds the run (test: "
                      + "  ".join(f"{k} {v:.4f}" for k, v in metrics["test"].items())
                      + f"; weights sha256 {metrics['weights_sha256']})", highlight=False, soft_wrap=True)
    except LostWorker as lost:
        lost.where = f"{task} (the run is the chief's)"
        lost.fix = ("restart every worker, each with its own TF_CONFIG, with the command the chief printed: "
                    "dlrecipes train --resume RUN, RUN being the chief's run folder")
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def resume(run: Path, *, console: Console | None = None, as_worker: str | None = None,
           track: str | None = None) -> Path | None:
    """Continue an interrupted, failed or stopped run from its last checkpoint, in the same
    folder. Refused while another process trains it (its lock is held). Returns the run
    (None on a multi-worker non-chief, which resumes a copy and deletes it; `as_worker`
    is its task, given for that copy). `track` as for `train`."""
    from dlrecipes import interrupts, runlock, tracking
    from dlrecipes.train import checkpoint
    from dlrecipes.writable import require_writable_dir

    console = console or consoles.make(stderr=True)
    tracked = tracking.requested(track)
    task = None if as_worker else _worker_task(run)
    if task is not None:
        return _resume_as_worker(run, task, console)
    require_writable_dir(run, option="the run folder", what="run folder")
    lock = runlock.acquire(run)  # before anything is read or changed: the run is ours now
    try:
        status = runs.info(run).get("status")
        if status == runs.RunStatus.COMPLETE:
            raise RecipeError(f"run '{run.name}' is complete; there is nothing to resume.", where=str(run))
        # Every file the run holds is checked before anything is removed or trained.
        runs.verify_all(run)
        state = checkpoint.read_state(run)
        recipe = runs.load_run_recipe(run)
        # What an earlier process left half-written (it was killed, or its disk filled).
        runs.remove_temporary_files(run)
        checkpoint.clean(run)
        if lock.previous:
            console.print(f"[yellow]note:[/] took over run {run.name} from {runlock.describe(lock.previous)}, "
                          "which is no longer running", highlight=False, soft_wrap=True)
        # The checkpoint holds the weights; init_from's source run is not read again.
        session = Session.build(recipe, run.parent, transfer_weights=False)
        session.tracking = tracked
        interrupts.defer()  # until fit's handlers: a Ctrl-C once the run says 'running' marks it interrupted
        runs.update(run, status=runs.RunStatus.RUNNING, owner=runlock.this_process(), resumed_at=runs.utc_now(),
                    resumed_from_epoch=state["epochs_done"], epochs_done=state["epochs_done"], error=None, next=None)
    except BaseException:
        interrupts.defer(False)
        lock.release()
        raise
    whose = f"{as_worker}, in step with the chief," if as_worker else run
    return session.fit(run, console, lock, resumed=state,
                       announce=(f"[bold]{recipe.name}[/]: resuming {whose} after epoch {state['epochs_done']}",))


def _worker_task(run: Path) -> str | None:
    """This process's task when it resumes `run` as a multi-worker non-chief (by its
    TF_CONFIG), else None."""
    from dlrecipes.train.runtime import multi_worker_cluster

    cluster = multi_worker_cluster(runs.load_run_recipe(run).runtime)
    return cluster.task if cluster is not None and not cluster.chief else None


def _resume_as_worker(run: Path, task: str, console: Console) -> None:
    """A non-chief resumes from the chief's run (the same folder on one host, a shared
    filesystem on several) by resuming a copy of it, so that it neither takes the chief's
    lock nor writes into the chief's run."""
    import shutil

    def work(scratch: Path) -> Path:
        # Not the lock, nor the temporary files of a write the chief may be finishing.
        copy = Path(shutil.copytree(run, scratch / run.name, ignore=shutil.ignore_patterns("lock", ".*")))
        return resume(copy, console=console, as_worker=task)

    _as_worker(task, console, work)


def start_from(model, recipe, runs_dir: Path, copy: bool = True) -> dict:
    """Copy a trained run's weights (`model.init_from`) and freeze layers (`model.freeze`).

    Returns what run.json records about it.
    """
    from dlrecipes.train.transfer import freeze, load_weights_from

    record = {}
    if recipe.model.init_from and copy:
        source = runs.find_run(recipe.model.init_from, runs_dir)
        record["init_from"] = {"run": str(source), "layers": load_weights_from(model, source)}
    if recipe.model.freeze:
        record["frozen"] = freeze(model, recipe.model.freeze)
    return record


def training_callbacks(recipe, auxiliary: bool = False) -> list:
    """The schedule's and early stopping's callbacks.

    What they watch was checked with the recipe (`checks.monitor_problems`). With auxiliary
    classifiers Keras logs the main output's metrics as `head_accuracy`, so the watch is
    pointed there.
    """
    from dlrecipes.models.common import MAIN_OUTPUT
    from dlrecipes.train.early_stopping import early_stopping_callback
    from dlrecipes.train.schedules import schedule_callbacks

    def watched(monitor: str) -> str:
        bare = monitor.removeprefix("val_")
        return monitor.replace(bare, f"{MAIN_OUTPUT}_{bare}") if auxiliary and bare != "loss" else monitor

    train = recipe.train
    callbacks = schedule_callbacks(train.schedule, watched(train.schedule.monitor))
    if train.early_stopping:
        callbacks.append(early_stopping_callback(train.early_stopping, watched(train.early_stopping.monitor)))
    return callbacks


def save_results(run: Path, recipe, model, history: list[dict], test: dict, early_stopping: dict | None = None) -> None:
    """Write model.keras, metrics.json and curves.png into the run, each atomically.

    metrics.json's train and validation metrics are those of the epoch whose weights the
    model holds (`weights_epoch`): the last, or the best one early stopping restored.
    """
    from dlrecipes.plots import plot_curves
    from dlrecipes.train.early_stopping import describe

    restored = early_stopping.get("best_epoch") if early_stopping and early_stopping.get("restored") else None
    last = next((row for row in history if row["epoch"] == restored), history[-1])
    timing = ("epoch", "epoch_seconds", "examples_per_second")
    metrics = {
        "train": {k: v for k, v in last.items() if k not in timing and not k.startswith("val_")},
        "validation": {k[4:]: v for k, v in last.items() if k.startswith("val_")} or None,
        "test": {k: float(v) for k, v in test.items()},
        "epochs": len(history),
        "weights_epoch": last["epoch"],
        "weights_sha256": weights_fingerprint(model),
    }
    model.save(run / ".model.tmp.keras")  # Keras insists on the .keras suffix
    (run / ".model.tmp.keras").replace(run / "model.keras")
    runs.write_json(run / "metrics.json", metrics)
    plot_curves(history, recipe.task.problem.curves, run / "curves.png", recipe.name,
                monitor=runs.monitored(recipe.model_dump(mode="json")),
                best_epoch=early_stopping.get("best_epoch") if early_stopping else None,
                note=describe(early_stopping) if early_stopping else None)
    if recipe.task.problem.generative:
        from dlrecipes.sample import write_samples

        write_samples(model, run / "samples.png", n=64, seed=recipe.train.seed)


def weights_fingerprint(model) -> str:
    """sha256 of all weights, in order: equal fingerprints mean bit-identical models."""
    import hashlib

    import numpy as np

    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()


def evaluate(run: Path, split: str = "test") -> dict:
    """A split's metrics of a run's saved model, computed afresh by `model.evaluate`
    (`dlrecipes evaluate` adds the report and its pictures: dlrecipes.evaluation)."""
    from dlrecipes.evaluation import keras_metrics, split_dataset

    recipe, _, model = runs.load_trained(run)
    return keras_metrics(model, recipe, split_dataset(recipe, split, run))
