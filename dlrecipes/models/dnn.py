"""Fully connected networks (the multilayer perceptron).

The MNIST MLP of our notes is `hidden: [256, 128]`:
Flatten -> Dense(256) -> ReLU -> Dense(128) -> ReLU -> head (Dense(10) -> Softmax),
235,146 parameters.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dlrecipes.models.common import MAX_LAYERS, Activation, ModelOptions, Units, activation_layer, stack
from dlrecipes.models.registry import register_model


class DNNOptions(ModelOptions):
    arch: Literal["dnn"]
    hidden: list[Units] = Field(
        [256, 128], min_length=1, max_length=MAX_LAYERS, description="Units of each hidden Dense layer, input to output."
    )
    activation: Activation = "relu"
    batch_norm: bool = Field(False, description="BatchNormalization between Dense and activation.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout rate after each hidden layer.")


@register_model("dnn", DNNOptions, inputs=("vectors", "table", "images", "sequences"))
def dnn(options: DNNOptions, input_shape: tuple[int, ...], head: list):
    """Multilayer perceptron: Flatten, then Dense + activation per hidden layer."""
    import keras

    layers = [keras.layers.Flatten(name="flatten")]
    for i, units in enumerate(options.hidden, start=1):
        layers.append(keras.layers.Dense(units, name=f"dense_{i}"))
        if options.batch_norm:
            layers.append(keras.layers.BatchNormalization(name=f"bn_{i}"))
        layers.append(activation_layer(options.activation, f"{options.activation}_{i}"))
        if options.dropout:
            layers.append(keras.layers.Dropout(options.dropout, name=f"dropout_{i}"))
    return stack(layers + head, input_shape, options.api, name="dnn")
