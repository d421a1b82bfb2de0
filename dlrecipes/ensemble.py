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

from pathlib import Path

from dlrecipes import runs
from dlrecipes.errors import RecipeError


def member_files(members: list[Path]) -> list[tuple[Path, Path]]:
    """(run folder, model file) of each member."""
    resolved = []
    for member in members:
        if member.is_file() and member.suffix == ".keras" and member.parent.name == "snapshots":
            run, model = member.parent.parent, member
        else:
            run, model = member, member / "model.keras"
        runs.find_run(str(run), run.parent)  # a run, and complete
        resolved.append((run, model))
    return resolved


def evaluate_ensemble(members: list[Path]) -> dict:
    import keras
    import numpy as np

    import dlrecipes.adversarial  # noqa: F401  (registers our model classes)
    import dlrecipes.layers  # noqa: F401
    from dlrecipes.train.inputs import label_encoding, prepare_data

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

    data = prepare_data(first, roles=("test",))
    test = data.datasets["test"]
    targets = np.concatenate([np.asarray(y) for _, y in test])
    outputs = {}
    for (run, model_file) in resolved:
        model = runs.load_model_file(run, model_file)
        name = run.name if model_file.name == "model.keras" else f"{run.name}/{model_file.stem}"
        outputs[name] = model.predict(test, verbose=0)
    average = np.mean(list(outputs.values()), axis=0)

    def score(predictions) -> dict:
        labels = label_encoding(first)  # the targets prepare_data made (one-hot after mixup)
        results = {"loss": float(keras.ops.mean(task.loss_object(labels)(targets, predictions)))}
        for metric in task.metric_objects(labels):
            metric.update_state(targets, predictions)
            results[metric.name] = float(metric.result())
        return results

    return {
        "members": {name: score(predictions) for name, predictions in outputs.items()},
        "ensemble": score(average),
        "test_examples": int(len(targets)),
    }
