"""AlexNet: five convolutions, three dense layers, ReLU, local response normalisation, dropout.

Reference:
- Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional
  Neural Networks" (NIPS 2012), Section 3 and Figure 2 (here as one tower, not split
  across two GPUs).

ReLU instead of tanh made it train several times faster; local response normalisation
after the first two convolutions and dropout in the dense layers cut its error further.
`variant: small` keeps the layout for 28x28-32x32 images: 5x5 stride-1 first convolution,
a quarter of the filters and 512-unit dense layers.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dlrecipes.models.common import ModelOptions, spatial_problems, stack
from dlrecipes.models.registry import register_model

# (filters of conv1..conv5, kernel and stride of conv1, dense units)
VARIANTS = {
    "imagenet": ((96, 256, 384, 384, 256), (11, 4), 4096),
    "small": ((24, 64, 96, 96, 64), (5, 1), 512),
}


class AlexNetOptions(ModelOptions):
    arch: Literal["alexnet"]
    variant: Literal["imagenet", "small"] = Field("small", description="imagenet: the paper's sizes; small: for 28-32 px images.")
    lrn: bool = Field(True, description="Local response normalisation after conv1 and conv2.")
    dropout: float = Field(0.5, ge=0.0, lt=1.0, description="Dropout after each hidden dense layer.")

    def input_problems(self, signature) -> list[tuple[str, str]]:
        _, (kernel, stride), _ = VARIANTS[self.variant]
        pad = "valid" if self.variant == "imagenet" else "same"
        pool = (3, 2, pad)
        steps = [(kernel, stride, pad), pool, (5, 1, "same"), pool, (3, 1, "same"), pool]
        return spatial_problems("alexnet", "variant", signature, steps, "variant: small suits 28-32 px images")


@register_model("alexnet", AlexNetOptions, inputs=("images",))
def alexnet(options: AlexNetOptions, input_shape: tuple[int, ...], head: list):
    """AlexNet (Krizhevsky et al. 2012), one tower."""
    import keras

    from dlrecipes.layers import LocalResponseNormalization

    layers = keras.layers
    filters, (kernel, stride), units = VARIANTS[options.variant]
    pad = "valid" if options.variant == "imagenet" else "same"

    def pool(name):
        return layers.MaxPooling2D(3, strides=2, padding=pad, name=name)  # overlapping pooling

    stages = [layers.Conv2D(filters[0], kernel, strides=stride, padding=pad, activation="relu", name="conv1")]
    if options.lrn:
        stages.append(LocalResponseNormalization(name="conv1_lrn"))
    stages += [pool("pool1"), layers.Conv2D(filters[1], 5, padding="same", activation="relu", name="conv2")]
    if options.lrn:
        stages.append(LocalResponseNormalization(name="conv2_lrn"))
    stages.append(pool("pool2"))
    for i, f in zip((3, 4, 5), filters[2:]):
        stages.append(layers.Conv2D(f, 3, padding="same", activation="relu", name=f"conv{i}"))
    stages += [pool("pool5"), layers.Flatten(name="flatten")]
    for i in (6, 7):
        stages.append(layers.Dense(units, activation="relu", name=f"fc{i}"))
        if options.dropout:
            stages.append(layers.Dropout(options.dropout, name=f"fc{i}_dropout"))
    return stack(stages + head, input_shape, options.api, name=f"alexnet_{options.variant}")
