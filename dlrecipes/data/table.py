"""A CSV table with a header: one column is the target, the others are features.

Numeric columns are standardised and categorical ones one-hot encoded by Keras
preprocessing layers inside the model (`Normalization`, `StringLookup`), with statistics
and vocabularies from the training split only, so an exported model takes raw rows - one
value per column - and the same rows give the same predictions everywhere. A column is
categorical when the recipe says so (`categorical`) or when none of its values is a
number. A column of numbers with one cell that is not a number (a typo, 'NA', a stray
byte) is refused, naming the line: guessing "categorical" there would silently turn an
amount into a one-hot block of every value it takes.

The target column holds classes for a classification task (its sorted values, or
`classes`: those values in that order, the rows of other values left out) and numbers for
a regression. Rows are split by fractions with a fixed seed, stratified by class for
classification, or into folds (`split.folds`) the same way.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Literal

from pydantic import Field

from dlrecipes.data.files import csv_records, find_file, is_present
from dlrecipes.data.registry import Signature, register_source
from dlrecipes.data.splits import (
    CLASSES_HELP,
    ClassSelection,
    FractionSplits,
    check_training_classes,
    select_classes,
    split_indices,
)
from dlrecipes.errors import RecipeError, did_you_mean
from dlrecipes.schema import Section


class CsvOptions(Section):
    source: Literal["csv"]
    path: str = Field(..., description="The CSV file (with a header); relative paths under data_dir / DLRECIPES_DATA_DIR / '.'.")
    data_dir: str | None = Field(None, description="Folder that holds `path` (also --data-dir).")
    target: str = Field(..., description="The column to predict.")
    features: list[str] | None = Field(None, description="Feature columns; every other column when omitted.")
    exclude: list[str] = Field([], description="Columns never used as features.")
    categorical: list[str] = Field([], description=(
        "Columns whose values are categories (codes, not amounts), one-hot encoded; needed where some look like numbers."))
    classes: list[str] | None = Field(None, description=f"Classification: target values. {CLASSES_HELP}")
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
    def __init__(self, options: CsvOptions, task):
        self.options = options
        self.task = task

    def splits(self) -> tuple[str, ...]:
        o = self.options
        has_validation = o.validation_path is not None or o.split.has_validation
        return ("train", "validation", "test") if has_validation else ("train", "test")

    def why_no_folds(self) -> str | None:
        if self.options.validation_path is not None:
            return ("the validation rows come from their own file (data.validation_path), and folds take them "
                    "from the training rows: remove data.validation_path to cross-validate")
        return None

    @property
    def classification(self) -> bool:
        return self.task.has_classes

    def is_local(self) -> bool:
        return is_present(self.options.path, self.options.data_dir)

    def signature(self) -> Signature:
        """From the file itself: reading a table is cheap, so the split sizes are known too."""
        columns = self._columns
        width = sum(1 if kind == "numeric" else len(kind) + 1 for kind in columns.values())  # + out-of-vocabulary
        names = self._classes.names if self._classes else None
        sizes = {role: len(rows) for role, rows in self._indices.items()}
        return Signature((width,), "float32", len(names) if names else 1, names, split_sizes=sizes,
                         columns=columns, labels="class_ids" if names else "values")

    def train_signature(self) -> Signature:
        signature = self.signature()
        if self._classes:
            import numpy as np

            train = np.asarray(self._labels)[self._indices["train"]]
            check_training_classes(self.task, np.bincount(train, minlength=len(signature.class_names)),
                                   signature.class_names, where=f"{self._path} (data.path, data.split)",
                                   fix="the training rows come from data.path: give it examples of every class "
                                       "(and keep data.split.stratify on)")
        return signature

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

    def keras_preprocess(self, inputs):
        """`preprocess` of Keras layers: each (batch,) column input to (batch, 1)."""
        import keras

        return {name: keras.layers.Reshape((1,), name=f"{name}_column")(value) for name, value in inputs.items()}

    def client_info(self) -> dict:
        """What a client of an export needs besides the feature columns (which the run's
        signature records: `Signature.columns`): the target column. From the options alone,
        so a run exports and predicts without its data file."""
        return {"target": self.options.target}

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
    def _read(path, where: str) -> tuple[list[str], list[list[str]], list[int]]:
        """The header, the rows and the line each row starts on (blank lines skipped)."""
        table = [(line, row) for line, row in csv_records(path, where) if row]
        if len(table) < 2:
            raise RecipeError(f"{path} has no rows under its header.", where=where)
        header = [h.strip() for h in table[0][1]]
        for line, row in table[1:]:
            if len(row) != len(header):
                raise RecipeError(f"line {line} of {path} has {len(row)} fields, the header {len(header)}.",
                                  where=f"{path}, line {line}", fix="every row needs one value per column")
        return header, [row for _, row in table[1:]], [line for line, _ in table[1:]]

    @cached_property
    def _table(self) -> tuple[list[str], list[list[str]]]:
        """The header and every row: the main file's, then the validation and test files'."""
        o = self.options
        self._path = find_file(o.path, o.data_dir)
        header, rows, lines = self._read(self._path, "data.path")
        self._origins = [(self._path, line) for line in lines]  # row -> (file, line), for errors
        self._file_rows = {}  # role -> row indices from its own file
        for role, path in (("validation", o.validation_path), ("test", o.test_path)):
            if path is None:
                continue
            full = find_file(path, o.data_dir, where=f"data.{role}_path")
            other, more, lines = self._read(full, f"data.{role}_path")
            if other != header:
                raise RecipeError(f"{full}'s header differs from {self._path}'s.", where=f"data.{role}_path",
                                  fix="give every file the same columns, in the same order")
            self._file_rows[role] = list(range(len(rows), len(rows) + len(more)))
            self._origins += [(full, line) for line in lines]
            rows = rows + more
        return header, rows

    def _at(self, row: int) -> str:
        """Where row `row` is, as 'line N of FILE'."""
        path, line = self._origins[row]
        return f"line {line} of {path}"

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
        if not names:
            raise RecipeError(
                f"no feature columns are left: the header has {', '.join(header)}; the target and "
                "data.exclude take them all.", where="data.exclude",
                fix="exclude fewer columns, or name the features with data.features",
            )
        train = self._indices["train"]
        columns = {}
        for name in names:
            j = header.index(name)
            if name in o.categorical or not any(_number(row[j].strip()) is not None for row in rows):
                columns[name] = sorted({rows[i][j].strip() for i in train})
                continue
            self._check_numeric(name, j)
            columns[name] = "numeric"
        return columns

    def _check_numeric(self, name: str, j: int) -> None:
        """Every cell of a column of numbers is a number: the first one that is not is an
        error, whichever file and split it is in (a test row would otherwise read as NaN)."""
        rows = self._table[1]
        blanks = [i for i, row in enumerate(rows) if row[j].strip() == ""]
        if blanks:
            path, line = self._origins[blanks[0]]
            raise RecipeError(f"numeric column '{name}' of {path} is empty on line {line} ({len(blanks)} empty in all).",
                              where=f"{self._at(blanks[0])}, column '{name}'",
                              fix="fill the gaps in the file, or exclude the column (data.exclude)")
        for i, row in enumerate(rows):
            if _number(row[j].strip()) is None:
                example = next(k for k, other in enumerate(rows) if _number(other[j].strip()) is not None)
                raise RecipeError(
                    f"{self._at(i)}: column '{name}' holds {row[j]!r}, which is not a (finite) number, "
                    f"while the column's other values are numbers (e.g. {rows[example][j].strip()!r} on "
                    f"{self._at(example)}).",
                    where=f"{self._at(i)}, column '{name}'",
                    fix=f"fix that cell; if the column's values are categories (codes, not amounts), "
                        f"list it in data.categorical; or leave the column out with data.exclude: [{name}]",
                )

    @cached_property
    def _classes(self) -> ClassSelection | None:
        o = self.options
        if not self.classification:
            if o.classes is not None:
                raise RecipeError(f"data.classes picks classes, and task '{self.task.name}' has none: "
                                  f"its target '{o.target}' holds numbers.", where="data.classes",
                                  fix="remove data.classes, or use a classification task")
            return None
        header, rows = self._table
        j = header.index(o.target)
        found = sorted({row[j].strip() for row in rows}, key=lambda v: (_number(v) is None, _number(v) or 0, v))
        return select_classes(found, o.classes, of=f"the target column '{o.target}' of {self._path}")

    @cached_property
    def _labels(self) -> list:
        """Each row's class id (-1: a class data.classes leaves out), or its target value."""
        header, rows = self._table
        j = header.index(self.options.target)
        if self.classification:
            ids = dict(zip(self._classes.names, range(len(self._classes.names))))
            return [ids.get(row[j].strip(), -1) for row in rows]
        labels = []
        for i, row in enumerate(rows):
            value = _number(row[j])
            if value is None:
                raise RecipeError(
                    f"{self._at(i)}: the regression target '{self.options.target}' is not a number ({row[j]!r}).",
                    where="data.target", fix="a regression target holds numbers; for classes use a classification task",
                )
            labels.append(value)
        return labels

    @cached_property
    def _indices(self) -> dict[str, list[int]]:
        """role -> row indices: the rows data.classes keeps, split (or from their own file)."""
        self._check_columns([self.options.target], "data.target")
        labels = self._labels  # read (and checked) whatever the task
        kept = {i for i, label in enumerate(labels) if not self.classification or label >= 0}
        files = {role: [i for i in rows if i in kept] for role, rows in self._file_rows.items()}
        main_rows = len(labels) - sum(len(rows) for rows in self._file_rows.values())
        main = [i for i in range(main_rows) if i in kept]
        split = self.options.split.model_copy(update={
            "stratify": self.options.split.stratify and self.classification,
            **{role: 0.0 for role in files},  # that split comes from its own file
        })
        indices = split_indices([labels[i] for i in main], split)
        return {**{role: [main[k] for k in rows] for role, rows in indices.items()}, **files}
