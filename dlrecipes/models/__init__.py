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
    """The recipe's architecture with the task's head, for inputs of `signature`."""
    from dlrecipes import tasks
    from dlrecipes.errors import RecipeError
    from dlrecipes.models.common import with_input_normalization, with_table_inputs

    problem = tasks.check_outputs(recipe.task.type, signature.num_outputs)
    if problem:
        raise RecipeError(problem + ".", where="task.type")
    if recipe.model.normalize != "none" and signature.input_dtype == "string":
        raise RecipeError("model.normalize works on numbers; this dataset gives text.", where="model.normalize")
    if recipe.model.normalize != "none" and recipe.task.type == "adversarial":
        raise RecipeError(
            "model.normalize is not for a GAN: its generator must draw images on the data's own scale.",
            where="model.normalize", fix="remove model.normalize",
        )
    entry = get_model(recipe.model.arch)
    head = tasks.head_layers(recipe.task.type, signature.num_outputs)
    model = entry.build(recipe.model, tuple(signature.input_shape), head)
    if signature.columns:  # a table: raw columns in, encoded inside the model
        if recipe.model.normalize != "none":
            raise RecipeError("a table's numeric columns are standardised already; model.normalize is not needed.",
                              where="model.normalize", fix="remove model.normalize")
        return with_table_inputs(model, signature.columns)
    return with_input_normalization(model, recipe.model.normalize, tuple(signature.input_shape))
