"""Learning-rate schedules, stated in epochs and built as Keras schedules over steps.

- constant: the optimizer's learning rate throughout.
- cosine: optional linear warmup to the learning rate, then cosine decay to
  `alpha` x learning rate at the last step (Loshchilov & Hutter, SGDR, 2017).
- cosine_restarts: cosine decay over `first_decay_epochs`, then restarts from the top,
  each cycle `t_mul` times longer and `m_mul` times lower (SGDR's warm restarts). Each
  cycle's end is a good model: snapshot ensembles (Huang et al. 2017) collect them.
- step: multiply by `factor` at each boundary (piecewise constant); boundaries in epochs,
  or in steps with `unit: steps` (as the ResNet paper's 32k and 48k iterations).
- exponential: multiply by `decay_rate` every epoch, smoothly.
- inverse_time: lr / (1 + decay_rate x epoch), the classic 1/t decay, smoothly.
- plateau: the plain rate, multiplied by `factor` whenever `monitor` has not improved for
  `patience` epochs (Keras' ReduceLROnPlateau); it reacts to training, so it is a callback
  rather than a function of the step.
"""

from __future__ import annotations

from dlrecipes.options import ScheduleOptions


def build_schedule(options: ScheduleOptions, learning_rate: float, steps_per_epoch: int, epochs: int):
    """A Keras LearningRateSchedule (or the constant rate) for the whole run."""
    import keras

    schedules = keras.optimizers.schedules
    total = steps_per_epoch * epochs
    if options.name in ("constant", "plateau"):
        return learning_rate
    if options.name == "cosine":
        warmup = int(round(options.warmup_epochs * steps_per_epoch))
        if warmup:
            return schedules.CosineDecay(
                0.0, max(1, total - warmup), alpha=options.alpha,
                warmup_target=learning_rate, warmup_steps=warmup,
            )
        return schedules.CosineDecay(learning_rate, max(1, total), alpha=options.alpha)
    if options.name == "cosine_restarts":
        first = max(1, int(round(options.first_decay_epochs * steps_per_epoch)))
        return schedules.CosineDecayRestarts(
            learning_rate, first, t_mul=options.t_mul, m_mul=options.m_mul, alpha=options.alpha
        )
    if options.name == "step":
        per = steps_per_epoch if options.unit == "epochs" else 1
        boundaries = [b * per for b in options.boundaries]
        values = [learning_rate * options.factor**i for i in range(len(boundaries) + 1)]
        return schedules.PiecewiseConstantDecay(boundaries, values)
    if options.name == "inverse_time":
        return schedules.InverseTimeDecay(learning_rate, steps_per_epoch, options.decay_rate)
    return schedules.ExponentialDecay(learning_rate, steps_per_epoch, options.decay_rate)


def schedule_callbacks(options: ScheduleOptions, monitor: str | None = None) -> list:
    """Callbacks a schedule needs during `fit` (plateau's ReduceLROnPlateau), else none.

    `monitor` replaces options.monitor when the logs name it differently (a main output's).
    """
    import keras

    if options.name != "plateau":
        return []
    return [keras.callbacks.ReduceLROnPlateau(
        monitor=monitor or options.monitor, factor=options.factor, patience=options.patience,
        min_lr=options.min_learning_rate, verbose=0,
    )]
