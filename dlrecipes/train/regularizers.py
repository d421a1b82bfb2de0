"""Penalties on the weights: L1 and L2 on every kernel, added to the loss.

An L2 penalty (weight decay in its original form, Krogh & Hertz 1992) adds
`l2 x sum(w^2)` per kernel, pulling every weight towards zero a little at each step; L1
adds `l1 x sum(|w|)` and drives many weights to exactly zero. They are Keras
regularizers, set on the kernels after the model is built, so no builder needs to know;
Keras adds them to the training loss. Decoupled weight decay (`optimizer.weight_decay`,
AdamW) is the optimizer's alternative.
"""

from __future__ import annotations

from dlrecipes.options import RegularizerOptions


def apply_regularizers(model, options: RegularizerOptions) -> int:
    """Put the penalty on every kernel of `model`; returns how many kernels got it."""
    import keras

    from dlrecipes.models.common import all_layers
    from dlrecipes.train.initializers import KERNELS

    if not options.l1 and not options.l2:
        return 0
    penalty = keras.regularizers.L1L2(l1=options.l1, l2=options.l2)
    count, seen = 0, set()
    for layer in all_layers(model):
        for attribute in KERNELS:
            weight = getattr(layer, attribute, None)
            if weight is None or not hasattr(weight, "regularizer") or id(weight) in seen:
                continue
            seen.add(id(weight))
            weight.regularizer = penalty
            if hasattr(layer, f"{attribute}_regularizer"):  # so the saved config says so too
                setattr(layer, f"{attribute}_regularizer", penalty)
            count += 1
    return count
