"""Arrays saved with NumPy (`np.savez`): inputs and labels by key.

The Keras datasets' layout (`x_train`, `y_train`, `x_test`, `y_test`) works as it is;
any other key names are given in the recipe. Without test arrays, the test split - and
always the validation split - are seeded fractions of the training arrays, stratified by
class when the labels are integers. Images of N x H x W get a channel axis, as tfds'.
"""

from __future__ import annotations

import dataclasses
from functools import cached_property
from typing import Literal

from pydantic import Field, PositiveFloat

from dlrecipes.data.files import find_file, is_present
from dlrecipes.data.pipeline import scaled
from dlrecipes.data.registry import Signature, register_source
from dlrecipes.data.splits import FractionSplits, split_arrays
from dlrecipes.errors import RecipeError, did_you_mean
from dlrecipes.schema import Section


class ArrayKeys(Section):
    inputs: str = Field(..., description="Key of the inputs array (N x ...).")
    labels: str = Field(..., description="Key of the labels array (N).")


class NpzOptions(Section):
    source: Literal["npz"]
    path: str = Field(..., description="The .npz file; relative paths under data_dir / DLRECIPES_DATA_DIR / '.'.")
    data_dir: str | None = Field(None, description="Folder that holds `path` (also --data-dir).")
    train: ArrayKeys = ArrayKeys(inputs="x_train", labels="y_train")
    test: ArrayKeys | None = Field(ArrayKeys(inputs="x_test", labels="y_test"),
                                   description="Test arrays; null to cut the test split from the training arrays.")
    split: FractionSplits = FractionSplits(validation=0.1, test=0.2)
    classes: list[str] | None = Field(None, description="Class names in id order.")
    divide_by: PositiveFloat | None = Field(None, description="Inputs are divided by this, in training and in exports.")


@register_source("npz", NpzOptions)
class NpzSource:
    task = None

    def __init__(self, options: NpzOptions):
        self.options = options

    def is_local(self) -> bool:
        return is_present(self.options.path, self.options.data_dir)

    def signature(self) -> Signature:
        inputs, labels = self._pairs["train"]
        shape = inputs.shape[1:] + ((1,) if inputs.ndim == 3 else ())
        if self.task == "regression" or labels.dtype.kind == "f":
            return Signature(tuple(int(d) for d in shape), str(inputs.dtype), 1 if labels.ndim == 1 else int(labels.shape[1]))
        count = int(max(int(labels.max()), *(int(pair[1].max()) for pair in self._pairs.values()))) + 1
        names = tuple(self.options.classes) if self.options.classes else tuple(str(i) for i in range(count))
        if len(names) < count:
            raise RecipeError(f"a label is {count - 1}, outside the {len(names)} classes of data.classes.",
                              where="data.classes", fix="name every class, in id order, or fix the labels")
        return Signature(tuple(int(d) for d in shape), str(inputs.dtype), len(names), names)

    def train_signature(self) -> Signature:
        sizes = {role: len(rows) for role, rows in self._rows.items()}
        return dataclasses.replace(self.signature(), split_sizes=sizes)

    def load(self) -> dict:
        import tensorflow as tf

        datasets = {}
        for role, (source_role, rows) in self._where.items():
            inputs, labels = self._pairs[source_role]
            if inputs.ndim == 3:
                inputs = inputs[..., None]
            datasets[role] = tf.data.Dataset.from_tensor_slices((inputs[rows], labels[rows]))
        return datasets

    def preprocess(self, x):
        return scaled(x, self.options.divide_by)

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
            if labels.dtype.kind in "iu" and labels.min() < 0:
                raise RecipeError(f"'{keys.labels}' holds a negative class id ({labels.min()}).", where=f"data.{role}")
            pairs[role] = (inputs, labels)
        return pairs

    @cached_property
    def _where(self) -> dict:
        """role -> (which arrays, row indices)."""
        labels = self._pairs["train"][1]
        test = self._pairs.get("test")
        # Stratify by class only where the labels are class ids (not regression targets).
        split = self.options.split.model_copy(update={"stratify": self.options.split.stratify and labels.dtype.kind in "iu"})
        return split_arrays(labels, None if test is None else len(test[1]), split)

    @property
    def _rows(self) -> dict:
        return {role: rows for role, (_, rows) in self._where.items()}
