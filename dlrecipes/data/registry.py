"""Data sources registered by name (the recipe's `data.source`).

A source is a class decorated with `@register_source(name, options)`. It is constructed
from its validated options and answers three questions:

- `signature()`: input shape and dtype, number of outputs, class names - cheaply, without
  reading the examples (and, where the metadata is on disk, without importing TensorFlow),
  so `describe` can build the model.
- `load()`: the splits as unbatched `tf.data.Dataset`s of `(inputs, label)` in their raw
  dtype (uint8 images stay uint8).
- `is_local()`: whether the data is on this machine already.
- `preprocess(x)`: the input transformation (e.g. pixel scaling) applied in the training
  pipeline and again inside an exported model, so a SavedModel takes raw inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dlrecipes.errors import RecipeError, did_you_mean
from dlrecipes.schema import Section


@dataclass(frozen=True)
class Signature:
    input_shape: tuple[int, ...]  # of the encoded features for tables
    input_dtype: str
    num_outputs: int  # classes for classification, targets for regression
    class_names: tuple[str, ...] | None = None
    split_sizes: dict[str, int] = field(default_factory=dict)
    # Tables: each raw column the model takes, "numeric" or its list of categories.
    columns: dict[str, object] | None = None


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


def get_source(options: Section, task: str | None = None):
    """The source object for a validated `data:` section.

    `task` (the recipe's task type) reaches sources whose labels depend on it: a table's
    target column is classes for a classifier and numbers for a regression.
    """
    name = options.source
    if name not in _SOURCES:
        raise RecipeError(
            f"unknown data source '{name}'.{did_you_mean(name, _SOURCES)}",
            fix=f"use one of: {', '.join(sorted(_SOURCES))}",
        )
    cls, _ = _SOURCES[name]
    source = cls(options)
    source.task = task
    return source
