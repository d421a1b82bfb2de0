"""TensorBoard event files for every run: `RUN/tensorboard/train/` and `.../validation/`.

Each epoch's row of history.csv is written as scalars at step = its epoch (counted from 1,
as history.csv counts), under Keras' tag names (`epoch_loss`, `epoch_accuracy`,
`epoch_learning_rate`, ...), with `val_` quantities in the validation folder, so that
`tensorboard --logdir runs` draws training and validation on one chart per quantity, for
every run, each named by its folder.

Written with `tf.summary` rather than `keras.callbacks.TensorBoard`: Keras' callback flushes
its writers only when training ends (or every two minutes), so a killed run would lose its
last epochs' events; it counts epochs from 0; and it logs an auxiliary-classifier model's
metrics under Keras' raw names (`head_accuracy`) where the history says `accuracy`.

The logger comes after the checkpoint in the callback list: an epoch's events are written
only once its checkpoint is, and flushed at once. A resumed run continues after the
checkpoint's last epoch, so it never writes a step twice; a kill between the checkpoint and
the events costs that one epoch's events in TensorBoard (history.csv keeps it). Event files
are only ever appended to, and a new process starts a new one beside the old.
"""

from __future__ import annotations

from pathlib import Path

import keras

FOLDER = "tensorboard"


def split_row(row: dict) -> dict[str, dict[str, float]]:
    """A history row as {"train": {...}, "validation": {...}}: `val_loss` is validation's
    `loss`; the learning rate and timings are training's. Empty splits are left out."""
    splits: dict[str, dict[str, float]] = {"train": {}, "validation": {}}
    for key, value in row.items():
        if key == "epoch":
            continue
        if key.startswith("val_"):
            splits["validation"][key[4:]] = float(value)
        else:
            splits["train"][key] = float(value)
    return {split: values for split, values in splits.items() if values}


class TensorBoardLog(keras.callbacks.Callback):
    """After every epoch: the history's new row (and, with `histograms`, a histogram of
    every floating-point weight) into the run's event files, flushed."""

    def __init__(self, run: Path, history, histograms: bool = False):
        super().__init__()
        self.folder, self.history, self.histograms = run / FOLDER, history, histograms
        self.writers = {}  # opened at the first epoch's end: no events, no folder

    def _writer(self, split: str):
        import tensorflow as tf

        if split not in self.writers:
            self.writers[split] = tf.summary.create_file_writer(str(self.folder / split))
        return self.writers[split]

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        row = self.history.rows[-1]  # RunHistory's, which runs before this callback
        for split, values in split_row(row).items():
            writer = self._writer(split)
            with writer.as_default(step=row["epoch"]):
                for name, value in values.items():
                    tf.summary.scalar(name if name.startswith("epoch_") else f"epoch_{name}", value)
                if split == "train" and self.histograms:
                    for weight in self.model.weights:
                        # Not the random generators' integer states: they are not weights.
                        if "float" in str(weight.dtype):
                            tf.summary.histogram(weight.path.replace(":", "_"), weight)
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self.writers.values():
            writer.close()
        self.writers = {}
