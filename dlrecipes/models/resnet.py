"""ResNet: residual blocks y = relu(F(x) + shortcut(x)), batch norm, global average pooling.

References:
- He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition" (CVPR 2016):
  v1 blocks; the ImageNet family (Table 1: 18/34 with basic blocks, 50/101/152 with
  bottleneck blocks) and the CIFAR family of Section 4.2 (6n+2 layers: three stages of
  n basic blocks with 16, 32 and 64 filters; ResNet-20 about 0.27M parameters,
  ResNet-56 about 0.85M, Table 6).
- He, Zhang, Ren & Sun, "Identity Mappings in Deep Residual Networks" (ECCV 2016):
  v2, pre-activation blocks (BN and ReLU before each convolution).

The structure and layer names follow `keras.applications.resnet` (`conv2_block1_1_conv`);
`family: imagenet, depth: 50, version: 1` at 224x224x3 with 1000 classes has exactly the
25,636,712 parameters of `keras.applications.ResNet50`. Shortcuts are projections (a
1x1 convolution and batch norm) where the shape changes, identities elsewhere. Version 2
follows the Identity Mappings paper (each stage's stride in its first block), so it is not
parameter-for-parameter `keras.applications.ResNet50V2`, which moves the stride to the
last block of each stage.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from dlrecipes.models.common import ModelOptions
from dlrecipes.models.registry import register_model

# ImageNet family: (block type, blocks per stage) for the stages of 64, 128, 256, 512 filters.
IMAGENET = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
BN_EPSILON = 1.001e-5  # as keras.applications


class ResNetOptions(ModelOptions):
    arch: Literal["resnet"]
    api: Literal["sequential", "functional"] = "functional"
    branching: ClassVar[bool] = True
    family: Literal["cifar", "imagenet"] = Field(
        "cifar", description="cifar: 3 stages of basic blocks (6n+2 layers); imagenet: 4 stages and a 7x7 stem."
    )
    depth: int = Field(20, description="cifar: 20, 32, 44, 56, 110 (any 6n+2); imagenet: 18, 34, 50, 101, 152.")
    version: Literal[1, 2] = Field(1, description="1: post-activation blocks; 2: pre-activation (identity mappings).")

    @model_validator(mode="after")
    def _depth_fits_family(self):
        if self.family == "cifar" and (self.depth < 8 or self.depth > 1202 or (self.depth - 2) % 6):
            raise ValueError(f"a CIFAR ResNet has 6n+2 layers (20, 32, 44, 56, 110, up to the paper's 1202). Received: depth={self.depth}")
        if self.family == "imagenet" and self.depth not in IMAGENET:
            raise ValueError(f"an ImageNet ResNet has depth 18, 34, 50, 101 or 152. Received: depth={self.depth}")
        return self


def _bn(name):
    import keras

    return keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=name)


def basic_block(x, filters, stride, name, version):
    """Two 3x3 convolutions (the paper's Figure 2, left)."""
    import keras

    layers = keras.layers
    project = stride != 1 or x.shape[-1] != filters
    if version == 2:
        x = layers.Activation("relu", name=f"{name}_preact_relu")(_bn(f"{name}_preact_bn")(x))
    shortcut = x
    if project:
        shortcut = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        if version == 1:
            shortcut = _bn(f"{name}_0_bn")(shortcut)
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", name=f"{name}_1_conv")(x)
    y = layers.Activation("relu", name=f"{name}_1_relu")(_bn(f"{name}_1_bn")(y))
    y = layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(y)
    if version == 1:
        y = _bn(f"{name}_2_bn")(y)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.Activation("relu", name=f"{name}_out")(y) if version == 1 else y


def bottleneck_block(x, filters, stride, name, version):
    """1x1 reduce, 3x3, 1x1 expand to 4 x filters (the paper's Figure 5, right)."""
    import keras

    layers = keras.layers
    project = stride != 1 or x.shape[-1] != 4 * filters
    if version == 2:
        x = layers.Activation("relu", name=f"{name}_preact_relu")(_bn(f"{name}_preact_bn")(x))
    shortcut = x
    if project:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        if version == 1:
            shortcut = _bn(f"{name}_0_bn")(shortcut)
    y = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    y = layers.Activation("relu", name=f"{name}_1_relu")(_bn(f"{name}_1_bn")(y))
    y = layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(y)
    y = layers.Activation("relu", name=f"{name}_2_relu")(_bn(f"{name}_2_bn")(y))
    y = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(y)
    if version == 1:
        y = _bn(f"{name}_3_bn")(y)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.Activation("relu", name=f"{name}_out")(y) if version == 1 else y


def stack_residual_blocks(x, block, filters, blocks, stride, name, version):
    """One stage: the first block changes resolution/width, the rest keep it."""
    x = block(x, filters, stride, f"{name}_block1", version)
    for i in range(2, blocks + 1):
        x = block(x, filters, 1, f"{name}_block{i}", version)
    return x


@register_model("resnet", ResNetOptions, inputs=("images",))
def resnet(options: ResNetOptions, input_shape: tuple[int, ...], head: list):
    """ResNet v1/v2, CIFAR (6n+2) and ImageNet (18-152) families (He et al. 2016)."""
    import keras

    layers = keras.layers
    inputs = keras.Input(input_shape, name="inputs")
    v1 = options.version == 1

    if options.family == "imagenet":
        kind, counts = IMAGENET[options.depth]
        block = basic_block if kind == "basic" else bottleneck_block
        x = layers.ZeroPadding2D(3, name="conv1_pad")(inputs)
        x = layers.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
        if v1:
            x = layers.Activation("relu", name="conv1_relu")(_bn("conv1_bn")(x))
        x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
        x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
        stages = zip((64, 128, 256, 512), counts, (1, 2, 2, 2))
    else:
        n = (options.depth - 2) // 6
        block = basic_block
        x = layers.Conv2D(16, 3, padding="same", name="conv1_conv")(inputs)
        if v1:
            x = layers.Activation("relu", name="conv1_relu")(_bn("conv1_bn")(x))
        stages = zip((16, 32, 64), (n, n, n), (1, 2, 2))

    for i, (filters, blocks, stride) in enumerate(stages, start=2):
        x = stack_residual_blocks(x, block, filters, blocks, stride, f"conv{i}", options.version)
    if not v1:
        x = layers.Activation("relu", name="post_relu")(_bn("post_bn")(x))
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    for layer in head:
        x = layer(x)
    name = f"resnet{options.depth}{'' if v1 else 'v2'}"
    return keras.Model(inputs, x, name=name)
