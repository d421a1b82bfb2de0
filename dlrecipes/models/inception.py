"""Inception v1 (GoogLeNet): inception modules of parallel 1x1, 3x3, 5x5 and pooling branches.

Reference:
- Szegedy et al., "Going Deeper with Convolutions" (CVPR 2015), Figure 2(b) (the module
  with 1x1 reductions) and Table 1 (GoogLeNet's layers and module widths).

Each module looks at the same input at several scales and concatenates what it finds;
the 1x1 convolutions before the 3x3 and 5x5 branches (and after the pooling branch)
reduce the channels first, which is what keeps a 22-layer network at about 7M
parameters. `variant: imagenet` is Table 1 (7x7/2 stem, 224x224 inputs); `variant: small`
replaces the stem by one 3x3 convolution and scales every module's widths by `width`,
for 28x28 and 32x32 images.

`auxiliary: true` adds the paper's two auxiliary classifiers (Section 5) on the outputs of
modules 4a and 4d. They push gradient into the middle of the network during training,
their losses weighted 0.3; evaluation, saved runs and exports use the main classifier only.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from dlrecipes.models.common import (
    ModelOptions,
    with_auxiliary_outputs,
)
from dlrecipes.models.registry import register_model

# Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
MODULES = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
# Max-pooling 3x3/2 before these modules (between the paper's stages).
POOL_BEFORE = {"4a", "5a"}


class InceptionOptions(ModelOptions):
    arch: Literal["inception"]
    api: Literal["sequential", "functional"] = "functional"
    branching: ClassVar[bool] = True
    variant: Literal["imagenet", "small"] = Field("small", description="imagenet: Table 1; small: 3x3 stem for 28-32 px images.")
    width: float = Field(1.0, gt=0, le=2, description="small: multiplier on every module's widths.")
    dropout: float = Field(0.4, ge=0.0, lt=1.0, description="Dropout before the classifier (the paper's 40%).")
    auxiliary: bool = Field(False, description="Train with the two auxiliary classifiers after modules 4a and 4d.")
    auxiliary_weight: float = Field(0.3, gt=0, le=1, description="Loss weight of each auxiliary classifier.")


def conv(x, filters, kernel, name, strides=1):
    """Convolution + ReLU, as every convolution in GoogLeNet."""
    import keras

    return keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", activation="relu", name=name)(x)


def inception_module(x, widths, name):
    """Figure 2(b): 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3 max-pool -> 1x1, concatenated."""
    import keras

    n1x1, r3x3, n3x3, r5x5, n5x5, pool_proj = widths
    branch1 = conv(x, n1x1, 1, f"{name}_1x1")
    branch2 = conv(conv(x, r3x3, 1, f"{name}_3x3_reduce"), n3x3, 3, f"{name}_3x3")
    branch3 = conv(conv(x, r5x5, 1, f"{name}_5x5_reduce"), n5x5, 5, f"{name}_5x5")
    pooled = keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    branch4 = conv(pooled, pool_proj, 1, f"{name}_pool_proj")
    return keras.layers.Concatenate(name=f"{name}_concat")([branch1, branch2, branch3, branch4])


def auxiliary_classifier(x, head, name, scale):
    """Section 5: 5x5/3 average pool, 1x1 conv (128), FC 1024 + ReLU, 70% dropout, classifier."""
    import keras

    layers = keras.layers
    x = layers.AveragePooling2D(5, strides=3, name=f"{name}_pool")(x)
    x = conv(x, max(1, int(128 * scale)), 1, f"{name}_conv")
    x = layers.Flatten(name=f"{name}_flatten")(x)
    x = layers.Dense(max(1, int(1024 * scale)), activation="relu", name=f"{name}_fc")(x)
    x = layers.Dropout(0.7, name=f"{name}_dropout")(x)
    for layer in head.named(f"{name}_head"):
        x = layer(x)
    return x


@register_model("inception", InceptionOptions, inputs=("images",))
def inception(options: InceptionOptions, input_shape: tuple[int, ...], head: list):
    """Inception v1 / GoogLeNet (Szegedy et al. 2015)."""
    import keras

    layers = keras.layers
    inputs = keras.Input(input_shape, name="inputs")
    if options.variant == "imagenet":
        x = conv(inputs, 64, 7, "conv1_7x7", strides=2)
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)
        x = conv(x, 64, 1, "conv2_3x3_reduce")
        x = conv(x, 192, 3, "conv2_3x3")
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2")(x)
        scale = 1.0
    else:
        scale = options.width
        x = conv(inputs, max(1, int(192 * scale)), 3, "conv1_3x3")
    auxiliary = {}
    for name, widths in MODULES.items():
        if name in POOL_BEFORE:
            x = layers.MaxPooling2D(3, strides=2, padding="same", name=f"pool_{name}")(x)
        x = inception_module(x, [max(1, int(w * scale)) for w in widths], f"inception_{name}")
        if options.auxiliary and name in ("4a", "4d"):
            key = f"aux{len(auxiliary) + 1}"
            auxiliary[key] = auxiliary_classifier(x, head, key, scale)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if options.dropout:
        x = layers.Dropout(options.dropout, name="dropout")(x)
    for layer in head:
        x = layer(x)
    name = f"googlenet_{options.variant}"
    if auxiliary:
        return with_auxiliary_outputs(inputs, x, auxiliary, options.auxiliary_weight, name)
    return keras.Model(inputs, x, name=name)
