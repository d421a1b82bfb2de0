"""Plain convolutional networks: blocks of convolutions, each closed by max-pooling.

The block layout follows the small VGG-like nets of the keras-io examples: a block is one
or more 3x3 convolutions (optionally batch-normalised), a 2x2 max-pool and dropout; dense
layers with dropout sit between the last block and the head.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from dlrecipes.models.common import (
    MAX_LAYERS,
    Activation,
    Kernel,
    ModelOptions,
    Units,
    activation_layer,
    spatial_problems,
    stack,
)
from dlrecipes.models.registry import register_model


class CNNOptions(ModelOptions):
    arch: Literal["cnn"]
    blocks: list[Annotated[list[Units], Field(min_length=1, max_length=MAX_LAYERS)]] = Field(
        [[32], [64]],
        min_length=1,
        max_length=MAX_LAYERS,
        description="Filters of each convolution, one list per block; a 2x2 max-pool ends each block.",
    )
    kernel_size: Kernel = 3
    padding: Literal["same", "valid"] = "same"
    activation: Activation = "relu"
    batch_norm: bool = Field(False, description="BatchNormalization after each convolution.")
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="Dropout rate after each block.")
    dense: list[Units] = Field([], max_length=MAX_LAYERS, description="Units of Dense layers before the head.")
    dense_dropout: float = Field(
        0.0, ge=0.0, lt=1.0, description="Dropout after each Dense layer (after Flatten when there is none)."
    )

    def input_problems(self, signature) -> list[tuple[str, str]]:
        steps = []
        for filters in self.blocks:
            steps += [(self.kernel_size, 1, self.padding)] * len(filters) + [(2, 2, "valid")]
        return spatial_problems("cnn", "blocks", signature, steps, "use fewer blocks, padding: same, or larger images")


@register_model("cnn", CNNOptions, inputs=("images",))
def cnn(options: CNNOptions, input_shape: tuple[int, ...], head: list):
    """Convolutional network: conv blocks with max-pooling, then dense layers."""
    import keras

    layers = []
    for b, filters in enumerate(options.blocks, start=1):
        for c, f in enumerate(filters, start=1):
            prefix = f"block{b}_conv{c}"
            # A convolution followed by batch norm needs no bias: BN's beta plays its role.
            layers.append(
                keras.layers.Conv2D(
                    f, options.kernel_size, padding=options.padding,
                    use_bias=not options.batch_norm, name=prefix,
                )
            )
            if options.batch_norm:
                layers.append(keras.layers.BatchNormalization(name=f"{prefix}_bn"))
            layers.append(activation_layer(options.activation, f"{prefix}_{options.activation}"))
        layers.append(keras.layers.MaxPooling2D(2, name=f"block{b}_pool"))
        if options.dropout:
            layers.append(keras.layers.Dropout(options.dropout, name=f"block{b}_dropout"))
    layers.append(keras.layers.Flatten(name="flatten"))
    for i, units in enumerate(options.dense, start=1):
        layers.append(keras.layers.Dense(units, name=f"fc{i}"))
        layers.append(activation_layer(options.activation, f"fc{i}_{options.activation}"))
        if options.dense_dropout:
            layers.append(keras.layers.Dropout(options.dense_dropout, name=f"fc{i}_dropout"))
    if options.dense_dropout and not options.dense:
        layers.append(keras.layers.Dropout(options.dense_dropout, name="flatten_dropout"))
    return stack(layers + head, input_shape, options.api, name="cnn")
