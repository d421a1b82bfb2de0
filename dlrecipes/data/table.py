"""A CSV table with a header: one column is the target, the others are features.

Numeric columns are standardised and categorical ones one-hot encoded by Keras
preprocessing layers inside the model (`Normalization`, `StringLookup`), with statistics
and vocabularies from the training split only, so an exported model takes raw rows - one
value per column - and the same rows give the same predictions everywhere. A column is
categorical when the recipe says so or when any of its values is not a number.

The target column holds classes for a classification task (their sorted values, or
`classes` in that order) and numbers for a regression. Rows are split by fractions with a
fixed seed, stratified by class for classification.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from functools import cached_property
from typing import Literal

from pydantic import Field

from dlrecipes.data.files import find_file, is_present
from dlrecipes.data.registry import Signature, register_source
from dlrecipes.data.splits import FractionSplits, split_indices
from dlrecipes.errors import RecipeError, did_you_mean
from dlrecipes.schema import Section


class CsvOptions(Section):
    source: Literal["csv"]
    path: str = Field(..., description="The CSV file (with a header); relative paths under data_dir / DLRECIPES_DATA_DIR / '.'.")
    data_dir: str | None = Field(None, description="Folder that holds `path` (also --data-dir).")
    target: str = Field(..., description="The column to predict.")
    features: list[str] | None = Field(None, description="Feature columns; every other column when omitted.")
    exclude: list[str] = Field([], description="Columns never used as features.")
    categorical: list[str] = Field([], description="Numeric-looking columns to one-hot encode (codes, not amounts).")
    classes: list[str] | None = Field(None, description="Classification: target values in class-id order.")
    validation_path: str | None = Field(None, description="A validation file with the same header; else a fraction of `path`.")
    test_path: str | None = Field(None, description="A test file with the same header; else a fraction of `path`.")
    split: FractionSplits = FractionSplits()


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@register_source("csv", CsvOptions)
class CsvSource:
    task = None

    def __init__(self, options: CsvOptions):
        self.options = options

    @property
    def classification(self) -> bool:
        return self.task != "regression"

    def is_local(self) -> bool:
        return is_present(self.options.path, self.options.data_dir)

    def signature(self) -> Signature:
        columns = self._columns
        width = sum(1 if kind == "numeric" else len(kind) + 1 for kind in columns.values())  # + out-of-vocabulary
        classes = self._classes
        return Signature((width,), "float32", len(classes) if classes else 1,
                         tuple(classes) if classes else None, columns=columns)

    def train_signature(self) -> Signature:
        sizes = {role: len(rows) for role, rows in self._indices.items()}
        return dataclasses.replace(self.signature(), split_sizes=sizes)

    def load(self) -> dict:
        import numpy as np
        import tensorflow as tf

        header, rows = self._table
        datasets = {}
        for role, indices in self._indices.items():
            features = {}
            for name, kind in self._columns.items():
                values = [rows[i][header.index(name)] for i in indices]
                features[name] = (np.array([float(v) if _number(v) is not None else np.nan for v in values], "float32")
                                  if kind == "numeric" else np.array(values, dtype=object))
            labels = np.array([self._labels[i] for i in indices], "int64" if self.classification else "float32")
            datasets[role] = tf.data.Dataset.from_tensor_slices((features, labels))
        return datasets

    def preprocess(self, x):
        """Each column as a (batch, 1) tensor, as the model's inputs take them."""
        import tensorflow as tf

        return {name: tf.reshape(value, (-1, 1)) for name, value in x.items()}

    def baselines(self) -> dict[str, float]:
        """What a model must beat on the test split: the majority class's share
        (classification); the training mean's MAE and a least-squares linear regression's
        MAE on the same encoded columns (regression)."""
        import numpy as np

        header, rows = self._table
        test, train = self._indices["test"], self._indices["train"]
        labels = np.asarray(self._labels, dtype="float64")
        if self.classification:
            majority = np.bincount(labels[train].astype(int)).argmax()
            return {"majority class accuracy": float(np.mean(labels[test] == majority))}

        def encode(indices):
            parts = []
            for name, kind in self._columns.items():
                j = header.index(name)
                if kind == "numeric":
                    parts.append(np.array([[float(rows[i][j])] for i in indices]))
                else:
                    parts.append(np.array([[rows[i][j].strip() == v for v in kind] for i in indices], dtype="float64"))
            return np.hstack(parts + [np.ones((len(indices), 1))])

        weights, *_ = np.linalg.lstsq(encode(train), labels[train], rcond=None)
        return {
            "training-mean MAE": float(np.mean(np.abs(labels[test] - labels[train].mean()))),
            "linear regression MAE": float(np.mean(np.abs(encode(test) @ weights - labels[test]))),
        }

    # -- reading --------------------------------------------------------------------------

    @staticmethod
    def _read(path, where: str) -> tuple[list[str], list[list[str]]]:
        try:
            with open(path, newline="", encoding="utf-8") as f:
                table = [row for row in csv.reader(f) if row]
        except (UnicodeDecodeError, IsADirectoryError) as err:
            raise RecipeError(f"cannot read {path} as a UTF-8 CSV file: {type(err).__name__}.", where=where) from None
        if len(table) < 2:
            raise RecipeError(f"{path} has no rows under its header.", where=where)
        header, rows = [h.strip() for h in table[0]], table[1:]
        for number, row in enumerate(rows, start=2):
            if len(row) != len(header):
                raise RecipeError(f"line {number} of {path} has {len(row)} fields, the header {len(header)}.",
                                  where=where, fix="every row needs one value per column")
        return header, rows

    @cached_property
    def _table(self) -> tuple[list[str], list[list[str]]]:
        """The header and every row: the main file's, then the validation and test files'."""
        o = self.options
        self._path = find_file(o.path, o.data_dir)
        header, rows = self._read(self._path, "data.path")
        self._file_rows = {}  # role -> row indices from its own file
        for role, path in (("validation", o.validation_path), ("test", o.test_path)):
            if path is None:
                continue
            full = find_file(path, o.data_dir, where=f"data.{role}_path")
            other, more = self._read(full, f"data.{role}_path")
            if other != header:
                raise RecipeError(f"{full}'s header differs from {self._path}'s.", where=f"data.{role}_path",
                                  fix="give every file the same columns, in the same order")
            self._file_rows[role] = list(range(len(rows), len(rows) + len(more)))
            rows = rows + more
        return header, rows

    def _check_columns(self, names: list[str], where: str) -> None:
        header = self._table[0]
        for name in names:
            if name not in header:
                raise RecipeError(f"{self._path} has no column '{name}'.{did_you_mean(name, header)}",
                                  where=where, fix=f"columns: {', '.join(header)}")

    @cached_property
    def _columns(self) -> dict[str, object]:
        """Each feature column: 'numeric', or its categories (sorted, from the training rows)."""
        o = self.options
        header, rows = self._table
        self._check_columns([o.target], "data.target")
        self._check_columns(o.features or [], "data.features")
        self._check_columns(o.exclude + o.categorical, "data.exclude / data.categorical")
        names = o.features or [h for h in header if h != o.target and h not in o.exclude]
        train = self._indices["train"]
        columns = {}
        for name in names:
            j = header.index(name)
            values = [rows[i][j].strip() for i in train]
            if name in o.categorical or any(_number(v) is None for v in values if v != ""):
                columns[name] = sorted(set(values))
                continue
            blanks = [number for number, row in enumerate(rows, start=2) if row[j].strip() == ""]
            if blanks:
                raise RecipeError(f"numeric column '{name}' of {self._path} is empty on line {blanks[0]} "
                                  f"({len(blanks)} empty in all).", where="data.features",
                                  fix="fill the gaps in the file, or exclude the column (data.exclude)")
            columns[name] = "numeric"
        return columns

    @cached_property
    def _classes(self) -> list[str] | None:
        if not self.classification:
            return None
        header, rows = self._table
        j = header.index(self.options.target)
        found = sorted({row[j].strip() for row in rows}, key=lambda v: (_number(v) is None, _number(v) or 0, v))
        classes = self.options.classes or found
        unknown = [v for v in found if v not in classes]
        if unknown:
            raise RecipeError(f"target values {unknown} are not in data.classes {classes}.", where="data.classes",
                              fix=f"list every value the column holds: {found}")
        return list(classes)

    @cached_property
    def _labels(self) -> list:
        header, rows = self._table
        j = header.index(self.options.target)
        if self.classification:
            ids = {name: i for i, name in enumerate(self._classes)}
            return [ids[row[j].strip()] for row in rows]
        labels = []
        for number, row in enumerate(rows, start=2):
            value = _number(row[j])
            if value is None:
                raise RecipeError(
                    f"line {number} of {self._path}: the regression target '{self.options.target}' is not a number ({row[j]!r}).",
                    where="data.target", fix="a regression target holds numbers; for classes use a classification task",
                )
            labels.append(value)
        return labels

    @cached_property
    def _indices(self) -> dict[str, list[int]]:
        self._check_columns([self.options.target], "data.target")
        labels = self._labels  # read (and checked) whatever the task
        files = self._file_rows
        main = len(labels) - sum(len(rows) for rows in files.values())
        split = self.options.split.model_copy(update={
            "stratify": self.options.split.stratify and self.classification,
            **{role: 0.0 for role in files},  # that split comes from its own file
        })
        indices = split_indices(labels[:main], split)
        return {**indices, **files}
