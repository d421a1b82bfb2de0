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


def batched(ds, *, preprocess: Callable, targets: Callable, batch_size: int, cache: bool):
    """Batches of (model inputs, targets) for `evaluate` and validation, in stored order."""
    import tensorflow as tf

    if cache:
        ds = ds.cache()
    ds = ds.batch(batch_size)
    ds = ds.map(lambda x, y: (preprocess(x), targets(y)), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def epoch_stream(
    ds,
    *,
    first_epoch: int,
    last_epoch: int,
    steps_per_epoch: int,
    preprocess: Callable,
    targets: Callable,
    batch_size: int,
    seed: int,
    shuffle_buffer: int,
    cache: bool,
    augment: Callable | None = None,
):
    """Training batches for epochs [first_epoch, last_epoch), one stream for `model.fit`.

    The shuffle is seeded and reshuffles at every pass, so epoch k's order is the k-th
    permutation of a fixed sequence. A run resumed at epoch k rebuilds the sequence and
    skips the first k epochs' batches (cheap: raw examples, before any transformation), so
    it reads exactly the batches an uninterrupted run would have. Batches never straddle
    two epochs.
    """
    import tensorflow as tf

    if cache:
        ds = ds.cache()

    def transform(x, y):
        y = targets(y)
        if augment is not None:
            x, y = augment(tf.cast(x, tf.float32), y)
        return preprocess(x), y

    stream = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    stream = stream.repeat(last_epoch).skip(first_epoch * steps_per_epoch)
    stream = stream.map(transform, num_parallel_calls=tf.data.AUTOTUNE)
    return stream.prefetch(tf.data.AUTOTUNE)
