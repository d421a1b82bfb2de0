"""DCGAN: a convolutional generator and discriminator trained against each other.

References:
- Goodfellow et al., "Generative Adversarial Nets" (NeurIPS 2014): the adversarial game.
- Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep Convolutional
  Generative Adversarial Networks" (ICLR 2016), Section 3: strided convolutions instead of
  pooling, batch norm in the generator, ReLU in the generator and LeakyReLU (0.2) in the
  discriminator, no hidden dense layers, Adam with learning rate 2e-4 and beta_1 0.5.

The generator maps a latent vector to a (H/4 x W/4) feature map and doubles it twice with
transposed convolutions; its sigmoid output matches images scaled to [0, 1] (as the Keras
DCGAN example does, where the paper uses tanh and [-1, 1]). The discriminator mirrors it
and ends in the task's head: one sigmoid unit, real or generated.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt

from dlrecipes.errors import RecipeError
from dlrecipes.models.common import ModelOptions
from dlrecipes.models.registry import register_model


class DcganOptions(ModelOptions):
    arch: Literal["dcgan"]
    api: Literal["sequential", "functional"] = "sequential"
    latent_dim: PositiveInt = Field(100, description="Size of the generator's random input (the paper's 100).")
    filters: PositiveInt = Field(64, description="Filters of the discriminator's first convolution; doubled after.")
    dropout: float = Field(0.3, ge=0.0, lt=1.0, description="Dropout before the discriminator's head.")
    label_smoothing: float = Field(0.1, ge=0.0, lt=0.5, description="Real images are labelled 1 minus this.")


@register_model("dcgan", DcganOptions)
def dcgan(options: DcganOptions, input_shape: tuple[int, ...], head: list):
    """DCGAN (Radford et al. 2016): generator and discriminator, adversarial train_step."""
    import keras

    from dlrecipes.adversarial import GAN
    from dlrecipes.models.common import stack

    if len(input_shape) != 3 or input_shape[0] % 4 or input_shape[1] % 4:
        raise RecipeError(
            f"dcgan generates images whose height and width divide by 4; the dataset's are {input_shape}.",
            where="data",
            fix="use an image dataset such as mnist (28x28) or cifar10 (32x32)",
        )
    layers = keras.layers
    height, width, channels = input_shape
    f = options.filters
    generator = stack([
        layers.Dense((height // 4) * (width // 4) * 2 * f, use_bias=False, name="project"),
        layers.BatchNormalization(name="project_bn"),
        layers.ReLU(name="project_relu"),
        layers.Reshape((height // 4, width // 4, 2 * f), name="reshape"),
        layers.Conv2DTranspose(f, 4, strides=2, padding="same", use_bias=False, name="up1"),
        layers.BatchNormalization(name="up1_bn"),
        layers.ReLU(name="up1_relu"),
        layers.Conv2DTranspose(channels, 4, strides=2, padding="same", activation="sigmoid", name="up2"),
    ], (options.latent_dim,), options.api, "generator")
    discriminator = stack([
        layers.Conv2D(f, 4, strides=2, padding="same", name="down1"),
        layers.LeakyReLU(0.2, name="down1_leaky_relu"),
        layers.Conv2D(2 * f, 4, strides=2, padding="same", name="down2"),
        layers.BatchNormalization(name="down2_bn"),
        layers.LeakyReLU(0.2, name="down2_leaky_relu"),
        layers.Flatten(name="flatten"),
        *([layers.Dropout(options.dropout, name="dropout")] if options.dropout else []),
        *head,
    ], tuple(input_shape), options.api, "discriminator")
    return GAN(generator, discriminator, options.latent_dim, options.label_smoothing, name="dcgan")
