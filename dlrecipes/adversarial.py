"""The adversarial training model: a generator and a discriminator in one `keras.Model`.

Follows the Keras example "DCGAN to generate face images" (fchollet, keras.io/examples/
generative/dcgan_overriding_train_step): `fit()` runs our `train_step`, which takes one
step for each network in turn.

- Discriminator step: real images labelled 1, generated ones 0, binary cross-entropy.
- Generator step: generated images labelled 1 ("fool the discriminator"), only the
  generator's weights updated - the non-saturating loss of Goodfellow et al. 2014,
  Section 3, which gives the generator strong gradients early on.

Real labels are smoothed to 1 - `label_smoothing` (one-sided, Salimans et al. 2016,
"Improved Techniques for Training GANs", Section 3.4) so the discriminator does not grow
over-confident. Calling the model generates images from latent vectors, which is also what
an export serves.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="dlrecipes")
class GAN(keras.Model):
    def __init__(self, generator, discriminator, latent_dim: int, label_smoothing: float = 0.1, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.label_smoothing = label_smoothing
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.built = True  # both networks are built (functional) models already

    def call(self, latent, training=False):
        return self.generator(latent, training=training)

    def compile(self, optimizer, loss, metrics=None, loss_weights=None, **kwargs):
        """`optimizer` trains the discriminator; the generator gets a fresh copy of it."""
        super().compile(optimizer=optimizer, **kwargs)
        self.g_optimizer = type(optimizer).from_config(optimizer.get_config())
        self.adversarial_loss = loss

    def build_optimizers(self):
        """Create both optimizers' variables (each over its own network), as a checkpoint
        restore needs them to exist before it loads their state."""
        if not self.optimizer.built:
            self.optimizer.build(self.discriminator.trainable_variables)
        if not self.g_optimizer.built:
            self.g_optimizer.build(self.generator.trainable_variables)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def _latent(self, batch_size):
        return keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)

    def _discriminator_loss(self, real, training: bool):
        """Real images labelled 1 - label_smoothing, generated ones 0."""
        ops = keras.ops
        batch_size = ops.shape(real)[0]
        fake = self.generator(self._latent(batch_size), training=training)
        p_real = self.discriminator(real, training=training)
        p_fake = self.discriminator(fake, training=training)
        real_targets = ops.full_like(p_real, 1.0 - self.label_smoothing)
        d_loss = ops.mean(self.adversarial_loss(real_targets, p_real)) + ops.mean(
            self.adversarial_loss(ops.zeros_like(p_fake), p_fake)
        )
        return d_loss

    def _generator_loss(self, batch_size, training: bool):
        """Generated images labelled real: the generator gains when the discriminator is fooled."""
        ops = keras.ops
        p_fake = self.discriminator(self.generator(self._latent(batch_size), training=training), training=training)
        return ops.mean(self.adversarial_loss(ops.ones_like(p_fake), p_fake))

    def train_step(self, data):
        import tensorflow as tf

        ops = keras.ops
        real = data[0] if isinstance(data, tuple) else data
        # Each network's own L1 / L2 penalties, if any, join its loss (inside the tape, so
        # the sum is differentiated).
        with tf.GradientTape() as tape:
            d_loss = self._discriminator_loss(real, training=True)
            d_total = d_loss + sum(self.discriminator.losses, 0.0)
        weights = self.discriminator.trainable_weights
        self.optimizer.apply_gradients(zip(tape.gradient(d_total, weights), weights))

        with tf.GradientTape() as tape:
            g_loss = self._generator_loss(ops.shape(real)[0], training=True)
            g_total = g_loss + sum(self.generator.losses, 0.0)
        weights = self.generator.trainable_weights
        self.g_optimizer.apply_gradients(zip(tape.gradient(g_total, weights), weights))

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {m.name: m.result() for m in self.metrics}

    def test_step(self, data):
        ops = keras.ops
        real = data[0] if isinstance(data, tuple) else data
        d_loss = self._discriminator_loss(real, training=False)
        g_loss = self._generator_loss(ops.shape(real)[0], training=False)
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {m.name: m.result() for m in self.metrics}

    def get_config(self):
        return {
            **super().get_config(),
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "latent_dim": self.latent_dim,
            "label_smoothing": self.label_smoothing,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)

