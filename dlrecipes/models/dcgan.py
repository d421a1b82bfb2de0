"""DCGAN: a convolutional generator and discriminator trained against each other.

References:
- Goodfellow et al., "Generative Adversarial Nets" (NeurIPS 2014): the adversarial game.
- Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep Convolutional
  Generative Adversarial Networks" (ICLR 2016), Section 3: strided convolutions instead of
  pooling, batch norm in the generator, ReLU in the generator and LeakyReLU (0.2) in the
  discriminator, no hidden dense layers, Adam with learning rate 2e-4 and beta_1 0.5.

The generator maps a latent vector to a (H/4 x W/4) feature map, may refine it with
stride-1 transposed convolutions, and doubles it twice with stride-2 ones; its sigmoid
output matches images scaled to [0, 1] (as the Keras DCGAN example does, where the paper
uses tanh and [-1, 1]). The discriminator mirrors it and ends in the task's head: one
sigmoid unit, real or generated. Its batch norm (the paper) can give way to dropout after
every convolution, as in TensorFlow's DCGAN tutorial (tensorflow.org/tutorials/generative/
dcgan), whose networks draw cleaner MNIST digits than the paper's smaller ones.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dlrecipes.models.common import Kernel, ModelOptions, Units
from dlrecipes.models.registry import register_model


class DcganOptions(ModelOptions):
    arch: Literal["dcgan"]
    api: Literal["sequential", "functional"] = "sequential"
    latent_dim: Units = Field(100, description="Size of the generator's random input (the paper's 100).")
    filters: Units = Field(64, description="Filters of the discriminator's first convolution; doubled after.")
    generator_filters: list[Units] | None = Field(
        None, min_length=2,
        description=("Channels of the projected H/4 x W/4 map, then of each transposed convolution before the "
                     "output; all but the last keep the size (stride 1), the last and the output double it. "
                     "Default [2 x filters, filters]."),
    )
    kernel_size: Kernel = Field(4, description="Kernel of every (transposed) convolution; the paper's is 5.")
    discriminator_batch_norm: bool = Field(True, description="Batch norm after the discriminator's second convolution (the paper).")
    dropout: float = Field(0.3, ge=0.0, lt=1.0, description="Dropout in the discriminator (see dropout_each_conv).")
    dropout_each_conv: bool = Field(False, description="Dropout after every convolution instead of before the head.")
    label_smoothing: float = Field(0.1, ge=0.0, lt=0.5, description="Real images are labelled 1 minus this.")

    def input_problems(self, signature) -> list[tuple[str, str]]:
        height, width = signature.input_shape[:2]
        if height % 4 or width % 4:
            return [("arch", f"dcgan generates images whose height and width divide by 4 (two stride-2 "
                             f"upsamplings); the dataset's are {height}x{width}. Use an image dataset such as "
                             "mnist (28x28) or cifar10 (32x32)")]
        return []


@register_model("dcgan", DcganOptions, inputs=("images",), generative=True)
def dcgan(options: DcganOptions, input_shape: tuple[int, ...], head: list):
    """DCGAN (Radford et al. 2016): generator and discriminator, adversarial train_step."""
    import keras

    from dlrecipes.adversarial import GAN
    from dlrecipes.models.common import stack

    layers = keras.layers
    height, width, channels = input_shape
    f, k = options.filters, options.kernel_size
    g_filters = options.generator_filters or [2 * f, f]
    generator = [
        layers.Dense((height // 4) * (width // 4) * g_filters[0], use_bias=False, name="project"),
        layers.BatchNormalization(name="project_bn"),
        layers.ReLU(name="project_relu"),
        layers.Reshape((height // 4, width // 4, g_filters[0]), name="reshape"),
    ]
    for i, filters in enumerate(g_filters[1:], start=1):
        # Two stride-2 layers (the last hidden one and the output) take H/4 to H; any
        # before them work at H/4, where a 5x5 window sees most of a digit.
        strides = 2 if i == len(g_filters) - 1 else 1
        generator += [
            layers.Conv2DTranspose(filters, k, strides=strides, padding="same", use_bias=False, name=f"up{i}"),
            layers.BatchNormalization(name=f"up{i}_bn"),
            layers.ReLU(name=f"up{i}_relu"),
        ]
    generator.append(layers.Conv2DTranspose(channels, k, strides=2, padding="same", activation="sigmoid",
                                            name=f"up{len(g_filters)}"))

    def conv_dropout(name):
        return [layers.Dropout(options.dropout, name=f"{name}_dropout")] if options.dropout and options.dropout_each_conv else []

    discriminator = [
        layers.Conv2D(f, k, strides=2, padding="same", name="down1"),
        layers.LeakyReLU(0.2, name="down1_leaky_relu"),
        *conv_dropout("down1"),
        layers.Conv2D(2 * f, k, strides=2, padding="same", name="down2"),
        *([layers.BatchNormalization(name="down2_bn")] if options.discriminator_batch_norm else []),
        layers.LeakyReLU(0.2, name="down2_leaky_relu"),
        *conv_dropout("down2"),
        layers.Flatten(name="flatten"),
        *([layers.Dropout(options.dropout, name="dropout")] if options.dropout and not options.dropout_each_conv else []),
        *head,
    ]
    generator = stack(generator, (options.latent_dim,), options.api, "generator")
    discriminator = stack(discriminator, tuple(input_shape), options.api, "discriminator")
    return GAN(generator, discriminator, options.latent_dim, options.label_smoothing, name="dcgan")
