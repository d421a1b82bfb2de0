"""How weights start: one initializer for every kernel, or one per layer type.

Keras' own initializers (`keras.initializers`), applied after the model is built so that no
builder needs to know: each layer's kernel (a Dense or convolution weight matrix, an
embedding table, a recurrent layer's input kernel) is drawn afresh. Biases stay zero.

- glorot_uniform / glorot_normal (Glorot & Bengio 2010, "Xavier"): variance 2 / (fan_in +
  fan_out), for tanh and sigmoid layers; Keras' default.
- he_normal / he_uniform (He et al. 2015): variance 2 / fan_in, for ReLU layers, which
  zero half their inputs.
- lecun_normal / lecun_uniform (LeCun et al. 1998): variance 1 / fan_in, for SELU.
- random_normal / random_uniform: a fixed scale whatever the layer's size.
- zeros: every unit of a layer starts equal, gets equal gradients and stays equal (the
  symmetry problem) - kept to show why initialisation matters.
"""

from __future__ import annotations

from dlrecipes.options import InitOptions

# The weights each layer type calls its kernel (what an initializer replaces).
KERNELS = ("kernel", "embeddings", "depthwise_kernel", "pointwise_kernel")

def apply_initializers(model, options: InitOptions, seed: int) -> list[str]:
    """Redraw the kernels `options` names; returns the paths of the weights redrawn."""
    import keras

    from dlrecipes.models.common import all_layers

    if options.kernel is None and not options.layers:
        return []
    redrawn, seen = [], set()
    for i, layer in enumerate(all_layers(model)):
        name = options.layers.get(type(layer).__name__, options.kernel)
        if name is None:
            continue
        for attribute in KERNELS:
            weight = getattr(layer, attribute, None)
            if weight is None or not hasattr(weight, "assign") or id(weight) in seen:
                continue
            seen.add(id(weight))
            initializer = keras.initializers.get({"class_name": name, "config": {"seed": seed + i}} if name != "zeros" else name)
            weight.assign(initializer(weight.shape, dtype=weight.dtype))
            redrawn.append(weight.path)
    return redrawn
