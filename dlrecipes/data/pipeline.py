"""The tf.data input pipeline every source feeds.

Order matters for speed: the raw (uint8) examples are cached - 4x smaller than floats -,
shuffled and batched; augmentation and scaling then run once per batch, vectorised, and
prefetching keeps the next batch ready while the model trains on this one (the tf.data
performance guide's advice: https://www.tensorflow.org/guide/data_performance).
"""

from __future__ import annotations

from collections.abc import Callable


def scaled(x, divide_by: float | None):
    """Inputs as float32, divided by `divide_by` when set: every image source's preprocess,
    in the training pipeline and inside exports."""
    import tensorflow as tf

    x = tf.cast(x, tf.float32)
    return x / divide_by if divide_by else x


def scaling_layer(divide_by: float | None):
    """`scaled` as a Keras layer, for exports made of Keras layers (`export.keras_file`):
    Rescaling casts to float32 and multiplies by 1/divide_by (one rounding from dividing,
    so outputs differ from training's by float32 round-off, about 1e-7)."""
    import keras

    return keras.layers.Rescaling(1.0 / divide_by if divide_by else 1.0, name="scaling")


def scaling_notes(divide_by: float | None) -> list[str]:
    """`scaled` in words, for an export's metadata."""
    return [f"inputs cast to float32 and divided by {divide_by:g}" if divide_by else "inputs cast to float32"]


def batched(ds, *, preprocess: Callable, targets: Callable, batch_size: int, cache: bool):
    """Batches of (model inputs, targets) for `evaluate` and validation, in stored order."""
    import tensorflow as tf

    if cache:
        ds = ds.cache()
    ds = ds.batch(batch_size)
    ds = ds.map(lambda x, y: (preprocess(x), targets(y)), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


class EpochStream:
    """The training batches of one epoch (`dataset`, finite, of known length) and the
    number of the epoch they are, which sets their order (`start`)."""

    def __init__(self, dataset, epoch):
        self.dataset = dataset
        self._epoch = epoch  # a tf.Variable the pipeline reads when a pass begins

    def start(self, epoch: int) -> None:
        """Make the next pass over `dataset` epoch `epoch`."""
        self._epoch.assign(epoch)


def epoch_stream(
    ds,
    *,
    first_epoch: int,
    steps_per_epoch: int,
    preprocess: Callable,
    targets: Callable,
    batch_size: int,
    seed: int,
    shuffle_buffer: int,
    cache: bool,
    augment: Callable | None = None,
) -> EpochStream:
    """Training batches for `model.fit`: one epoch, finite, of known length, whose order is
    the epoch's: epoch e is shuffled with its own seed (`seed`, e).

    Keras iterates a finite dataset of known cardinality afresh each epoch, and its compiled
    multi-step calls stop at the dataset's end: every epoch ends after exactly its own
    batches, whatever `steps_per_execution` is (the last call of an epoch runs the batches
    that are left). The epoch is a variable inside the pipeline, read when a pass begins,
    and set by the training at each epoch's start (callbacks.StreamEpochs) - not counted
    from the passes, because Keras makes passes of its own (under tf.distribute it takes a
    batch to build the model before training). A run resumed at epoch k sees exactly the
    batches an uninterrupted run would have.
    """
    import tensorflow as tf

    if cache:
        ds = ds.cache()
    epoch = tf.Variable(first_epoch, dtype=tf.int64, trainable=False, name="epoch_of_the_stream")

    def one_epoch(_):
        # The shuffle's seed is a function of (seed, epoch): no state carried between passes.
        # It is complete on its own, so the graph-level seed is cleared: TensorFlow compares
        # the two seeds as Python values, which fails for a tensor seed when the global seed
        # is 0 (random_seed.get_seed's `seeds == (0, 0)`).
        tf.compat.v1.get_default_graph().seed = None
        return ds.shuffle(shuffle_buffer, seed=tf.constant(seed, tf.int64) * 1_000_003 + epoch.read_value(),
                          reshuffle_each_iteration=False).batch(batch_size)

    def transform(x, y):
        y = targets(y)
        if augment is not None:
            x, y = augment(tf.cast(x, tf.float32), y)
        return preprocess(x), y

    stream = tf.data.Dataset.from_tensors(0).flat_map(one_epoch)
    stream = stream.apply(tf.data.experimental.assert_cardinality(steps_per_epoch))
    stream = stream.map(transform, num_parallel_calls=tf.data.AUTOTUNE)
    return EpochStream(stream.prefetch(tf.data.AUTOTUNE), epoch)
