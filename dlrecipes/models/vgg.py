"""VGG: stacks of 3x3 convolutions, max-pooling between stages, three dense layers.

Reference:
- Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
  Recognition" (ICLR 2015), Table 1: configurations A (VGG-11), B (13), D (16), E (19).

Two 3x3 convolutions see as far as one 5x5 with fewer weights and one more non-linearity;
the paper's point is that depth built from such small filters wins. Layer names follow
`keras.applications.VGG16` (`block1_conv1`, `fc1`), and at 224x224x3 with 1000 classes
`depth: 16` has exactly its 138,357,544 parameters. Pooling uses `padding="same"`, which
changes nothing for 224x224 inputs and lets 28x28 images pass all five stages.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dlrecipes.models.common import ModelOptions, Units, stack
from dlrecipes.models.registry import register_model

# Convolutions per stage, for the 64, 128, 256, 512, 512 filter stages (Table 1).
CONFIGS = {
    11: (1, 1, 2, 2, 2),
    13: (2, 2, 2, 2, 2),
    16: (2, 2, 3, 3, 3),
    19: (2, 2, 4, 4, 4),
}
STAGE_FILTERS = (64, 128, 256, 512, 512)


class VGGOptions(ModelOptions):
    arch: Literal["vgg"]
    depth: Literal[11, 13, 16, 19] = Field(16, description="Weight layers: the paper's A, B, D, E configurations.")
    width: float = Field(1.0, gt=0, le=4, description="Multiplier on every layer's filters (0.25 for small images).")
    fc_units: Units = Field(4096, description="Units of each of the two hidden dense layers.")
    dropout: float = Field(0.5, ge=0.0, lt=1.0, description="Dropout after each hidden dense layer, as in the paper.")
    batch_norm: bool = Field(False, description="BatchNormalization after each convolution (not in the paper).")


@register_model("vgg", VGGOptions, inputs=("images",))
def vgg(options: VGGOptions, input_shape: tuple[int, ...], head: list):
    """VGG-11/13/16/19 (Simonyan & Zisserman 2015)."""
    import keras

    layers = []
    for stage, (convs, filters) in enumerate(zip(CONFIGS[options.depth], STAGE_FILTERS), start=1):
        filters = max(1, int(filters * options.width))
        for c in range(1, convs + 1):
            name = f"block{stage}_conv{c}"
            layers.append(keras.layers.Conv2D(
                filters, 3, padding="same", use_bias=not options.batch_norm,
                activation=None if options.batch_norm else "relu", name=name,
            ))
            if options.batch_norm:
                layers.append(keras.layers.BatchNormalization(name=f"{name}_bn"))
                layers.append(keras.layers.ReLU(name=f"{name}_relu"))
        layers.append(keras.layers.MaxPooling2D(2, padding="same", name=f"block{stage}_pool"))
    layers.append(keras.layers.Flatten(name="flatten"))
    for i in (1, 2):
        layers.append(keras.layers.Dense(options.fc_units, activation="relu", name=f"fc{i}"))
        if options.dropout:
            layers.append(keras.layers.Dropout(options.dropout, name=f"fc{i}_dropout"))
    return stack(layers + head, input_shape, options.api, name=f"vgg{options.depth}")
