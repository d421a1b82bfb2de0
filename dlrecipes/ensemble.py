"""`dlrecipes ensemble`: average the predictions of several trained models.

Members are runs (their `model.keras`) or snapshot files saved inside a run
(`RUN/snapshots/epoch-K.keras`, see `train.snapshots`). All must be trained for the same
task on the same data; the test split of the first member's recipe is predicted by each,
the probabilities (or regression outputs) are averaged, and the task's metrics are computed
for the average and for every member alone, side by side.

Averaging helps when members err differently: independently initialised networks
(Hansen & Salamon 1990), or the snapshots of one run taken at the ends of its cosine
cycles ("Snapshot Ensembles: Train 1, get M for free", Huang et al. 2017).
"""

from __future__ import annotations

import os
from pathlib import Path

from dlrecipes import runs
from dlrecipes.errors import RecipeError


def member_files(members: list[Path]) -> list[tuple[Path, Path]]:
    """(run folder, model file) of each member. The same model twice (a recipe name means
    its latest run, which may be the folder also given) is refused: it would be a one-model
    "ensemble" that merely counts one member double."""
    resolved, seen = [], {}
    for position, member in enumerate(members, start=1):
        if member.is_file() and member.suffix == ".keras" and member.parent.name == "snapshots":
            run, model = member.parent.parent, member
        else:
            run, model = member, member / "model.keras"
        runs.find_run(str(run), run.parent)  # a run, and complete
        key = os.path.realpath(model)
        if key in seen:
            name = run.name if model.name == "model.keras" else f"{run.name}/{model.name}"
            raise RecipeError(f"'{name}' is given twice.", where=f"members {seen[key]} and {position}: {model}",
                              fix="a recipe name means its latest complete run; name the other run by its folder")
        seen[key] = position
        resolved.append((run, model))
    return resolved


def score(recipe, targets, predictions) -> dict:
    """The task's loss and Keras metrics of `predictions` against `targets`. The loss is the
    predictions' alone: neither label smoothing nor a model's regularisation terms (weight
    decay) are in it, so it can differ from what `model.evaluate` says."""
    import keras

    from dlrecipes.train.inputs import label_encoding

    task = recipe.task.problem
    labels = label_encoding(recipe)  # the targets prepare_data made (one-hot after mixup)
    results = {"loss": float(keras.ops.mean(task.loss_object(labels)(targets, predictions)))}
    for metric in task.metric_objects(labels):
        metric.update_state(targets, predictions)
        results[metric.name] = float(metric.result())
    return results


def evaluate_ensemble(members: list[Path], tta: list[str] | None = None) -> dict:
    """Test metrics of the members' mean prediction and of each member alone; with `tta`
    (dlrecipes.tta modes), also of each member's and the ensemble's test-time augmented ones."""
    import numpy as np

    import dlrecipes.adversarial  # noqa: F401  (registers our model classes)
    import dlrecipes.layers  # noqa: F401
    from dlrecipes import tta as test_time
    from dlrecipes.data.registry import Signature
    from dlrecipes.train.inputs import prepare_data

    if len(members) < 2:
        raise RecipeError("an ensemble needs at least two members.", fix="give two or more runs or snapshot files")
    resolved = member_files(members)
    recipes = [runs.load_run_recipe(run) for run, _ in resolved]
    first = recipes[0]
    for (run, _), recipe in zip(resolved[1:], recipes[1:]):
        if recipe.task.type != first.task.type or recipe.data.model_dump() != first.data.model_dump():
            raise RecipeError(
                f"run '{run.name}' was trained for another task or on other data than '{resolved[0][0].name}'.",
                fix="ensemble models of the same task and dataset (same data section)",
            )
    task = first.task.problem
    if task.generative:
        raise RecipeError("a GAN has no predictions to average.", fix="ensemble classifiers or regressors")
    signature = Signature(**runs.read_run_json(resolved[0][0], "signature.json"))
    modes = test_time.check(list(tta or []), signature, task, resolved[0][0].name)

    data = prepare_data(first, roles=("test",))
    test = data.datasets["test"]
    targets = np.concatenate([np.asarray(y) for _, y in test])
    outputs = {mode: {} for mode in ("plain", *modes)}
    for (run, model_file) in resolved:
        model = runs.load_model_file(run, model_file)
        name = run.name if model_file.name == "model.keras" else f"{run.name}/{model_file.stem}"
        outputs["plain"][name] = model.predict(test, verbose=0)
        for mode, averaged in test_time.predict_views(model, test, modes, plain=outputs["plain"][name]).items():
            outputs[mode][name] = averaged

    def scored(predictions: dict) -> dict:
        return {"members": {name: score(first, targets, p) for name, p in predictions.items()},
                "ensemble": score(first, targets, np.mean(list(predictions.values()), axis=0))}

    results = {**scored(outputs["plain"]), "test_examples": int(len(targets))}
    if modes:
        results["tta"] = {mode: scored(outputs[mode]) for mode in modes}
    return results
