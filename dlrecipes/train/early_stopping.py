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


def find(callbacks: list):
    """The EarlyStopping callback among `callbacks`, or None."""
    import keras

    return next((c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping)), None)


def record(callback, options: EarlyStoppingOptions, watched_from: int, last_epoch: int,
           planned_last: int | None = None) -> dict:
    """What run.json records of early stopping once training has ended (epochs count from 1).

    `stopped_epoch`: the epoch after which it stopped the training (None: it did not stop;
    patience running out on `planned_last`, the epoch training would end with anyway, stops
    nothing). `best_epoch` / `best`: the best epoch by `monitor` and its value. `restored`:
    whether the model was given that epoch's weights - Keras restores them at the end of
    training with restore_best_weights even when it did not stop. Keras' callback starts
    afresh at each `fit`, so after a resume (or in fine-tuning's phase) it has watched only
    the epochs from `watched_from` on, and `best_epoch` is the best of those.
    """
    watched = callback.best is not None
    # Keras counts from 0 and stops from its second epoch on, so 0 means "did not stop".
    stopped = callback.stopped_epoch + 1 if callback.stopped_epoch > 0 else None
    if stopped is not None and planned_last is not None and stopped >= planned_last:
        stopped = None
    return {
        "monitor": options.monitor,  # the recipe's name (Keras may watch `val_head_accuracy`)
        "patience": options.patience,
        "min_delta": options.min_delta,
        "stopped_epoch": stopped,
        "best_epoch": callback.best_epoch + 1 if watched else None,
        "best": float(callback.best) if watched else None,
        "restored": bool(options.restore_best_weights and callback.best_weights is not None),
        "watched_from_epoch": watched_from,
        "last_epoch": last_epoch,
    }


def describe(stop: dict) -> str | None:
    """One line about what early stopping did, from its run.json record; None when it
    neither stopped the training nor gave the model another epoch's weights."""
    best, stopped, last = stop.get("best_epoch"), stop.get("stopped_epoch"), stop.get("last_epoch")
    if not isinstance(best, int) or (stopped is None and (not stop.get("restored") or best == last)):
        return None
    value = stop.get("best")
    value = f" {value:.4g}" if isinstance(value, (int, float)) else ""
    since = stop.get("watched_from_epoch")
    since = f", watched only since epoch {since}" if isinstance(since, int) and since > 1 else ""
    delta = stop.get("min_delta")
    delta = f"{delta:g}" if isinstance(delta, (int, float)) and delta > 0 else None
    if stopped is None:
        # Keras' best is the last epoch that improved on the best before it by min_delta.
        return (f"early stopping: ran to the last epoch ({last}); the weights of epoch {best} restored "
                f"(its {stop.get('monitor')}{value} was the best{f' by min_delta {delta}' if delta else ''}{since})")
    by = f" by {delta}" if delta else ""
    kept = f"the weights of epoch {best} restored" if stop.get("restored") else "the last epoch's weights kept"
    waited = stopped - best if isinstance(stopped, int) else "?"
    return (f"early stopping: stopped after epoch {stopped}: {stop.get('monitor')} had not improved{by} on "
            f"epoch {best}'s{value} for {waited} epoch{'' if waited == 1 else 's'}{since}; {kept}")
