"""Arrays saved with NumPy (`np.savez`): inputs and labels by key.

The Keras datasets' layout (`x_train`, `y_train`, `x_test`, `y_test`) works as it is;
any other key names are given in the recipe. Without test arrays, the test split - and
always the validation split - are seeded fractions of the training arrays, stratified by
class when the labels are integers. Images of N x H x W get a channel axis, as tfds'.

What a label is follows from the labels array and the task: for a classifier, integers of
shape (N,) are class ids and 0/1 integers of shape (N, C) are multi-hot rows over C
classes (a multi-label task); classes are named '0'..'C-1' and `classes` picks among them.
Floats, or any labels for a regression, are values.
"""

from __future__ import annotations

from functools import cached_property
from typing import Literal

from pydantic import Field, PositiveFloat

from dlrecipes.data.files import find_file, is_present
from dlrecipes.data.pipeline import scaled, scaling_layer, scaling_notes
from dlrecipes.data.registry import Signature, register_source
from dlrecipes.data.splits import (
    CLASSES_HELP,
    FractionSplits,
    check_training_classes,
    select_classes,
    split_arrays,
    why_not_stratified,
)
from dlrecipes.errors import RecipeError, did_you_mean
from dlrecipes.schema import Section


class ArrayKeys(Section):
    inputs: str = Field(..., description="Key of the inputs array (N x ...).")
    labels: str = Field(..., description="Key of the labels array: N class ids, N x C multi-hot 0/1, or values.")


class NpzOptions(Section):
    source: Literal["npz"]
    path: str = Field(..., description="The .npz file; relative paths under data_dir / DLRECIPES_DATA_DIR / '.'.")
    data_dir: str | None = Field(None, description="Folder that holds `path` (also --data-dir).")
    train: ArrayKeys = ArrayKeys(inputs="x_train", labels="y_train")
    test: ArrayKeys | None = Field(ArrayKeys(inputs="x_test", labels="y_test"),
                                   description="Test arrays; null to cut the test split from the training arrays.")
    split: FractionSplits = FractionSplits(validation=0.1, test=0.2)
    classes: list[str] | None = Field(None, description=f"Class ids (or multi-hot columns), as '0'..'N-1'. {CLASSES_HELP}")
    divide_by: PositiveFloat | None = Field(None, description="Inputs are divided by this, in training and in exports.")


@register_source("npz", NpzOptions)
class NpzSource:
    def __init__(self, options: NpzOptions, task):
        self.options = options
        self.task = task
        self.notes: list[str] = []  # what the user should know about how the data was split

    def splits(self) -> tuple[str, ...]:
        return ("train", "validation", "test") if self.options.split.has_validation else ("train", "test")

    def why_no_folds(self) -> str | None:
        return None  # every example is in memory: folds are rows of the training data

    def is_local(self) -> bool:
        return is_present(self.options.path, self.options.data_dir)

    def signature(self) -> Signature:
        inputs, labels = self._pairs["train"]
        shape = tuple(int(d) for d in inputs.shape[1:] + ((1,) if inputs.ndim == 3 else ()))
        sizes = {role: len(rows) for role, rows in self._rows.items()}
        if self._labels_are == "values":
            if self.options.classes is not None:
                raise RecipeError(f"data.classes picks classes, but '{self.options.train.labels}' holds values "
                                  f"({labels.dtype}) for task '{self.task.name}'.", where="data.classes",
                                  fix="remove data.classes, or give integer class labels to a classification task")
            return Signature(shape, str(inputs.dtype), 1 if labels.ndim == 1 else int(labels.shape[1]),
                             split_sizes=sizes, labels="values")
        names = self._selection.names
        return Signature(shape, str(inputs.dtype), len(names), names, sizes, labels=self._labels_are)

    def train_signature(self) -> Signature:
        import numpy as np

        signature = self.signature()
        if signature.labels == "class_ids":
            kept, ids = self._encoded["train"]
            train = ids[kept[self._where["train"][1]]]
            check_training_classes(self.task, np.bincount(train, minlength=len(signature.class_names)),
                                   signature.class_names, where=f"data.train.labels ('{self.options.train.labels}')",
                                   fix="give training arrays with examples of every class")
        return signature

    def load(self) -> dict:
        import tensorflow as tf

        datasets = {}
        for role, (source_role, rows) in self._where.items():
            inputs = self._pairs[source_role][0]
            kept, labels = self._encoded[source_role]
            if inputs.ndim == 3:
                inputs = inputs[..., None]
            picked = kept[rows]
            datasets[role] = tf.data.Dataset.from_tensor_slices((inputs[picked], labels[picked]))
        return datasets

    def preprocess(self, x):
        return scaled(x, self.options.divide_by)

    def keras_preprocess(self, inputs):
        return scaling_layer(self.options.divide_by)(inputs)

    def preprocessing_notes(self) -> list[str]:
        return scaling_notes(self.options.divide_by)

    @cached_property
    def _pairs(self) -> dict:
        import numpy as np

        path = find_file(self.options.path, self.options.data_dir)
        try:
            archive = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise RecipeError(f"cannot read {path} as a NumPy .npz file: {err}.", where="data.path") from None
        pairs = {}
        for role, keys in (("train", self.options.train), ("test", self.options.test)):
            if keys is None:
                continue
            for key in (keys.inputs, keys.labels):
                if key not in archive.files:
                    raise RecipeError(f"{path} has no array '{key}'.{did_you_mean(key, archive.files)}",
                                      where=f"data.{role}", fix=f"arrays in the file: {', '.join(archive.files)}")
            inputs, labels = archive[keys.inputs], archive[keys.labels]
            if len(inputs) != len(labels):
                raise RecipeError(f"'{keys.inputs}' has {len(inputs)} rows but '{keys.labels}' has {len(labels)}.",
                                  where=f"data.{role}", fix="pair each inputs array with its own labels")
            if labels.dtype.kind in "iu" and len(labels) and labels.min() < 0:
                raise RecipeError(f"'{keys.labels}' holds a negative class id ({labels.min()}).", where=f"data.{role}")
            pairs[role] = (inputs, labels)
        return pairs

    @cached_property
    def _labels_are(self) -> str:
        """'class_ids', 'multi_hot' or 'values' (Signature.labels), from the training labels."""
        labels = self._pairs["train"][1]
        if not self.task.has_classes or labels.dtype.kind not in "iub":
            return "values"
        if labels.ndim == 1:
            return "class_ids"
        if labels.ndim != 2:
            raise RecipeError(f"'{self.options.train.labels}' has shape {labels.shape}; class labels are N ids or "
                              "N x C multi-hot rows.", where="data.train.labels")
        for role, (_, other) in self._pairs.items():
            keys = getattr(self.options, role)
            if other.shape[1:] != labels.shape[1:]:
                raise RecipeError(f"'{keys.labels}' has shape {other.shape}, the training labels {labels.shape}.",
                                  where=f"data.{role}.labels", fix="give every split's labels the same columns")
            bad = (other != 0) & (other != 1)
            if bad.any():
                row, column = (int(i[0]) for i in bad.nonzero())
                raise RecipeError(
                    f"'{keys.labels}' is a 2-D (multi-hot) label array, but row {row}, column {column} holds "
                    f"{other[row, column]}: multi-hot labels are 0 or 1.",
                    where=f"data.{role}.labels", fix="give 0/1 rows, one column per class, or 1-D class ids",
                )
        return "multi_hot"

    @cached_property
    def _selection(self):
        """The classes kept (data.classes) out of '0'..'N-1': class ids or multi-hot columns."""
        labels = [pair[1] for pair in self._pairs.values()]
        if self._labels_are == "multi_hot":
            count = labels[0].shape[1]
        else:
            count = max(int(y.max()) for y in labels if len(y)) + 1
        return select_classes([str(i) for i in range(count)], self.options.classes,
                              of=f"the labels '{self.options.train.labels}' ({self._labels_are.replace('_', ' ')})")

    @cached_property
    def _encoded(self) -> dict:
        """'train' / 'test' -> (rows data.classes keeps, every row's label as the model sees it).

        Class ids are renumbered (-1: left out); multi-hot rows keep the chosen columns and
        every row; values stay as they are.
        """
        import numpy as np

        encoded = {}
        for role, (_, labels) in self._pairs.items():
            if self._labels_are == "class_ids":
                ids = self._selection.relabel(labels)
                encoded[role] = (np.flatnonzero(ids >= 0), ids)
            elif self._labels_are == "multi_hot":
                encoded[role] = (np.arange(len(labels)), self._selection.columns(labels))
            else:
                encoded[role] = (np.arange(len(labels)), labels)
        return encoded

    @cached_property
    def _where(self) -> dict:
        """role -> (which arrays, positions among that array's kept rows)."""
        kept, labels = self._encoded["train"]
        test = self._encoded.get("test")
        labels = labels[kept]
        # Stratify by class only where the labels are classes (not regression targets).
        split = self.options.split.model_copy(update={
            "stratify": self.options.split.stratify and self._labels_are != "values"})
        if self._labels_are == "multi_hot":
            note = why_not_stratified(labels, split)
            if note:
                self.notes.append(note)
                split = split.model_copy(update={"stratify": False})
        return split_arrays(labels, None if test is None else len(test[0]), split)

    @property
    def _rows(self) -> dict:
        return {role: rows for role, (_, rows) in self._where.items()}
