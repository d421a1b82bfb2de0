"""Keras callbacks: a rich progress bar per epoch and the run directory's history."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import keras
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from dlrecipes import runs


def current_learning_rate(optimizer) -> float:
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def _format(logs: dict) -> str:
    return "  ".join(f"{k} {v:.4f}" for k, v in logs.items() if isinstance(v, (int, float)))


class RichProgress(keras.callbacks.Callback):
    """One progress bar per epoch: steps, ETA, then the epoch's loss and metrics."""

    def __init__(self, epochs: int, steps: int | None, console: Console, initial_epoch: int = 0):
        super().__init__()
        self.epochs, self.steps, self.console = epochs, steps, console
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"),
            BarColumn(bar_width=30),
            MofNCompleteColumn(),
            TimeRemainingColumn(elapsed_when_finished=True),
            TextColumn("{task.fields[metrics]}"),
            console=console,
        )
        self.task = None

    def on_train_begin(self, logs=None):
        self.progress.start()

    def on_epoch_begin(self, epoch, logs=None):
        label = f"{epoch + 1}/{self.epochs}"
        self.task = self.progress.add_task("", total=self.steps, epoch=label, metrics="")

    def on_train_batch_end(self, batch, logs=None):
        # Refreshing the text every step costs more than the step itself on small models.
        if batch % 20 == 0:
            self.progress.update(self.task, completed=batch + 1, metrics=_format(logs or {}))
        else:
            self.progress.update(self.task, completed=batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        self.progress.update(self.task, total=self.progress.tasks[-1].completed, metrics=_format(logs or {}))

    def on_train_end(self, logs=None):
        self.progress.stop()


class RunHistory(keras.callbacks.Callback):
    """Rewrites `history.csv` in the run directory after every epoch."""

    def __init__(self, run: Path):
        super().__init__()
        self.path = run / "history.csv"
        self.rows: list[dict] = []

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, "learning_rate": current_learning_rate(self.model.optimizer)}
        row.update({k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"})
        self.rows.append(row)
        fields = list(dict.fromkeys(k for r in self.rows for k in r))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        writer.writerows(self.rows)
        runs.write_atomic(self.path, out.getvalue())
        runs.update(self.path.parent, epochs_done=epoch + 1)
