"""Arrays in the IDX format, MNIST's own files (`train-images-idx3-ubyte.gz`, ...).

IDX (LeCun et al., http://yann.lecun.com/exdb/mnist/): a big-endian header - two zero
bytes, a type code, the number of dimensions, each dimension's size - then the values.
Files may be gzipped. Images of N x H x W become (H, W, 1) uint8 examples, exactly as
the tfds data, so the same recipes and pipeline apply; labels are the class ids, named
'0'..'N-1' (`classes` picks among them). Both must be unsigned bytes (type 0x08), as
MNIST's are: read as anything else (int8 wraps pixels over 127 to negative values) an
image trains to a fraction of its accuracy without any error, so other types are refused.

The test split comes from its own files; the validation split is a seeded, stratified
fraction of the training files, or one of their `folds` (a cross-validation).
"""

from __future__ import annotations

import gzip
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveFloat, model_validator

from dlrecipes.data.files import find_file, is_present
from dlrecipes.data.pipeline import scaled, scaling_layer, scaling_notes
from dlrecipes.data.registry import Signature, register_source
from dlrecipes.data.splits import (
    CLASSES_HELP,
    FOLD_HELP,
    FOLDS_HELP,
    Folds,
    FractionSplits,
    check_fold,
    check_training_classes,
    select_classes,
    split_indices,
)
from dlrecipes.errors import RecipeError
from dlrecipes.schema import Section, Seed

# IDX type codes and the NumPy types they hold (big-endian).
TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
UNSIGNED_BYTE = 0x08  # the one type images and labels may have


class IdxPair(Section):
    images: str = Field(..., description="IDX file of the inputs (N x H x W [x C]).")
    labels: str = Field(..., description="IDX file of the labels (N).")


class IdxOptions(Section):
    source: Literal["idx"]
    data_dir: str | None = Field(None, description="Folder the files are under (also --data-dir, DLRECIPES_DATA_DIR).")
    train: IdxPair
    test: IdxPair
    validation: float = Field(0.1, ge=0.0, lt=1.0, description="Fraction of the training files held out to watch training.")
    seed: Seed = Field(0, description="Seed of the validation cut (stratified by class).")
    folds: Folds | None = Field(None, description=FOLDS_HELP)
    fold: int | None = Field(None, ge=1, description=FOLD_HELP)
    classes: list[str] | None = Field(None, description=f"Label ids, as '0'..'N-1'. {CLASSES_HELP}")
    divide_by: PositiveFloat | None = Field(None, description="Inputs are divided by this, in training and in exports.")

    @model_validator(mode="after")
    def _fold_of_folds(self):
        check_fold(self.folds, self.fold)
        return self


def read_header(path: Path):
    """(type code, shape) from an IDX file's header, without reading its values."""
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
    return head[2], shape


def require_bytes(path: Path, code: int, shape: tuple, ndims: tuple[int, ...], what: str, where: str) -> None:
    """Refuse an IDX file of `what` that does not hold unsigned bytes in `ndims` dimensions."""
    import numpy as np

    if code != UNSIGNED_BYTE:
        raise RecipeError(
            f"{path} holds IDX type 0x{code:02X} ({np.dtype(TYPES[code]).name}); {what} must be unsigned bytes, "
            "type 0x08 (uint8).",
            where=f"{path} ({where})",
            fix="write the file with type byte 0x08 and values 0..255 (as MNIST's files are), or save other "
                "types with numpy and use the npz source",
        )
    if len(shape) not in ndims:
        raise RecipeError(f"{path} has {len(shape)} dimensions {shape}; {what} take {' or '.join(map(str, ndims))}.",
                          where=f"{path} ({where})", fix=f"give the IDX file of the {what}")


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
    def __init__(self, options: IdxOptions, task):
        self.options = options
        self.task = task

    def splits(self) -> tuple[str, ...]:
        return ("train", "validation", "test") if self.options.validation or self.options.folds else ("train", "test")

    def why_no_folds(self) -> str | None:
        return None  # every example is in memory: folds are rows of the training data

    def _files(self):
        o = self.options
        return {role: (pair.images, pair.labels) for role, pair in (("train", o.train), ("test", o.test))}

    def is_local(self) -> bool:
        return all(is_present(p, self.options.data_dir) for pair in self._files().values() for p in pair)

    def signature(self) -> Signature:
        """From the images' headers and the labels alone (cheap: `list` and `describe`)."""
        shapes = {}
        for role, (images_file, _) in self._files().items():
            path = find_file(images_file, self.options.data_dir, where=f"data.{role}.images")
            code, shape = read_header(path)
            require_bytes(path, code, shape, (3, 4), "images", f"data.{role}.images")
            shapes[role] = shape
        example = shapes["train"][1:] + ((1,) if len(shapes["train"]) == 3 else ())
        sizes = {role: len(rows) for role, rows in self._train_rows.items()}
        sizes["test"] = int((self._ids["test"] >= 0).sum())
        names = self._selection.names
        return Signature(tuple(int(d) for d in example), "uint8", len(names), names, sizes)

    def train_signature(self) -> Signature:
        """The signature, once every file has been read whole and checked against it."""
        import numpy as np

        signature = self.signature()
        self._arrays  # noqa: B018 - read now, so a corrupt file stops training before it starts
        train = self._ids["train"][self._train_rows["train"]]
        check_training_classes(self.task, np.bincount(train, minlength=len(signature.class_names)),
                               signature.class_names, where=f"{self.options.train.labels} (data.train.labels)",
                               fix="give training files with examples of every class")
        return signature

    def load(self) -> dict:
        import tensorflow as tf

        self.signature()  # the files' types, checked before any is read whole
        images = self._arrays["train"]
        datasets = {}
        for role, rows in self._train_rows.items():
            datasets[role] = tf.data.Dataset.from_tensor_slices((self._shaped(images[rows]), self._ids["train"][rows]))
        test_rows = (self._ids["test"] >= 0).nonzero()[0]
        datasets["test"] = tf.data.Dataset.from_tensor_slices(
            (self._shaped(self._arrays["test"][test_rows]), self._ids["test"][test_rows]))
        return datasets

    def preprocess(self, x):
        return scaled(x, self.options.divide_by)

    def keras_preprocess(self, inputs):
        return scaling_layer(self.options.divide_by)(inputs)

    def preprocessing_notes(self) -> list[str]:
        return scaling_notes(self.options.divide_by)

    # -- reading --------------------------------------------------------------------------

    @staticmethod
    def _shaped(images):
        return images[..., None] if images.ndim == 3 else images

    @cached_property
    def _labels(self) -> dict:
        """'train' / 'test' -> class ids, read once for the signature and the data."""
        labels = {}
        for role, (_, labels_file) in self._files().items():
            path = find_file(labels_file, self.options.data_dir, where=f"data.{role}.labels")
            code, shape = read_header(path)
            require_bytes(path, code, shape, (1,), "labels", f"data.{role}.labels")
            ids = read_idx(path).astype("int64")
            if not len(ids):
                raise RecipeError(f"{labels_file} holds no labels.", where=f"data.{role}.labels",
                                  fix="give the labels file that belongs to the images")
            labels[role] = ids
        return labels

    @cached_property
    def _selection(self):
        """The classes kept (data.classes) out of the ids the labels use, '0'..'N-1'."""
        count = max(int(labels.max()) for labels in self._labels.values()) + 1
        files = dict.fromkeys([self.options.train.labels, self.options.test.labels])  # once when the same
        return select_classes([str(i) for i in range(count)], self.options.classes,
                              of=f"the labels in {' and '.join(files)}")

    @cached_property
    def _ids(self) -> dict:
        """'train' / 'test' -> each example's class id after data.classes, -1: left out."""
        return {role: self._selection.relabel(labels) for role, labels in self._labels.items()}

    @cached_property
    def _arrays(self) -> dict:
        """'train' / 'test' -> the images, each file read whole and checked against its labels."""
        arrays = {}
        for role, (images_file, labels_file) in self._files().items():
            images = read_idx(find_file(images_file, self.options.data_dir, where=f"data.{role}.images"))
            if len(images) != len(self._labels[role]):
                raise RecipeError(f"{images_file} has {len(images)} examples but {labels_file} has "
                                  f"{len(self._labels[role])} labels.",
                                  where=f"data.{role}", fix="pair each images file with its own labels file")
            arrays[role] = images
        if arrays["test"].shape[1:] != arrays["train"].shape[1:]:
            raise RecipeError(f"the test images are {arrays['test'].shape[1:]}, the training images "
                              f"{arrays['train'].shape[1:]}.", where="data.test.images",
                              fix="give test images of the training images' size")
        return arrays

    @cached_property
    def _train_rows(self) -> dict:
        """role -> rows of the training files: the kept examples, the validation fraction cut off."""
        import numpy as np

        ids = self._ids["train"]
        rows = np.flatnonzero(ids >= 0)
        if not self.options.validation and not self.options.folds:
            return {"train": rows}
        # No test fraction: the test split has its own files.
        splits = FractionSplits.model_construct(validation=self.options.validation, test=0.0,
                                                seed=self.options.seed, stratify=True,
                                                folds=self.options.folds, fold=self.options.fold)
        return {role: rows[picked] for role, picked in split_indices(ids[rows], splits).items()}
