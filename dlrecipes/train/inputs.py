"""From a recipe's data section to what `model.fit` reads: batched datasets and targets.

The training split becomes one stream of batches over the epochs to train (each epoch
shuffled with its own seed, so a resumed run reads the same batches); validation and test
splits are batched as they are. Labels become the targets the task's loss expects.
The signature handed on (and written to signature.json) gives the sizes of the splits
actually read, not the sizes of the dataset's own splits.
"""

from __future__ import annotations

import dataclasses
import math

from dlrecipes.data import source_of
from dlrecipes.data.augment import augmenter, build_layers
from dlrecipes.data.pipeline import batched, epoch_stream


@dataclasses.dataclass
class Prepared:
    """A recipe's data made concrete: the batched datasets, the training stream and sizes."""

    recipe: object
    source: object
    signature: object
    datasets: dict  # role -> batched tf.data.Dataset
    steps_per_epoch: int | None
    train_examples: int | None
    batch_size: int  # global: train.batch_size per replica
    train_inputs: object = None  # the training split's model inputs, batched, for `adapt`
    stream: object = None  # first_epoch -> pipeline.EpochStream
    train_labels: object = None  # the training split's raw labels (unbatched), for class weights
    notes: list = dataclasses.field(default_factory=list)  # what the source chose that the user should know

    def train_stream(self, first_epoch: int):
        if self.stream is None:
            raise ValueError("these data were prepared without a training split")
        return self.stream(first_epoch)


def label_encoding(recipe) -> str:
    """The labels the loss sees: one-hot when label smoothing or mixup / cutmix make them soft."""
    return recipe.task.problem.training_labels(recipe.task.label_encoding, recipe.train.soft_targets)


def prepare_data(recipe, roles=("train", "validation", "test"), replicas: int = 1) -> Prepared:
    """Load the recipe's splits and wrap them in the input pipeline.

    Batches are global: `train.batch_size` examples per replica.
    """
    batch_size = recipe.train.batch_size * replicas
    source = source_of(recipe)
    raw = source.load()
    signature = source.train_signature()
    signature = dataclasses.replace(signature, split_sizes=used_sizes(raw, signature.split_sizes))
    notes = list(getattr(source, "notes", []))
    targets = recipe.task.problem.targets(label_encoding(recipe), signature.num_outputs)
    augment = None
    if recipe.train.augment:
        augment = augmenter(build_layers(recipe.train.augment, tuple(signature.input_shape), recipe.train.seed))
    datasets = {
        role: batched(ds, preprocess=source.preprocess, targets=targets, batch_size=batch_size, cache=recipe.train.cache)
        for role, ds in raw.items()
        if role in roles and role != "train"
    }
    if "train" not in raw or "train" not in roles:
        return Prepared(recipe, source, signature, datasets, None, None, batch_size, notes=notes)

    n = signature.split_sizes.get("train") or None
    steps = math.ceil(n / batch_size) if n else None

    def stream(first_epoch: int):
        return epoch_stream(
            raw["train"], first_epoch=first_epoch, steps_per_epoch=steps,
            preprocess=source.preprocess, targets=targets, batch_size=batch_size,
            seed=recipe.train.seed, shuffle_buffer=recipe.train.shuffle_buffer,
            cache=recipe.train.cache, augment=augment,
        )

    train_inputs = raw["train"].map(lambda x, y: x).batch(1024).map(source.preprocess)
    train_labels = raw["train"].map(lambda x, y: y)
    return Prepared(recipe, source, signature, datasets, steps, n, batch_size, train_inputs, stream, train_labels,
                    notes)


def used_sizes(raw: dict, reported: dict) -> dict[str, int]:
    """role -> examples in each split read: its dataset's cardinality, known without reading
    it for every source here (tfds resolves a slice such as 'train[:90%]' from its split
    info, and filtered splits assert their counted size), else what the source reported.

    A tfds source reports its dataset's splits ('train': 60,000 for mnist), not the
    recipe's slices of them, so the cardinality comes first.
    """
    sizes = {}
    for role, ds in raw.items():
        n = int(ds.cardinality())
        if n >= 0:
            sizes[role] = n
        elif role in reported:
            sizes[role] = reported[role]
    return sizes


def balanced_class_weights(labels) -> dict[int, float]:
    """n / (classes x count) per class: every class weighs as much in the loss in total."""
    import numpy as np

    ids = np.array([int(y) for y in labels.as_numpy_iterator()])
    counts = np.bincount(ids)
    present = np.flatnonzero(counts)
    return {int(c): float(len(ids) / (len(present) * counts[c])) for c in present}


def adapt_preprocessing(model, inputs) -> list[str]:
    """Fit the model's data-dependent layers (a vocabulary, a mean and variance) on `inputs`.

    Called with the training split only: statistics from validation or test data would leak
    them into training. The layers must read the model's inputs directly. Returns the names
    of the layers adapted.
    """
    import keras

    adapted = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.TextVectorization) or (
            isinstance(layer, keras.layers.Normalization) and layer.input_mean is None
        ):
            column = getattr(layer, "column", None)  # a table column's own values
            layer.adapt(inputs.map(lambda x, column=column: x[column]) if column else inputs)
            if getattr(layer, "center_only", False):  # zero-centring: keep the scale
                layer.adapt_variance.assign(keras.ops.ones_like(layer.adapt_variance))
                layer.finalize_state()  # the saved variables, hence a reloaded model, agree
            adapted.append(layer.name)
    return adapted


def with_targets_for(model, dataset):
    """The dataset with its labels repeated for each output of a multi-output model."""
    from dlrecipes.models.common import MAIN_OUTPUT, auxiliary_weights

    keys = [MAIN_OUTPUT, *auxiliary_weights(model)]
    if len(keys) == 1:
        return dataset
    return dataset.map(lambda x, y: (x, {key: y for key in keys}))
