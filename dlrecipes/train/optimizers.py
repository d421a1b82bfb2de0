"""Optimizers, from plain SGD to Adam and its descendants, all Keras' own."""

from __future__ import annotations

from dlrecipes.options import OPTIMIZERS, OptimizerOptions

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
