"""The search space of `dlrecipes tune`: the recipe's `search:` section (or a `--space` file).

Each key is one of the recipe's own dotted paths, each value the range it is searched over:

    search:
      train.optimizer.learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}
      model.dropout: {uniform: [0.0, 0.5]}
      train.epochs: {int: [5, 30], step: 5}
      model.hidden: {choice: [[256, 128], [512, 256]]}

A trial is the recipe with `--set PATH=VALUE` for each key, so a path may create a section
exactly as `--set` would. This module declares the shape of a range and the values that
stand for it (`probes`: what `validate` builds a recipe with to know every value the range
can give is one the schema takes); whether the paths and values fit the recipe is checked in
`dlrecipes.checks.search_problems`, and sampling is Optuna's, in `dlrecipes.tune`. It
imports no implementation.
"""

from __future__ import annotations

import copy
import json
import math
import re
from typing import Any

from pydantic import Field, model_serializer, model_validator

from dlrecipes.errors import did_you_mean, quoted
from dlrecipes.schema import Section

KINDS = ("log_uniform", "uniform", "int", "choice")
OPTIONS = ("step", "log")
MAX_DIMENSIONS = 64
MAX_CHOICES = 1000
MAX_GRID = 100_000  # points a grid search may enumerate
# The sections a search may change: what trains (not the name, the description or the target).
SEARCHABLE = ("task", "data", "model", "train", "runtime")
KEY = re.compile(r"[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*")


class Dimension(Section):
    """One searched key: exactly one of `log_uniform`, `uniform`, `int` (each [low, high],
    both ends included) or `choice` (a list of values), with `step` for uniform and int
    ranges and `log` for int ones."""

    log_uniform: list[float] | None = Field(
        None, min_length=2, max_length=2, description="[low, high], low > 0: sampled evenly in log space (learning rates).")
    uniform: list[float] | None = Field(None, min_length=2, max_length=2, description="[low, high], sampled evenly.")
    int_: list[int] | None = Field(
        None, alias="int", min_length=2, max_length=2, description="[low, high]: an integer from low to high.")
    choice: list[Any] | None = Field(
        None, min_length=1, max_length=MAX_CHOICES, description="The values tried: numbers, text, lists, sections.")
    step: int | float | None = Field(None, gt=0, description="uniform, int: only low, low + step, ... are tried (grid search needs it).")
    log: bool = Field(False, description="int: sample evenly in log space (low >= 1, no step).")

    @model_validator(mode="before")
    @classmethod
    def _one_kind(cls, data):
        if not isinstance(data, dict):
            raise ValueError(f"a range is a mapping, e.g. {{log_uniform: [1.0e-4, 1.0e-2]}}, {{uniform: [0.0, 0.5]}}, "
                             f"{{int: [5, 30], step: 5}} or {{choice: [64, 128]}} (given: {str(data)[:80]})")
        for key in data:
            if key not in KINDS + OPTIONS:
                raise ValueError(f"unknown key {quoted(key)}.{did_you_mean(str(key), KINDS + OPTIONS)} A range is one of "
                                 f"{', '.join(KINDS)}, e.g. {{log_uniform: [1.0e-4, 1.0e-2]}}")
        kinds = [key for key in KINDS if data.get(key) is not None]
        if len(kinds) != 1:
            given = " and ".join(kinds) if kinds else "none"
            raise ValueError(f"give exactly one of {', '.join(KINDS)} (given: {given}), "
                             "e.g. {uniform: [0.0, 0.5]} or {choice: [64, 128]}")
        return data

    @model_validator(mode="after")
    def _sensible(self):
        low_high = self.log_uniform or self.uniform or self.int_
        if low_high is not None and not low_high[0] < low_high[1]:
            raise ValueError(f"{self.kind} needs [low, high] with low < high; given {low_high}")
        if self.log_uniform is not None and self.log_uniform[0] <= 0:
            raise ValueError(f"log_uniform needs low > 0 (a logarithm of {self.log_uniform[0]} is not a number); "
                             f"given {self.log_uniform}")
        if self.step is not None and self.kind not in ("uniform", "int"):
            raise ValueError(f"step is an option of uniform and int ranges, not of {self.kind}")
        if self.step is not None and self.kind == "int" and not float(self.step).is_integer():
            raise ValueError(f"an int range's step is a whole number; given {self.step}")
        if self.log and self.kind != "int":
            raise ValueError(f"log is an option of int ranges (use log_uniform for numbers), not of {self.kind}")
        if self.log and (self.step not in (None, 1) or self.int_[0] < 1):
            raise ValueError("a log int range needs low >= 1 and no step")
        if self.choice is not None and len(set(self.labels)) != len(self.labels):
            raise ValueError("choice lists a value twice")
        return self

    @model_serializer(mode="wrap")
    def _as_written(self, handler):
        """The range as a recipe writes it: `{int: [5, 30], step: 5}`, not every empty option."""
        dumped = handler(self)
        if "int_" in dumped:
            dumped["int"] = dumped.pop("int_")
        return {key: dumped[key] for key in KINDS + OPTIONS if dumped.get(key) not in (None, False)}

    @property
    def kind(self) -> str:
        return next(key for key in KINDS if getattr(self, "int_" if key == "int" else key) is not None)

    @property
    def low_high(self) -> tuple:
        """[low, high] of a range; the last value low + k x step stands for high with a step
        (the last one a sampler can give)."""
        low, high = self.log_uniform or self.uniform or self.int_
        if self.step:
            count = math.floor((high - low) / self.step + 1e-9)
            high = low + count * (int(self.step) if self.kind == "int" else self.step)
            high = high if self.kind == "int" else round(high, 12)
        return low, high

    @property
    def labels(self) -> list:
        """A choice's values as Optuna stores them: numbers, text, true/false and null as
        they are, anything else (a list, a section) as its JSON text."""
        return [value if _is_plain(value) else json.dumps(value) for value in self.choice]

    def value_of(self, label):
        """The choice whose label is `label` (the inverse of `labels`)."""
        return self.choice[self.labels.index(label)]

    def probes(self) -> list:
        """The values `validate` tries: both ends of a range (every schema bound is a lower or an
        upper one), every value of a choice."""
        return list(self.choice) if self.kind == "choice" else list(self.low_high)

    def grid(self) -> list | None:
        """Every value a grid search tries; None when the range is continuous (no step)."""
        if self.kind == "choice":
            return self.labels
        if self.step is None and self.kind != "int":
            return None
        low, high = self.low_high
        step = self.step or 1
        count = round((high - low) / step) + 1
        if count > MAX_GRID:
            return None
        values = [low + i * step for i in range(count)]
        return [int(v) for v in values] if self.kind == "int" else [round(v, 12) for v in values]

    def __str__(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(json.dumps(value) for value in self.choice)
        names = {"log_uniform": "log-uniform", "uniform": "uniform", "int": "integer"}
        low, high = (self.log_uniform or self.uniform or self.int_)
        text = f"{names[self.kind]} {low:g} .. {high:g}"
        if self.step:
            text += f", step {self.step:g}"
        return text + (", log scale" if self.log else "")


def _is_plain(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


SearchSpace = dict[str, Dimension]


def key_problem(key: str) -> str | None:
    """Why `key` cannot be a search key (None when it can): a dotted path into a trained section."""
    if not KEY.fullmatch(key) or len(key) > 200:
        return "not a dotted key path such as train.optimizer.learning_rate"
    if key.split(".")[0] not in SEARCHABLE:
        return f"a search changes what trains: a key under {', '.join(SEARCHABLE)}"
    return None


def with_values(raw: dict, values: dict[str, Any]) -> dict:
    """A copy of the recipe mapping `raw` with each dotted path set to its value, as `--set`
    sets it (missing sections are created). ValueError when a path runs through a value."""
    raw = copy.deepcopy(raw)
    for key, value in values.items():
        parts = key.split(".")
        node = raw
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if child is None:  # an optional section left out (train.early_stopping: null)
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ValueError(f"{quoted('.'.join(parts[: i + 1]))} is a value, not a section")
            node = child
        node[parts[-1]] = copy.deepcopy(value)
    return raw


def key_paths(mapping: dict, prefix: str = "") -> list[str]:
    """Every dotted path of a (dumped) recipe: its sections and its values."""
    paths = []
    for key, value in mapping.items():
        path = f"{prefix}{key}"
        paths.append(path)
        if isinstance(value, dict):
            paths += key_paths(value, path + ".")
    return paths


def base_of(recipe) -> dict:
    """The recipe as written (its set keys, not every default), without its search: what
    each trial's values are set into."""
    return recipe.model_dump(mode="json", exclude_unset=True)


def objective(recipe) -> tuple[str | None, str]:
    """(the logged quantity a search judges trials by, 'minimize' or 'maximize').

    That is what early stopping watches when it watches a validation quantity, else the
    task's main metric on the validation split (val_accuracy, val_mae). None when the task
    has no such measure (a GAN's losses do not say how good its images are).
    """
    from dlrecipes.tasks import lower_is_better

    task = recipe.task.problem
    if task.generative:
        return None, "minimize"
    stopping = recipe.train.early_stopping
    monitor = stopping.monitor if stopping and stopping.monitor.startswith("val_") else f"val_{task.main_metric}"
    return monitor, "minimize" if lower_is_better(monitor) else "maximize"
