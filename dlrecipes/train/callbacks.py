"""Keras callbacks: a rich progress bar per epoch (a line per epoch in a log file) and the run
directory's history."""

from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path

import keras
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from dlrecipes import consoles, interrupts, runs
from dlrecipes.errors import EXIT_FAILURE, RecipeError


def current_learning_rate(optimizer) -> float:
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def _format(logs: dict) -> str:
    return "  ".join(f"{k} {v:.4f}" for k, v in main_output_names(logs).items() if isinstance(v, (int, float)))


class RichProgress(keras.callbacks.Callback):
    """One progress bar per epoch: steps, ETA, then the epoch's loss and metrics.

    On a console that does not redraw (a log file, CI) each epoch is one whole line when it
    ends instead: a bar there would only be drawn once, after the last epoch.
    """

    def __init__(self, epochs: int, steps: int | None, console: Console):
        super().__init__()
        self.epochs, self.steps, self.console = epochs, steps, console
        self.live = consoles.is_live(console)
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TimeRemainingColumn(elapsed_when_finished=True),
            TextColumn("{task.fields[metrics]}"),
            console=console,
        )
        self.task = None
        self.refreshed = 0.0
        self.epoch_started, self.steps_done = 0.0, 0

    def on_train_begin(self, logs=None):
        if self.live:
            self.progress.start()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started, self.steps_done = time.monotonic(), 0
        if self.live:
            label = f"{epoch + 1}/{self.epochs}"
            self.task = self.progress.add_task("", total=self.steps, epoch=label, metrics="")

    def on_train_batch_end(self, batch, logs=None):
        # With several steps per call Keras reports the call's last index as if it had run
        # them all, past the epoch's end when the epoch is shorter than one call.
        self.steps_done = batch + 1 if self.steps is None else min(batch + 1, self.steps)
        if not self.live:
            return
        # Formatting metrics every step would cost more than a small model's step itself.
        now = time.monotonic()
        if now - self.refreshed > 0.5:
            self.refreshed = now
            self.progress.update(self.task, completed=self.steps_done, metrics=_format(logs or {}))
        else:
            self.progress.update(self.task, completed=self.steps_done)

    def on_epoch_end(self, epoch, logs=None):
        if self.live:
            self.progress.update(self.task, total=self.progress.tasks[-1].completed, metrics=_format(logs or {}))
            return
        seconds = time.monotonic() - self.epoch_started
        line = f"epoch {epoch + 1}/{self.epochs}  {self.steps_done} steps  {seconds:.1f}s  {_format(logs or {})}"
        self.console.print(Text(line.rstrip()), soft_wrap=True, highlight=False)

    def on_train_end(self, logs=None):
        if self.live:
            self.progress.stop()


def main_output_names(logs: dict) -> dict:
    """Logs with the main output's metrics named as a one-output model names them.

    A model with auxiliary classifiers logs `head_accuracy`, `val_head_accuracy`; the run's
    history says `accuracy`, `val_accuracy` so that curves and targets read the same for
    every model. Per-output losses keep their names.
    """
    from dlrecipes.models.common import MAIN_OUTPUT

    prefix = f"{MAIN_OUTPUT}_"
    named = {}
    for key, value in logs.items():
        split = "val_" if key.startswith("val_") else ""
        bare = key[len(split):]
        if bare.startswith(prefix) and not bare.endswith("_loss"):
            key = split + bare[len(prefix):]
        named[key] = value
    return named


class RunHistory(keras.callbacks.Callback):
    """Rewrites `history.csv` in the run directory after every epoch.

    Besides the metrics it records each epoch's learning rate - the one it started with: a
    schedule's rate after the last epoch is often 0, and a plateau's cut at an epoch's end
    belongs to the next epoch - its training time (validation excluded) and throughput, and
    in run.json the moment the first training step finished.
    """

    def __init__(self, run: Path, examples_per_epoch: int | None, rows: list[dict] | None = None):
        super().__init__()
        self.path = run / "history.csv"
        self.examples = examples_per_epoch
        self.rows: list[dict] = list(rows or [])  # a resumed run's epochs so far
        self.first_step_done = bool(self.rows)

    def on_epoch_begin(self, epoch, logs=None):
        self.rate = current_learning_rate(self.model.optimizer)
        self.epoch_started = self.last_step = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.last_step = time.perf_counter()
        if not self.first_step_done:
            self.first_step_done = True
            runs.update(self.path.parent, first_step_at=time.time())

    def on_epoch_end(self, epoch, logs=None):
        seconds = self.last_step - self.epoch_started
        row = {"epoch": epoch + 1, "learning_rate": self.rate}
        row["epoch_seconds"] = round(seconds, 4)
        if self.examples:
            row["examples_per_second"] = round(self.examples / seconds, 1)
        row.update({k: float(v) for k, v in main_output_names(logs or {}).items() if k != "learning_rate"})
        self.rows.append(row)
        fields = list(dict.fromkeys(k for r in self.rows for k in r))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        writer.writerows(self.rows)
        runs.write_atomic(self.path, out.getvalue())


class Checkpoint(keras.callbacks.Callback):
    """After every epoch: weights, optimizer state and progress into RUN/checkpoint/.

    Runs after RunHistory in the callback list, so the state it saves includes the epoch
    just finished. run.json's `epochs_done` follows the checkpoint, never leads it.
    """

    def __init__(self, run: Path, history: RunHistory, seconds):
        super().__init__()
        self.run, self.history, self.seconds = run, history, seconds

    def on_epoch_end(self, epoch, logs=None):
        from dlrecipes.train import checkpoint

        checkpoint.save(self.run, self.model, {
            "epochs_done": epoch + 1, "history": self.history.rows, "train_seconds": self.seconds(),
        })
        runs.update(self.run, epochs_done=epoch + 1)


class StreamEpochs(keras.callbacks.Callback):
    """Tells the training stream which epoch begins, so that its order is that epoch's
    (data.pipeline.epoch_stream). First in the list: before any pass of the epoch."""

    def __init__(self, stream):
        super().__init__()
        self.stream = stream

    def on_epoch_begin(self, epoch, logs=None):
        self.stream.start(epoch)


class StopOnSignal(keras.callbacks.Callback):
    """Raise the KeyboardInterrupt of a Ctrl-C or SIGTERM whose exception Python swallowed
    (interrupts.py): checked after every step, so a signal is never lost."""

    def on_train_batch_end(self, batch, logs=None):
        interrupts.check()

    on_test_batch_end = on_train_batch_end

    def on_epoch_end(self, epoch, logs=None):
        interrupts.check()


class TrainingDiverged(RecipeError):
    """A loss became NaN or infinite: nothing trained after that step means anything.
    `lower_rate` is a tenth of the recipe's learning rate, the first thing to try."""

    def __init__(self, key: str, value: float, epoch: int, step: int | None, rate_now: float, lower_rate: float):
        at = f"epoch {epoch}, by step {step}" if step is not None else f"the end of epoch {epoch}"
        self.lower_rate = lower_rate
        details = [
            "This is usually a learning rate too high for the model, or inputs or targets on a large",
            "scale (unnormalised pixels or columns, large regression targets).",
        ]
        if rate_now > 15 * lower_rate:  # above the recipe's own rate: the schedule raised it
            details.append(f"The schedule had raised the rate to {rate_now:.3g}, above the recipe's "
                           f"{10 * lower_rate:.3g}: check train.schedule.")
        super().__init__(
            f"training diverged: {key} became {value} at {at} (learning rate then {rate_now:.3g}).",
            details=details,
            fix=f"train again with a lower learning rate (--set train.optimizer.learning_rate={lower_rate:.3g}), "
                "gradient clipping (--set train.optimizer.clipnorm=1.0), or scaled data",
            exit_code=EXIT_FAILURE,
        )


class StopOnNonFinite(keras.callbacks.Callback):
    """Stop at the first NaN or infinite loss, before the epoch is recorded or checkpointed,
    so the run keeps its last good checkpoint. (Keras' TerminateOnNaN only stops the epoch,
    after which the epoch's callbacks would still save the broken weights.)"""

    def __init__(self, learning_rate: float):
        super().__init__()
        self.learning_rate = learning_rate  # the recipe's

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        self._check(logs, batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        self._check(logs, None)  # validation losses too

    def _check(self, logs, step):
        for key, value in (logs or {}).items():
            if key.endswith("loss") and not math.isfinite(float(value)):
                now = current_learning_rate(self.model.optimizer)
                raise TrainingDiverged(key, float(value), self.epoch, step, now, self.learning_rate / 10)


class Snapshots(keras.callbacks.Callback):
    """Save the model as RUN/snapshots/epoch-K.keras after each epoch in `epochs`."""

    def __init__(self, run: Path, epochs: list[int]):
        super().__init__()
        self.folder, self.epochs = run / "snapshots", set(epochs)

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 in self.epochs:
            self.folder.mkdir(exist_ok=True)
            from dlrecipes.models.common import inference_model

            tmp = self.folder / f".epoch-{epoch + 1}.tmp.keras"
            inference_model(self.model).save(tmp)  # without auxiliary classifiers, as model.keras
            tmp.replace(self.folder / f"epoch-{epoch + 1}.keras")
