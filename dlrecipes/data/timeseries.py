"""A column of a CSV file as a time series, cut into windows: the past `window` values
predict the value `horizon` steps after the last of them.

The series is split by time - the first part trains, the next validates, the last tests -
and windows are cut inside each part, so no window reads across a boundary and nothing
from the future leaks into training. Windows are shuffled within the training part only.
(`keras.utils.timeseries_dataset_from_array` cuts them.) The naive forecast, "the same as
the last value seen", is the baseline a model must beat; `naive_mae` computes it on the
test part.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Literal

from pydantic import Field, PositiveInt, model_validator

from dlrecipes.data.files import csv_records, find_file, is_present
from dlrecipes.data.registry import Signature, register_source
from dlrecipes.data.splits import Folds
from dlrecipes.errors import RecipeError, did_you_mean
from dlrecipes.schema import Section


class TimeSplits(Section):
    validation: float = Field(0.1, ge=0.0, lt=1.0, description="Fraction of the series after the training part.")
    test: float = Field(0.2, gt=0.0, lt=1.0, description="The last fraction of the series.")
    folds: Folds | None = Field(None, description="Not for a time series: folds would leak the future (see `validate`).")

    @model_validator(mode="after")
    def _leaves_training_data(self):
        if self.validation + self.test >= 1.0:
            raise ValueError(f"validation ({self.validation}) + test ({self.test}) leave nothing to train on")
        return self


class TimeseriesOptions(Section):
    source: Literal["timeseries"]
    path: str = Field(..., description="CSV file with a header; relative paths under data_dir / DLRECIPES_DATA_DIR / '.'.")
    data_dir: str | None = Field(None, description="Folder that holds `path` (also --data-dir).")
    column: str = Field(..., description="The column holding the series (numbers, in time order).")
    window: PositiveInt = Field(30, description="Past values each prediction sees.")
    horizon: PositiveInt = Field(1, description="How many steps after the window's last value the target lies.")
    split: TimeSplits = TimeSplits()


@register_source("timeseries", TimeseriesOptions)
class TimeseriesSource:
    def __init__(self, options: TimeseriesOptions, task):
        self.options = options
        self.task = task

    def splits(self) -> tuple[str, ...]:
        return ("train", "validation", "test") if self.options.split.validation else ("train", "test")

    def why_no_folds(self) -> str | None:
        return ("folds would leak the future: every fold but the last would be validated by a model trained on "
                "values that come after it, so the scores would be better than any forecast can be; a series "
                "is split by time (data.split.validation, data.split.test)")

    def is_local(self) -> bool:
        return is_present(self.options.path, self.options.data_dir)

    def signature(self) -> Signature:
        """Windows of one feature; one regression output. A series is small, so where the
        file is here it is read, and its column, values and part lengths checked with the
        recipe; where it is not, the shape alone (the model can still be described)."""
        if self.is_local():
            return self.train_signature()
        return Signature((self.options.window, 1), "float32", 1, labels="values")

    def train_signature(self) -> Signature:
        sizes = {role: max(0, len(part) - self.options.window - self.options.horizon + 1)
                 for role, part in self._parts.items()}
        return Signature((self.options.window, 1), "float32", 1, None, sizes, labels="values")

    def load(self) -> dict:
        import keras
        import numpy as np
        import tensorflow as tf

        o = self.options
        datasets = {}
        for role, part in self._parts.items():
            values = np.asarray(part, dtype="float32")
            inputs = values[:-o.horizon, None]
            targets = values[o.window + o.horizon - 1:]
            windows = keras.utils.timeseries_dataset_from_array(
                inputs, targets, sequence_length=o.window, batch_size=1024, shuffle=False)
            count = len(values) - o.window - o.horizon + 1
            # unbatch() forgets the size; the pipeline counts epochs by it.
            datasets[role] = windows.unbatch().apply(tf.data.experimental.assert_cardinality(count))
        return datasets

    def preprocess(self, x):
        return x  # scale with model.normalize: statistics of the training part, inside the model

    def keras_preprocess(self, inputs):
        return inputs

    def client_info(self) -> dict:
        """What a client of an export needs: which column holds the series, how many
        consecutive values make a window, and how far past its end the prediction lies."""
        o = self.options
        return {"column": o.column, "window": o.window, "horizon": o.horizon}

    def naive_mae(self) -> float:
        """MAE of predicting each test target as the window's last value."""
        o = self.options
        test = self._parts["test"]
        pairs = [(test[i + o.window - 1], test[i + o.window + o.horizon - 1])
                 for i in range(len(test) - o.window - o.horizon + 1)]
        return sum(abs(last - target) for last, target in pairs) / len(pairs)

    # -- reading --------------------------------------------------------------------------

    @cached_property
    def _series(self) -> list[float]:
        o = self.options
        path = find_file(o.path, o.data_dir)
        records = csv_records(path, "data.path")
        _, header = next(records, (1, []))
        if o.column not in header:
            raise RecipeError(
                f"{path} has no column '{o.column}'.{did_you_mean(o.column, header)}",
                where="data.column", fix=f"use one of: {', '.join(header)}",
            )
        index = header.index(o.column)
        values = []
        for line, row in records:
            try:
                value = float(row[index])
                if not math.isfinite(value):  # 'nan' and 'inf' parse, then train to NaN
                    raise ValueError(value)
                values.append(value)
            except (ValueError, IndexError):
                raise RecipeError(
                    f"line {line} of {path}: '{o.column}' is not a number ({row[index] if index < len(row) else 'missing'!r}).",
                    where=f"{path}, line {line}, column '{o.column}'", fix="a series column holds one number per row",
                ) from None
        return values

    @cached_property
    def _parts(self) -> dict[str, list[float]]:
        o = self.options
        n = len(self._series)
        n_test, n_validation = round(n * o.split.test), round(n * o.split.validation)
        n_train = n - n_test - n_validation
        parts = {"train": self._series[:n_train],
                 "validation": self._series[n_train:n_train + n_validation],
                 "test": self._series[n_train + n_validation:]}
        needed = o.window + o.horizon
        for role, part in parts.items():
            if role == "validation" and not o.split.validation:
                continue
            if len(part) < needed:
                raise RecipeError(
                    f"the {role} part of the series has {len(part)} values, fewer than one window "
                    f"({o.window}) plus the horizon ({o.horizon}).",
                    where="data.window / data.split",
                    fix="use a shorter window, a larger fraction for that part, or a longer series",
                )
        if not o.split.validation:
            del parts["validation"]
        return parts
