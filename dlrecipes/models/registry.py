"""Architectures registered by name.

A builder is a plain function decorated with `@register_model(name, options, inputs)`, where
`options` is the pydantic class of its recipe `model:` section and `inputs` the kinds of
input it takes (`images`, `sequences`, `vectors`, `table`, `text`; see `Signature.kind`), so
`dlrecipes.checks` can refuse a CNN on a CSV table before anything is built. Adding an architecture
means adding one module to `dlrecipes/models/` and one recipe; `dlrecipes.models` imports
every module in the package, so nothing else changes.

Builders take `(options, input_shape, head)` and return a `keras.Model` whose last layers
are `head` (from the task's `head()`): the task, not the architecture, decides
how a model ends.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass

from dlrecipes.errors import RecipeError, did_you_mean
from dlrecipes.schema import Section


@dataclass(frozen=True)
class ModelEntry:
    name: str
    options: type[Section]
    build: Callable
    summary: str  # first line of the builder's docstring
    inputs: tuple[str, ...]  # the kinds of input it takes
    generative: bool = False  # a GAN: trained adversarially, draws samples (task 'adversarial')


_MODELS: dict[str, ModelEntry] = {}


def register_model(name: str, options: type[Section], inputs: tuple[str, ...], generative: bool = False):
    """Record `fn` as the builder of architecture `name` (the recipe's `model.arch`)."""
    from dlrecipes.data.registry import INPUT_KINDS

    unknown = set(inputs) - set(INPUT_KINDS)
    if unknown:
        raise ValueError(f"architecture '{name}' declares unknown input kinds {sorted(unknown)}")

    def decorator(fn: Callable) -> Callable:
        if name in _MODELS:
            raise ValueError(f"architecture '{name}' is registered twice")
        summary = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        _MODELS[name] = ModelEntry(name=name, options=options, build=fn, summary=summary, inputs=tuple(inputs),
                                  generative=generative)
        return fn

    return decorator


def get_model(name: str) -> ModelEntry:
    if name not in _MODELS:
        raise RecipeError(
            f"unknown architecture '{name}'.{did_you_mean(name, _MODELS)}",
            fix=f"use one of: {', '.join(sorted(_MODELS))}",
        )
    return _MODELS[name]


def list_models(pattern: str = "*") -> list[str]:
    """Registered architecture names matching a shell-style wildcard, sorted."""
    return sorted(name for name in _MODELS if fnmatch.fnmatch(name, pattern))
