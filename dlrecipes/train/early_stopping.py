"""Early stopping: end training when the watched quantity stops improving.

Keras' `EarlyStopping` callback: after `patience` epochs without an improvement of at least
`min_delta` in `monitor` (a validation loss or metric: the training loss keeps falling
while the model overfits), training ends; with `restore_best_weights` the model goes back
to the weights of its best epoch, which is what the run then saves and tests.
"""

from __future__ import annotations

from dlrecipes.options import EarlyStoppingOptions


def early_stopping_callback(options: EarlyStoppingOptions, monitor: str | None = None):
    """Keras' EarlyStopping; `monitor` replaces options.monitor when the logs name it differently."""
    import keras

    from dlrecipes.tasks import lower_is_better

    monitor = monitor or options.monitor
    return keras.callbacks.EarlyStopping(
        monitor=monitor, patience=options.patience, min_delta=options.min_delta,
        mode="min" if lower_is_better(monitor) else "max", restore_best_weights=options.restore_best_weights,
    )
