"""`dlrecipes predict PATH INPUT...`: a model's predictions on files, from a run or any export of it.

PATH is a run (its folder, its name, or a recipe name: its latest complete run), a
SavedModel version folder, an `.onnx`, `.tflite` or `.keras` file, or an export's format
folder. Each is opened as its metadata and an engine (`export.opening`): the metadata says
how to read the inputs (`predict_inputs`) and what the outputs mean, so an export copied
alone to another machine predicts as the run does. Where the inputs carry the answers (a
table's target column, a series' later values), the task's main metric is computed over
them too (`reports`, as `evaluate` computes it).
"""

from __future__ import annotations

from pathlib import Path

from dlrecipes.errors import RecipeError

BATCH = 256  # examples per call of the engine: bounded memory whatever the number of rows
TOP = 3  # classes shown per example unless --top says


def open_model(ref: str, runs_dir: Path):
    """The run or export `ref` names, opened (`export.opening.Opened`)."""
    from dlrecipes import runs
    from dlrecipes.export.formats import FORMATS
    from dlrecipes.export.opening import exports_in, is_export, is_run_model, open_export, open_run

    path = Path(ref)
    if path.is_file() and is_run_model(path):  # a run's own model file: the run (no export's metadata in it)
        return open_run(runs.find_run(str(path.parent), runs_dir))
    if is_export(path):
        return open_export(path)
    suffixes = ", ".join(sorted(f.suffix for f in FORMATS.values() if f.suffix))
    if path.is_file():
        raise RecipeError(f"'{ref}' is neither a run nor a model file dlrecipes reads ({suffixes or 'none'}).",
                          where=ref, fix="give a run, a SavedModel version folder, or an exported model file")
    try:
        run = runs.find_run(ref, runs_dir)
    except RecipeError:
        inside = exports_in(path) if path.is_dir() else []
        if inside:
            raise RecipeError(f"'{ref}' is a model folder holding {len(inside)} export(s): "
                              f"{', '.join(p.name for p in inside)}.", where=ref,
                              fix=f"predict from one of them, e.g. dlrecipes predict {inside[-1]} ...") from None
        if path.suffix and not path.exists():  # 'model.onnx' mistyped, more likely than a run name with a dot
            raise RecipeError(f"no such file or run: {ref}.", where=ref,
                              fix=f"check the path; a model file ends in {suffixes or 'a format suffix'}") from None
        raise
    return open_run(run)


def task_of(meta: dict):
    from dlrecipes import tasks

    if meta.get("task") not in tasks.TASKS:
        raise RecipeError(f"the model's task '{meta.get('task')}' is not one this version of dlrecipes knows.",
                          fix="upgrade dlrecipes")
    return tasks.get(meta["task"])


def predict(opened, files: list[Path], texts: list[str] | None = None, top: int | None = None) -> dict:
    """{"model": what was opened, "predictions": one per example, "metrics": over the
    examples whose answer is known (only where some is), "notes": [...]}. `top`: classes
    shown per example (default 3); a model without classes ignores it, with a note."""
    from dlrecipes import predict_inputs

    meta = opened.meta
    task = task_of(meta)
    if task.generative:
        raise RecipeError("a GAN generates images; it does not predict.",
                          fix=f"use `dlrecipes sample {(meta.get('run') or {}).get('name') or 'RUN'}` with its run")
    examples = predict_inputs.read(meta, files, texts or [])
    outputs = _outputs(opened, examples, task.output_name)
    classes = meta.get("classes") or []
    notes = list(examples.notes)
    if top is not None and not task.has_classes:
        notes.append(f"--top is for classifiers; this {task.name} model predicts values, all of them shown")
    predictions = []
    for i, (where, scores) in enumerate(zip(examples.where, outputs)):
        shown = {"input": where, **(examples.shown[i] if examples.shown else {})}
        shown.update(task.prediction(scores, classes, top or TOP))
        if examples.targets is not None and examples.targets[i] is not None:
            shown["target"] = examples.targets[i]
        predictions.append(shown)
    result = {"model": _described(opened), "predictions": predictions, "notes": notes}
    metrics = _metrics(task, classes, outputs, examples.targets)
    if metrics is not None:
        result["metrics"] = metrics
    return result


def _outputs(opened, examples, name: str):
    """The engine's `name` output for every example, called in batches of BATCH; checked to
    be what the metadata says (an engine that declares no outputs is checked on its first
    batch) and finite."""
    import numpy as np

    from dlrecipes.export.metadata import damaged
    from dlrecipes.export.opening import output_problems

    found = []
    for start in range(0, len(examples), BATCH):
        batch = {key: value[start:start + BATCH] for key, value in examples.inputs.items()}
        returned = opened.engine(batch)
        problems = output_problems(opened.meta, {key: np.shape(value) for key, value in returned.items()})
        if problems:
            raise damaged(problems, opened.meta_where or opened.where)
        found.append(np.asarray(returned[name], dtype="float64").reshape(len(next(iter(batch.values()))), -1))
    outputs = np.concatenate(found)
    bad = [examples.where[i] for i in np.flatnonzero(~np.isfinite(outputs).all(axis=1))]
    if bad:
        raise RecipeError(f"the model's output for {len(bad)} input{'s' if len(bad) > 1 else ''} is not a finite number "
                          f"(first: {bad[0]}).", where=bad[0],
                          fix="give values in the range the model was trained on (a value near float32's limit "
                              "overflows inside the model), or check the run: a training that diverged predicts NaN")
    return outputs


def _metrics(task, classes: list[str], outputs, targets) -> dict | None:
    """The task's main metric (accuracy, MAE, ...) over the examples with a known answer."""
    import numpy as np

    from dlrecipes import reports

    known = [i for i, target in enumerate(targets or []) if target is not None]
    if not known or task.report is None:
        return None
    answers = np.array([classes.index(targets[i]) if task.has_classes else targets[i] for i in known])
    report, _ = reports.compute(task.report, answers, outputs[known], classes or None)
    return {"examples": len(known), task.main_metric: report[task.main_metric]}


def _described(opened) -> dict:
    meta = opened.meta
    return {"path": opened.where, "format": meta.get("format"), "quantization": meta.get("quantization"),
            "recipe": (meta.get("recipe") or {}).get("name"), "task": meta.get("task"), "reads": meta.get("reads")}
