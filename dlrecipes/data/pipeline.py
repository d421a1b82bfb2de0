"""The tf.data input pipeline every source feeds.

Order matters for speed: the raw (uint8) examples are cached - 4x smaller than floats -,
shuffled and batched; scaling then runs once per batch, vectorised, and prefetching keeps
the next batch ready while the model trains on this one (the tf.data performance guide's
advice: https://www.tensorflow.org/guide/data_performance).
"""

from __future__ import annotations

from collections.abc import Callable


def label_transform(task_name: str, labels: str, num_outputs: int) -> Callable:
    """How raw labels become training targets for the task's loss."""
    import tensorflow as tf

    def transform(y):
        if task_name == "multiclass" and labels == "one_hot" and y.shape.rank == 1:
            return tf.one_hot(tf.cast(y, tf.int32), num_outputs)
        if task_name in ("binary", "regression", "multilabel"):
            y = tf.cast(y, tf.float32)
            # Targets take the shape of the output, (batch, units), so the loss never broadcasts.
            return tf.reshape(y, (-1, 1)) if y.shape.rank == 1 else y
        return y

    return transform


def batched(
    ds,
    *,
    preprocess: Callable,
    targets: Callable,
    batch_size: int,
    training: bool,
    seed: int,
    shuffle_buffer: int,
    cache: bool,
    augment: Callable | None = None,
):
    """Batches of (model inputs, targets) ready for `model.fit` / `evaluate`.

    `augment` (training batches only) sees the raw pixel scale, before `preprocess`.
    """
    import tensorflow as tf

    if cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)

    def transform(x, y):
        y = targets(y)
        if training and augment is not None:
            x, y = augment(tf.cast(x, tf.float32), y)
        return preprocess(x), y

    ds = ds.map(transform, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def epoch_stream(
    ds,
    *,
    first_epoch: int,
    last_epoch: int,
    preprocess: Callable,
    targets: Callable,
    batch_size: int,
    seed: int,
    shuffle_buffer: int,
    cache: bool,
    augment: Callable | None = None,
):
    """Training batches for epochs [first_epoch, last_epoch), one stream for `model.fit`.

    Each epoch is shuffled with its own seed, derived from (seed, epoch), rather than by one
    generator that moves on from epoch to epoch: so the batches of epoch k are the same
    whether training started at epoch 0 or resumed at epoch k.
    """
    import tensorflow as tf

    if cache:
        ds = ds.cache()

    def transform(x, y):
        y = targets(y)
        if augment is not None:
            x, y = augment(tf.cast(x, tf.float32), y)
        return preprocess(x), y

    def one_epoch(epoch):
        shuffled = ds.shuffle(shuffle_buffer, seed=seed * 1_000_003 + epoch, reshuffle_each_iteration=False)
        return shuffled.batch(batch_size)

    epochs = tf.data.Dataset.range(first_epoch, last_epoch)
    stream = epochs.flat_map(one_epoch).map(transform, num_parallel_calls=tf.data.AUTOTUNE)
    return stream.prefetch(tf.data.AUTOTUNE)
