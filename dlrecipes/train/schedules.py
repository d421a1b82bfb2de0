"""Learning-rate schedules, stated in epochs and built as Keras schedules over steps.

- constant: the optimizer's learning rate throughout.
- cosine: optional linear warmup to the learning rate, then cosine decay to
  `alpha` x learning rate at the last step (Loshchilov & Hutter, SGDR, 2017).
- step: multiply by `factor` at each epoch in `boundaries` (piecewise constant).
- exponential: multiply by `decay_rate` every epoch, smoothly.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, field_validator

from dlrecipes.schema import Section


class ScheduleOptions(Section):
    name: Literal["constant", "cosine", "step", "exponential"] = "constant"
    warmup_epochs: float = Field(0.0, ge=0.0, description="cosine: linear warmup from 0, in epochs.")
    alpha: float = Field(0.0, ge=0.0, le=1.0, description="cosine: final rate as a fraction of the initial one.")
    boundaries: list[PositiveInt] = Field([], description="step: epochs at which the rate is multiplied by factor.")
    factor: PositiveFloat = Field(0.1, description="step: multiplier at each boundary.")
    decay_rate: PositiveFloat = Field(0.9, description="exponential: multiplier per epoch.")

    @field_validator("boundaries")
    @classmethod
    def _increasing(cls, boundaries):
        if any(b >= c for b, c in zip(boundaries, boundaries[1:])):
            raise ValueError(f"boundaries must be strictly increasing epochs, e.g. [30, 60]; given {boundaries}")
        return boundaries


def build_schedule(options: ScheduleOptions, learning_rate: float, steps_per_epoch: int, epochs: int):
    """A Keras LearningRateSchedule (or the constant rate) for the whole run."""
    import keras

    schedules = keras.optimizers.schedules
    total = steps_per_epoch * epochs
    if options.name == "constant":
        return learning_rate
    if options.name == "cosine":
        warmup = int(round(options.warmup_epochs * steps_per_epoch))
        if warmup:
            return schedules.CosineDecay(
                0.0, max(1, total - warmup), alpha=options.alpha,
                warmup_target=learning_rate, warmup_steps=warmup,
            )
        return schedules.CosineDecay(learning_rate, max(1, total), alpha=options.alpha)
    if options.name == "step":
        boundaries = [b * steps_per_epoch for b in options.boundaries]
        values = [learning_rate * options.factor**i for i in range(len(boundaries) + 1)]
        return schedules.PiecewiseConstantDecay(boundaries, values)
    return schedules.ExponentialDecay(learning_rate, steps_per_epoch, options.decay_rate)
