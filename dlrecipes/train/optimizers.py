"""Optimizers, from plain SGD to Adam and its descendants, all Keras' own."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, model_validator

from dlrecipes.schema import Section

OPTIMIZERS = {
    "sgd": "SGD",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
    "adadelta": "Adadelta",
    "adam": "Adam",
    "adamw": "AdamW",
    "nadam": "Nadam",
    "lion": "Lion",
}
WITH_BETAS = ("adam", "adamw", "nadam", "lion")


class OptimizerOptions(Section):
    name: Literal[tuple(OPTIMIZERS)] = "adam"
    learning_rate: PositiveFloat = Field(
        1e-3, description="Initial (peak, with warmup) learning rate; a schedule changes it from here."
    )
    momentum: float = Field(0.0, ge=0.0, lt=1.0, description="SGD and RMSprop only.")
    nesterov: bool = Field(False, description="Nesterov momentum; SGD only.")
    weight_decay: float | None = Field(
        None, ge=0.0, description="Decoupled weight decay (as in AdamW), applied by the optimizer."
    )
    beta_1: float | None = Field(None, gt=0.0, lt=1.0, description="Adam, AdamW, Nadam, Lion: decay of the first-moment average (Keras default 0.9).")
    beta_2: float | None = Field(None, gt=0.0, lt=1.0, description="Adam, AdamW, Nadam, Lion: decay of the second-moment average.")
    use_ema: bool = Field(False, description="Keep an exponential moving average of the weights; the run ends with it.")
    ema_momentum: float = Field(0.99, gt=0.0, lt=1.0, description="use_ema: weight of the old average at each update.")
    clipnorm: PositiveFloat | None = Field(None, description="Clip each gradient to this L2 norm.")
    clipvalue: PositiveFloat | None = Field(None, description="Clip each gradient element to +-this.")

    @model_validator(mode="after")
    def _betas_need_adam_family(self):
        if (self.beta_1 is not None or self.beta_2 is not None) and self.name not in WITH_BETAS:
            raise ValueError(f"beta_1 / beta_2 are options of {', '.join(WITH_BETAS)}, not of {self.name}")
        return self


def build_optimizer(options: OptimizerOptions, learning_rate):
    """The Keras optimizer named by the recipe; `learning_rate` may be a schedule."""
    import keras

    kwargs = {"learning_rate": learning_rate}
    if options.use_ema:
        # Keras averages after every step and, when fit() ends, swaps the averages in.
        kwargs.update(use_ema=True, ema_momentum=options.ema_momentum)
    if options.name in ("sgd", "rmsprop"):
        kwargs["momentum"] = options.momentum
    if options.name == "sgd":
        kwargs["nesterov"] = options.nesterov
    for key in ("weight_decay", "beta_1", "beta_2", "clipnorm", "clipvalue"):
        value = getattr(options, key)
        if value is not None:
            kwargs[key] = value
    return getattr(keras.optimizers, OPTIMIZERS[options.name])(**kwargs)
