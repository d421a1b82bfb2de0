"""The one check phase: everything that can be known wrong about a recipe without its examples.

`validate`, `describe`, `list` and `train` all reach a recipe through `loader.load_recipe`,
which runs the schema (`dlrecipes.recipe`: types, ranges, unknown keys) and then `problems`
here, so what `validate` accepts, `train` runs. The checks relate the sections to each other
and to the data's metadata (its `Signature`, read without examples):

- the task's own: the restated head, label smoothing and class weights, the target metric
  (`tasks.Task.check_recipe`);
- what early stopping and a plateau schedule watch: a quantity the training logs, `val_`
  ones only with a validation split;
- the data against the task (number of classes, what a label is) and against the
  architecture (the kinds of input it declares, and its own limits);
- augmentation (images only) and input normalisation (numbers only, not tables);
- cross-validation folds: only data held in memory can be dealt into folds, and only a
  task whose validation metrics judge a model is worth cross-validating.

Training runs `signature_problems` again on the signature it reads from the examples,
before a run directory exists.
"""

from __future__ import annotations

from dlrecipes.data import source_of
from dlrecipes.errors import DataUnavailableError, RecipeError, did_you_mean
from dlrecipes.models.registry import get_model, list_models
from dlrecipes.tasks import Problem


def problems(recipe) -> tuple[list[Problem], object | None]:
    """(problems, signature): everything wrong, and the data's signature when it is on hand.

    The signature is None when the data is not on this machine yet (a tfds download, your
    own files): its checks then wait for `train`, which runs them on the data it loads.
    """
    found = recipe_problems(recipe)
    try:
        signature = source_of(recipe).signature()
    except DataUnavailableError:
        return found + search_problems(recipe, None), None
    except RecipeError as error:  # the data is there but does not fit the recipe's data section
        return found + [Problem(_where(error), str(error.what) + (f" ({error.fix})" if error.fix else ""))], None
    return found + signature_problems(recipe, signature) + search_problems(recipe, signature), signature


def recipe_problems(recipe) -> list[Problem]:
    """What the sections say to each other, without the data's metadata."""
    found = recipe.task.problem.check_recipe(recipe)
    source = source_of(recipe)
    found += monitor_problems(recipe, has_validation="validation" in source.splits())
    found += fold_problems(recipe, source)
    return found + architecture_problems(recipe)


def _has_validation(recipe) -> bool:
    return "validation" in source_of(recipe).splits()


def _where(error: RecipeError) -> tuple:
    """A RecipeError's `where` as a key path when it names one (`data.target`), else `data`."""
    where = error.where or ""
    if where.replace(".", "").replace("_", "").isalnum() and where.split(".")[0] in ("data", "model", "task", "train"):
        return tuple(where.split("."))
    return ("data",)


def architecture_problems(recipe) -> list[Problem]:
    """A GAN architecture needs the adversarial task, and the adversarial task a GAN."""
    task, entry = recipe.task.problem, get_model(recipe.model.arch)
    if task.generative and not entry.generative:
        gans = sorted(name for name, e in _models().items() if e.generative)
        return [Problem(("model", "arch"), f"task '{task.name}' trains a GAN; architecture '{entry.name}' is not one "
                                           f"(use {', '.join(gans)})")]
    if entry.generative and not task.generative:
        return [Problem(("task", "type"), f"architecture '{entry.name}' is a GAN, trained adversarially: "
                                          "set task.type: adversarial")]
    return []


def fold_problems(recipe, source) -> list[Problem]:
    """`folds` asks for a cross-validation: the source must be able to cut its training data
    into folds (`why_no_folds`), and the task's validation metrics must judge a model."""
    from dlrecipes.data.splits import folds_of, folds_path

    if folds_of(recipe.data)[0] is None:
        return []
    path = folds_path(recipe.data)
    why = source.why_no_folds()
    if why:
        return [Problem(path, f"cannot cross-validate: {why}")]
    task = recipe.task.problem
    if not task.cross_validates:
        return [Problem(path, f"cannot cross-validate task '{task.name}': its validation losses do not score a "
                              "model (remove folds)")]
    return []


def monitor_problems(recipe, has_validation: bool) -> list[Problem]:
    """A watched quantity must be one the training logs, `val_` ones only with a validation split."""
    logged = list(recipe.task.problem.logged)
    allowed = logged + [f"val_{name}" for name in logged]
    watches = []
    if recipe.train.schedule.name == "plateau":
        watches.append((("train", "schedule", "monitor"), recipe.train.schedule.monitor))
    if recipe.train.early_stopping:
        watches.append((("train", "early_stopping", "monitor"), recipe.train.early_stopping.monitor))
    found = []
    for path, monitor in watches:
        if monitor.removeprefix("val_") not in logged:
            found.append(Problem(path, f"'{monitor}' is not logged by this training.{did_you_mean(monitor, allowed)} "
                                       f"Watch one of: {', '.join(allowed)}."))
        elif monitor.startswith("val_") and not has_validation:
            found.append(Problem(path, f"'{monitor}' is computed on a validation split, and this recipe's data has no validation split: "
                                       "add one to the data section (e.g. splits.validation) or watch a training quantity."))
    return found


def signature_problems(recipe, signature) -> list[Problem]:
    """What the data, as its signature describes it, cannot do for this task and architecture."""
    task = recipe.task.problem
    found = []
    outputs = task.check_outputs(signature.num_outputs)
    if outputs:
        found.append(Problem(("task", "type"), outputs))
    if task.label_kinds is not None and signature.labels not in task.label_kinds:
        found.append(Problem(("task", "type"), (
            f"task '{task.name}' needs labels that are {' or '.join(_LABELS[k] for k in task.label_kinds)}; "
            f"this dataset's are {_LABELS[signature.labels]}. {task.pairing}")))
    entry = get_model(recipe.model.arch)
    kind = signature.kind
    if kind not in entry.inputs:
        takes = " or ".join(entry.inputs)
        others = sorted(name for name, e in _models().items() if kind in e.inputs)
        found.append(Problem(("model", "arch"), (
            f"architecture '{entry.name}' takes {takes}; this dataset ({recipe.data.source}) gives {kind}"
            f"{_shape(signature)}. Architectures for {kind}: {', '.join(others) or 'none'}.")))
    else:
        found += [Problem(("model", key), message) for key, message in recipe.model.input_problems(signature)]
    if recipe.train.augment and kind != "images":
        found.append(Problem(("train", "augment"),
                             f"augmentation works on images; this dataset gives {kind}{_shape(signature)} (remove train.augment)"))
    elif recipe.train.augment:
        found += _crop_problems(recipe.train.augment, signature)
    if recipe.model.normalize != "none":
        if kind == "text":
            found.append(Problem(("model", "normalize"), "model.normalize works on numbers; this dataset gives text (remove it)"))
        elif kind == "table":
            found.append(Problem(("model", "normalize"),
                                 "a table's numeric columns are standardised already; model.normalize is not needed (remove it)"))
    return found


def search_problems(recipe, signature) -> list[Problem]:
    """The search space (`search:`, dlrecipes.search): each key a path of this recipe, and
    every value its range can give one this recipe takes. Each end of a range and each
    choice is set into the recipe, which is validated by the schema and checked as any
    recipe is (on the data's signature, when it is on hand); the first refusal of each key
    is its problem. A search also needs a quantity to judge trials by: a validation split."""
    from dlrecipes import search

    if not recipe.search:
        return []
    monitor, _ = search.objective(recipe)
    if monitor is None:
        return [Problem(("search",), f"task '{recipe.task.type}' has no validation metric that says how good "
                                     "a trial is, so it cannot be searched (remove the search section)")]
    if not _has_validation(recipe):
        return [Problem(("search",), f"trials are judged by {monitor}, computed on a validation split, and this "
                                     "recipe's data has no validation split: add one to the data section")]
    base, found = search.base_of(recipe), []
    known = [p for p in search.key_paths(recipe.model_dump(mode="json")) if p.split(".")[0] in search.SEARCHABLE]
    for key, dimension in recipe.search.items():
        problem = search.key_problem(key)
        for i, value in enumerate([] if problem else dimension.probes()):
            problem = _probe_problem(recipe, base, key, dimension, value, known, signature)
            if problem and problem.startswith("{value}"):
                shown = f"choice {value!r}" if dimension.kind == "choice" else f"{('low', 'high')[i]} end {value!r}"
                problem = problem.replace("{value}", f"the {shown}", 1)
            if problem:
                break
        if problem:
            found.append(Problem(("search", key), problem))
    return found


def _probe_problem(recipe, base: dict, key: str, dimension, value, known: list[str], signature) -> str | None:
    """Why the recipe with `key` set to `value` is refused ("{value} is refused: ..." when it
    is the value, not the key), or None."""
    from pydantic import ValidationError

    from dlrecipes import messages, search

    try:
        raw = search.with_values(base, {key: value})
        probe = type(recipe).model_validate(raw)
    except ValidationError as error:
        errors = error.errors()
        path = tuple(key.split("."))
        if any(e["type"] == "extra_forbidden" and messages.error_path(e, raw) == path for e in errors):
            return f"{key} is not a key of this recipe.{did_you_mean(key, known)}"
        hint = ""
        if errors[0]["type"].startswith("int") and dimension.kind in ("uniform", "log_uniform"):
            low, high = dimension.low_high
            hint = f" A whole-number key takes an int range, e.g. {{int: [{low:g}, {high:g}], log: true}}."
        return f"{{value}} is refused: {messages.describe(errors[0], raw, None, [])}{hint}"
    except ValueError as error:
        return str(error)
    found = recipe_problems(probe) + (signature_problems(probe, signature) if signature is not None else [])
    if found:
        return f"{{value}} is refused: {_format(found[0].path)}: {found[0].message}"
    # Trials are compared by one quantity, on a validation split every trial keeps.
    judged, judged_here = search.objective(recipe), search.objective(probe)
    if judged_here != judged:
        return (f"{{value}} would judge its trial by {judged_here[0]} ({judged_here[1]}), the others by "
                f"{judged[0]} ({judged[1]}): their values would not compare")
    if not _has_validation(probe):
        return f"{{value}} leaves no validation split to judge the trial by ({judged[0]})"
    return None


def _crop_problems(steps, signature) -> list[Problem]:
    """random_crop must crop back to the model's input size: the model is built for it."""
    height, width = signature.input_shape[:2]
    found = []
    for i, step in enumerate(steps):
        if step.name != "random_crop":
            continue
        for key, size in (("height", height), ("width", width)):
            value = getattr(step, key)
            if value is not None and value != size:
                found.append(Problem(("train", "augment", i, key), (
                    f"random_crop crops back to the model's input, {height}x{width}; a {key} of {value} would "
                    f"feed the model images it is not built for (leave {key} out, or set it to {size}; "
                    "padding sets how far the crop may shift)")))
    return found


_LABELS = {"class_ids": "one class id per example", "multi_hot": "0/1 vectors over the classes (multi-hot)",
           "values": "numbers (regression targets)"}


def _shape(signature) -> str:
    return f" shaped {tuple(signature.input_shape)}" if signature.input_shape else ""


def _models() -> dict:
    return {name: get_model(name) for name in list_models()}


def check(recipe):
    """Raise one RecipeError listing every problem; return the signature (or None)."""
    found, signature = problems(recipe)
    raise_problems(recipe, found)
    return signature


def raise_problems(recipe, found: list[Problem]) -> None:
    if found:
        raise RecipeError(
            f"recipe '{recipe.name}' cannot train ({len(found)} problem{'s' if len(found) > 1 else ''}):",
            details=[f"{_format(p.path)}: {p.message}" for p in found],
        )


def _format(path: tuple) -> str:
    return ".".join(str(part) for part in path)
