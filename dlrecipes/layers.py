"""Layers Keras does not ship, written with keras.ops so they run on every backend.

Imported by the builders that use them, and before `keras.models.load_model`, which finds
them by their registered names.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="dlrecipes")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalisation across channels (Krizhevsky et al. 2012, Section 3.3).

    b[c] = a[c] / (k + alpha * sum(a[c']^2 for c' within depth_radius of c)) ** beta,
    the same formula as `tf.nn.local_response_normalization`; the paper's constants are
    depth_radius 2 (n = 5 channels), k = 2, alpha = 1e-4, beta = 0.75.
    """

    def __init__(self, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75, **kwargs):
        super().__init__(**kwargs)
        self.depth_radius, self.bias, self.alpha, self.beta = depth_radius, bias, alpha, beta

    def call(self, x):
        r = self.depth_radius
        squared = ops.pad(ops.square(x), [[0, 0]] * (len(x.shape) - 1) + [[r, r]])
        channels = x.shape[-1]
        window = sum(squared[..., i : i + channels] for i in range(2 * r + 1))
        return x / ops.power(self.bias + self.alpha * window, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "depth_radius": self.depth_radius, "bias": self.bias,
                "alpha": self.alpha, "beta": self.beta}
