"""Network in Network: MLPConv blocks and global average pooling instead of dense layers.

Reference:
- Lin, Chen & Yan, "Network In Network" (ICLR 2014).

An MLPConv block is a k x k convolution followed by two 1x1 convolutions - a small
multilayer perceptron slid over every position. The last block has one channel per
output unit, and global average pooling turns each channel's map into that unit's score:
no dense layer, so far fewer parameters and nothing to overfit in a classifier. The
task's activation (softmax, sigmoid) follows the pooling.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dlrecipes.models.common import Kernel, ModelOptions, Units, stack
from dlrecipes.models.registry import register_model
from dlrecipes.schema import Section


class MLPConvBlock(Section):
    filters: Units = Field(..., description="Channels of the k x k convolution and of both 1x1 convolutions.")
    kernel_size: Kernel = 3
    strides: Kernel = 1


class NINOptions(ModelOptions):
    arch: Literal["nin"]
    blocks: list[MLPConvBlock] = Field(
        [MLPConvBlock(filters=96, kernel_size=5), MLPConvBlock(filters=192, kernel_size=5),
         MLPConvBlock(filters=192, kernel_size=3)],
        min_length=1,
        description="MLPConv blocks; all but the last are followed by 3x3/2 max-pooling and dropout. "
        "The last block's 1x1 convolutions produce one channel per output unit.",
    )
    dropout: float = Field(0.5, ge=0.0, lt=1.0, description="Dropout after each pooled block.")


@register_model("nin", NINOptions, inputs=("images",))
def nin(options: NINOptions, input_shape: tuple[int, ...], head: list):
    """Network in Network (Lin et al. 2014): MLPConv blocks and global average pooling."""
    import keras

    layers = keras.layers
    dense, activation = head  # the task table's head: units from its Dense, then its activation
    stages = []
    for b, block in enumerate(options.blocks, start=1):
        last = b == len(options.blocks)
        out = dense.units if last else block.filters
        stages += [
            layers.Conv2D(block.filters, block.kernel_size, strides=block.strides, padding="same",
                          activation="relu", name=f"mlpconv{b}_conv"),
            layers.Conv2D(block.filters, 1, activation="relu", name=f"mlpconv{b}_cccp1"),
            # The class maps stay linear: the task's activation comes after the pooling.
            layers.Conv2D(out, 1, activation=None if last else "relu", name=f"mlpconv{b}_cccp2"),
        ]
        if not last:
            stages.append(layers.MaxPooling2D(3, strides=2, padding="same", name=f"mlpconv{b}_pool"))
            if options.dropout:
                stages.append(layers.Dropout(options.dropout, name=f"mlpconv{b}_dropout"))
    stages += [layers.GlobalAveragePooling2D(name="global_avg_pool"), activation]
    return stack(stages, input_shape, options.api, name="nin")
