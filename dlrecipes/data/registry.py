"""Data sources registered by name (the recipe's `data.source`).

A source is a class decorated with `@register_source(name, options)`. It is made from its
validated options and the recipe's task (`tasks.Task`: a table's target column holds classes
for a classifier and numbers for a regression) and does what `Source` below declares.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from dlrecipes.errors import RecipeError, did_you_mean
from dlrecipes.schema import Section

if TYPE_CHECKING:
    from dlrecipes.tasks import Task


@dataclass(frozen=True)
class Signature:
    input_shape: tuple[int, ...]  # of the encoded features for tables
    input_dtype: str
    num_outputs: int  # classes for classification, targets for regression
    class_names: tuple[str, ...] | None = None
    split_sizes: dict[str, int] = field(default_factory=dict)
    # Tables: each raw column the model takes, "numeric" or its list of categories.
    columns: dict[str, object] | None = None
    # What a label is: "class_ids" (one class per example), "multi_hot" (a 0/1 vector over
    # the classes), "values" (numbers to regress).
    labels: str = "class_ids"


    @property
    def kind(self) -> str:
        """What the inputs are, as builders declare what they take (`models.registry`)."""
        if self.columns:
            return "table"
        if self.input_dtype == "string":
            return "text"
        return {3: "images", 2: "sequences", 1: "vectors"}.get(len(self.input_shape), "arrays")


INPUT_KINDS = ("images", "sequences", "vectors", "table", "text")


class Source(Protocol):
    """What every data source does. Nothing here reads examples except `load`."""

    options: Section
    task: "Task"
    # Optional: notes for the user about how the data was taken (e.g. a split that could not
    # be stratified); training prints them and records them in run.json.
    notes: list[str]

    def __init__(self, options: Section, task: "Task") -> None: ...

    def signature(self) -> Signature:
        """Input shape and dtype, number of outputs, class names - cheaply, without reading
        the examples (and, where the metadata is on disk, without importing TensorFlow), so
        `validate` can check and `describe` can build the model."""

    def train_signature(self) -> Signature:
        """The signature training uses, checked against the examples (may read them): a
        classifier's training split with a single class is refused here."""

    def splits(self) -> tuple[str, ...]:
        """The roles the source yields ('train', 'validation', 'test'), from its options alone."""

    def is_local(self) -> bool:
        """Whether the data is on this machine already."""

    def why_no_folds(self) -> str | None:
        """Why this data cannot be cut into cross-validation folds (`folds`), or None when it can."""

    def load(self) -> dict:
        """The splits as unbatched `tf.data.Dataset`s of `(inputs, label)` in their raw dtype
        (uint8 images stay uint8)."""

    def preprocess(self, x):
        """The input transformation (e.g. pixel scaling) applied in the training pipeline and
        again inside an exported model, so a SavedModel takes raw inputs."""

    # Optional, for exports' metadata.json (dlrecipes/export/metadata.py):
    # `preprocessing_notes() -> list[str]`: `preprocess` in words ("inputs cast to float32
    # and divided by 255"); `client_info() -> dict`: what a client needs to turn raw
    # examples into the export's inputs (a table's target and columns, a series' window).
    # For the `.keras` export (dlrecipes/export/keras_file.py): `keras_preprocess(inputs)`,
    # `preprocess` built of Keras layers on the export's `keras.Input`s (one, or a dict by
    # column); a source without it cannot go to that format.


_SOURCES: dict[str, tuple[type, type[Section]]] = {}


def register_source(name: str, options: type[Section]):
    def decorator(cls: type) -> type:
        if name in _SOURCES:
            raise ValueError(f"data source '{name}' is registered twice")
        _SOURCES[name] = (cls, options)
        return cls

    return decorator


def source_names() -> list[str]:
    return sorted(_SOURCES)


def source_options() -> list[type[Section]]:
    return [options for _, options in _SOURCES.values()]


def get_source(options: Section, task: "Task") -> Source:
    """The source object for a validated `data:` section and the recipe's task."""
    name = options.source
    if name not in _SOURCES:
        raise RecipeError(
            f"unknown data source '{name}'.{did_you_mean(name, _SOURCES)}",
            fix=f"use one of: {', '.join(sorted(_SOURCES))}",
        )
    cls, _ = _SOURCES[name]
    return cls(options, task)


def source_of(recipe) -> Source:
    """The data source of a recipe, made for its task."""
    return get_source(recipe.data, recipe.task.problem)
