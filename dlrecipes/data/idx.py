"""Arrays in the IDX format, MNIST's own files (`train-images-idx3-ubyte.gz`, ...).

IDX (LeCun et al., http://yann.lecun.com/exdb/mnist/): a big-endian header - two zero
bytes, a type code, the number of dimensions, each dimension's size - then the values.
Files may be gzipped. Images of N x H x W become (H, W, 1) uint8 examples, exactly as
the tfds data, so the same recipes and pipeline apply; labels are the class ids.

The test split comes from its own files; the validation split is a seeded, stratified
fraction of the training files.
"""

from __future__ import annotations

import dataclasses
import gzip
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveFloat

from dlrecipes.data.files import find_file, is_present
from dlrecipes.data.pipeline import scaled
from dlrecipes.data.registry import Signature, register_source
from dlrecipes.data.splits import FractionSplits, split_indices
from dlrecipes.errors import RecipeError
from dlrecipes.schema import Section

# IDX type codes and the NumPy types they hold (big-endian).
TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class IdxPair(Section):
    images: str = Field(..., description="IDX file of the inputs (N x H x W [x C]).")
    labels: str = Field(..., description="IDX file of the labels (N).")


class IdxOptions(Section):
    source: Literal["idx"]
    data_dir: str | None = Field(None, description="Folder the files are under (also --data-dir, DLRECIPES_DATA_DIR).")
    train: IdxPair
    test: IdxPair
    validation: float = Field(0.1, ge=0.0, lt=1.0, description="Fraction of the training files held out to watch training.")
    seed: int = Field(0, description="Seed of the validation cut (stratified by class).")
    classes: list[str] | None = Field(None, description="Class names in id order; '0'..'N-1' when omitted.")
    divide_by: PositiveFloat | None = Field(None, description="Inputs are divided by this, in training and in exports.")


def read_header(path: Path):
    """(dtype, shape) from an IDX file's header, without reading its values."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            head = f.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in TYPES:
                raise RecipeError(f"{path} is not an IDX file (bad header).", where=str(path),
                                  fix="give MNIST-style IDX files, gzipped or not")
            dims = f.read(4 * head[3])
    except (OSError, EOFError) as err:
        raise RecipeError(f"cannot read {path}: {err}.", where=str(path), fix="check the file (a truncated download?)") from None
    shape = tuple(int.from_bytes(dims[4 * i: 4 * i + 4], "big") for i in range(head[3]))
    return TYPES[head[2]], shape


def read_idx(path: Path):
    """The array an IDX file holds; a RecipeError naming the file when it is not one."""
    import numpy as np

    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:
        raise RecipeError(f"cannot read {path}: {err}.", where=str(path), fix="check the file (a truncated download?)") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in TYPES:
        raise RecipeError(f"{path} is not an IDX file (bad header).", where=str(path),
                          fix="give MNIST-style IDX files, gzipped or not")
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    dtype = np.dtype(TYPES[data[2]])
    body = data[4 + 4 * dims:]
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(body) != expected:
        raise RecipeError(f"{path} holds {len(body)} bytes of values, its header promises {expected}.",
                          where=str(path), fix="the file is truncated or corrupt; fetch it again")
    return np.frombuffer(body, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


@register_source("idx", IdxOptions)
class IdxSource:
    def __init__(self, options: IdxOptions):
        self.options = options

    def _files(self):
        o = self.options
        return {role: (pair.images, pair.labels) for role, pair in (("train", o.train), ("test", o.test))}

    def is_local(self) -> bool:
        return all(is_present(p, self.options.data_dir) for pair in self._files().values() for p in pair)

    def signature(self) -> Signature:
        """From the images' header and the labels alone (cheap: `list` and `describe`)."""
        import numpy as np

        o = self.options
        dtype, shape = read_header(find_file(o.train.images, o.data_dir, where="data.train.images"))
        num_classes = max(int(labels.max()) for labels in self._labels.values()) + 1
        names = tuple(o.classes) if o.classes else tuple(str(i) for i in range(num_classes))
        if len(names) < num_classes:
            raise RecipeError(f"the labels go up to {num_classes - 1}, but data.classes names only {len(names)} classes.",
                              where="data.classes", fix="name every class, in id order")
        example = shape[1:] + ((1,) if len(shape) == 3 else ())
        return Signature(tuple(int(d) for d in example), str(np.dtype(dtype).newbyteorder("=")), len(names), names)

    def train_signature(self) -> Signature:
        sizes = {role: len(rows) for role, rows in self._train_rows.items()}
        sizes["test"] = len(self._arrays["test"][1])
        return dataclasses.replace(self.signature(), split_sizes=sizes)

    def load(self) -> dict:
        import tensorflow as tf

        images, labels = self._arrays["train"]
        datasets = {}
        for role, rows in self._train_rows.items():
            datasets[role] = tf.data.Dataset.from_tensor_slices((self._shaped(images[rows]), labels[rows]))
        test_images, test_labels = self._arrays["test"]
        datasets["test"] = tf.data.Dataset.from_tensor_slices((self._shaped(test_images), test_labels))
        return datasets

    def preprocess(self, x):
        return scaled(x, self.options.divide_by)

    # -- reading --------------------------------------------------------------------------

    @staticmethod
    def _shaped(images):
        return images[..., None] if images.ndim == 3 else images

    @cached_property
    def _labels(self) -> dict:
        """'train' / 'test' -> class ids, read once for the signature and the data."""
        labels = {}
        for role, (_, labels_file) in self._files().items():
            ids = read_idx(find_file(labels_file, self.options.data_dir, where=f"data.{role}.labels")).astype("int64")
            if not len(ids):
                raise RecipeError(f"{labels_file} holds no labels.", where=f"data.{role}.labels",
                                  fix="give the labels file that belongs to the images")
            if ids.min() < 0:
                raise RecipeError(f"{labels_file} holds a negative label ({ids.min()}).", where=f"data.{role}.labels")
            labels[role] = ids
        return labels

    @cached_property
    def _arrays(self) -> dict:
        arrays = {}
        for role, (images_file, labels_file) in self._files().items():
            images = read_idx(find_file(images_file, self.options.data_dir, where=f"data.{role}.images"))
            labels = self._labels[role]
            if len(images) != len(labels):
                raise RecipeError(f"{images_file} has {len(images)} examples but {labels_file} has {len(labels)} labels.",
                                  where=f"data.{role}", fix="pair each images file with its own labels file")
            arrays[role] = (images, labels)
        return arrays

    @cached_property
    def _train_rows(self) -> dict:
        labels = self._arrays["train"][1]
        if not self.options.validation:
            return {"train": list(range(len(labels)))}
        # No test fraction: the test split has its own files.
        splits = FractionSplits.model_construct(validation=self.options.validation, test=0.0,
                                                seed=self.options.seed, stratify=True)
        return split_indices(labels, splits)
