"""Model builders, one module per architecture, registered by name (see `registry`)."""

import importlib
import pkgutil

from dlrecipes.models.registry import ModelEntry, get_model, list_models, register_model

# Importing each module runs its @register_model; keras is imported only when a builder runs.
for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("registry", "common"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["ModelEntry", "build_model", "get_model", "list_models", "register_model"]


def build_model(recipe, signature):
    """The recipe's architecture with the task's head, for inputs of `signature`.

    The recipe has passed `dlrecipes.checks` for this signature: builders need not check it.
    """
    from dlrecipes.models.common import with_input_normalization, with_table_inputs

    entry = get_model(recipe.model.arch)
    head = recipe.task.problem.head(signature.num_outputs)
    model = entry.build(recipe.model, tuple(signature.input_shape), head)
    if signature.columns:  # a table: raw columns in, encoded inside the model
        return with_table_inputs(model, signature.columns)
    return with_input_normalization(model, recipe.model.normalize, tuple(signature.input_shape))
