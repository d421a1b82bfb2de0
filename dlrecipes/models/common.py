"""What every builder shares: the common recipe options and assembly of layer stacks."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from dlrecipes.schema import Section

# Layer sizes have a ceiling so that `validate` refuses what no machine can build: one Dense
# layer of 65,536 x 65,536 weights is already 16 GiB, and a 10^12-unit layer would end
# `describe` in a MemoryError instead of a message.
Units = Annotated[int, Field(ge=1, le=65_536)]
Kernel = Annotated[int, Field(ge=1, le=64)]
MAX_LAYERS = 256  # of a list of layers or blocks: deeper stacks are typos, not experiments

Activation = Literal["relu", "elu", "gelu", "selu", "swish", "tanh", "sigmoid", "leaky_relu"]


class ModelOptions(Section):
    """Options every architecture accepts; each builder subclasses this with its own."""

    api: Literal["sequential", "functional"] = Field(
        "sequential",
        description="Build with keras.Sequential or the functional API (same layers, same weights).",
    )
    normalize: Literal["none", "center", "standardize"] = Field(
        "none",
        description=(
            "Inside the model, before the network: subtract the training split's mean (center) "
            "and divide by its standard deviation (standardize), per channel or feature."
        ),
    )
    init_from: str | None = Field(
        None, description="Start from this trained run's weights (a run folder, run name or recipe name)."
    )
    freeze: Literal["all_but_head"] | list[str] | None = Field(
        None, description="Layers kept fixed while training: 'all_but_head' or a list of layer names."
    )

    # Residual or inception blocks: a graph, not a stack, so keras.Sequential cannot build it.
    branching: ClassVar[bool] = False

    @model_validator(mode="after")
    def _branches_need_functional(self):
        if self.branching and self.api != "functional":
            raise ValueError(
                f"architecture '{self.arch}' has branching blocks and cannot be built as keras.Sequential "
                f"(set model.api: functional). Received: model.api={self.api!r}"
            )
        return self

    def input_problems(self, signature) -> list[tuple[str, str]]:
        """(key, message) for inputs of the declared kind this architecture still cannot take
        (e.g. sizes). `dlrecipes.checks` asks before anything is built; none by default."""
        return []


def activation_layer(name: str, layer_name: str):
    """An activation as its own layer, as the Keras examples write `ReLU()`."""
    import keras

    if name == "relu":
        return keras.layers.ReLU(name=layer_name)
    if name == "leaky_relu":
        return keras.layers.LeakyReLU(name=layer_name)
    return keras.layers.Activation(name, name=layer_name)


def stack(layers: list, input_shape: tuple[int, ...], api: str, name: str, dtype: str | None = None):
    """A model made of `layers` applied in order, as a Sequential or a functional model."""
    import keras

    if api == "sequential":
        return keras.Sequential([keras.layers.InputLayer(input_shape, dtype=dtype), *layers], name=name)
    inputs = keras.Input(input_shape, dtype=dtype, name="inputs")
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x, name=name)


# Auxiliary classifiers (GoogLeNet's) are extra outputs that only shape training. A builder
# returns them as a dict-output model; the main output's key is MAIN_OUTPUT and each
# auxiliary output's loss weight rides on the model as `auxiliary_weights`.
MAIN_OUTPUT = "head"


def with_auxiliary_outputs(inputs, main, auxiliary: dict, weight: float, name: str):
    """A training model returning {MAIN_OUTPUT: main, **auxiliary}, each auxiliary loss weighted `weight`."""
    import keras

    model = keras.Model(inputs, {MAIN_OUTPUT: main, **auxiliary}, name=name)
    model.auxiliary_weights = {key: weight for key in auxiliary}
    return model


def auxiliary_weights(model) -> dict[str, float]:
    """Loss weight of each auxiliary output; empty for a model with one output."""
    return dict(getattr(model, "auxiliary_weights", None) or {})


def inference_model(model):
    """The model without its auxiliary outputs (what is evaluated, saved and exported)."""
    import keras

    if not auxiliary_weights(model):
        return model
    return keras.Model(model.inputs, model.output[MAIN_OUTPUT], name=model.name)


def text_vectorization(max_tokens: int, sequence_length: int, name: str = "text_vectorization"):
    """Keras' TextVectorization: raw strings to `sequence_length` token ids, padded with 0.

    Its vocabulary is adapted on the training split before training (`train.fit`). Under
    another backend than TensorFlow - the numpy one `describe` and `list` build models with -
    the layer would import TensorFlow, so a stand-in of the same name and output shape
    takes its place there; it has no weights, as the real layer has none.
    """
    import keras

    if keras.backend.backend() == "tensorflow":
        return keras.layers.TextVectorization(
            max_tokens=max_tokens, output_sequence_length=sequence_length, name=name
        )

    class TextVectorization(keras.layers.Layer):
        def compute_output_spec(self, inputs):
            return keras.KerasTensor((inputs.shape[0], sequence_length), dtype="int64")

    return TextVectorization(name=name)


def named_leaf_layers(model, prefix: str = ""):
    """(path, layer) for the model's layers with nested models (a GAN's networks, a
    normalized model's body) opened up, in order; a nested layer's path is
    "generator/up1"."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from named_leaf_layers(layer, f"{prefix}{layer.name}/")
        else:
            yield prefix + layer.name, layer


def leaf_layers(model):
    """The layers of `named_leaf_layers`, without their paths."""
    for _, layer in named_leaf_layers(model):
        yield layer


def all_layers(model):
    """Every layer that holds weights of its own, nested models and wrappers opened up.

    A GAN's generator, a Bidirectional wrapper's two RNNs and an RNN's cell each keep
    their kernels in a sub-layer; settings applied to "every kernel" must reach them.
    """
    for layer in leaf_layers(model):
        yield layer
        yield from layer._flatten_layers(include_self=False)


def with_input_normalization(model, how: str, input_shape: tuple[int, ...]):
    """`model` behind a keras Normalization layer, its statistics adapted later on the
    training split only (`train.inputs.adapt_preprocessing`); 'center' keeps the scale.
    """
    import keras

    if how == "none":
        return model
    inputs = keras.Input(input_shape, name="inputs")
    normalization = keras.layers.Normalization(axis=-1, name="input_normalization")
    normalization.center_only = how == "center"
    outputs = model(normalization(inputs))
    wrapped = keras.Model(inputs, outputs, name=model.name)
    if auxiliary_weights(model):
        wrapped.auxiliary_weights = auxiliary_weights(model)
    return wrapped


def one_hot_lookup(vocabulary: list[str], name: str):
    """Keras' StringLookup, one-hot over `vocabulary` plus one slot for unseen values.

    Under another backend than TensorFlow (`describe`'s numpy one) StringLookup would import
    TensorFlow, so a stand-in of the same name and output shape takes its place there, as
    for `text_vectorization`; neither has weights.
    """
    import keras

    if keras.backend.backend() == "tensorflow":
        return keras.layers.StringLookup(vocabulary=vocabulary, output_mode="one_hot", name=name)

    class StringLookup(keras.layers.Layer):
        def compute_output_spec(self, inputs):
            return keras.KerasTensor((inputs.shape[0], len(vocabulary) + 1), dtype="float32")

    return StringLookup(name=name)


def with_table_inputs(model, columns: dict):
    """`model` behind one input per table column: numeric columns standardised
    (`Normalization`, adapted on the training split), categorical ones one-hot encoded
    (`StringLookup` over the training split's categories, plus one for unseen values),
    concatenated. So the model - and its export - takes raw rows.
    """
    import keras

    inputs, encoded = {}, []
    for name, kind in columns.items():
        if kind == "numeric":
            inputs[name] = keras.Input((1,), dtype="float32", name=name)
            normalization = keras.layers.Normalization(name=f"{name}_normalization")
            normalization.column = name  # adapted on this column's training values
            encoded.append(normalization(inputs[name]))
        else:
            inputs[name] = keras.Input((1,), dtype="string", name=name)
            encoded.append(one_hot_lookup(list(kind), f"{name}_lookup")(inputs[name]))
    features = keras.layers.Concatenate(name="features")(encoded) if len(encoded) > 1 else encoded[0]
    return keras.Model(inputs, model(features), name=model.name)


def spatial_problems(arch: str, key: str, signature, steps: list[tuple[int, int, str]], fix: str) -> list[tuple[str, str]]:
    """A problem when `steps` - (kernel, stride, padding) of each convolution and pooling,
    in order - shrink the image to nothing, as Keras computes output sizes ('valid':
    (n - k) // s + 1, 'same': ceil(n / s)); names the smallest input that fits."""

    def fits(n: int) -> bool:
        for kernel, stride, padding in steps:
            n = (n - kernel) // stride + 1 if padding == "valid" else -(-n // stride)
            if n < 1:
                return False
        return True

    height, width = signature.input_shape[:2]
    if fits(height) and fits(width):
        return []
    smallest = next(n for n in range(1, 4096) if fits(n))
    return [(key, f"architecture '{arch}' with these options shrinks {height}x{width} images to nothing "
                     f"(it needs at least {smallest}x{smallest}): {fix}")]
