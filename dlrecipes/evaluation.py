"""`dlrecipes evaluate`: a run's model on one split - Keras' metrics, the task's report and
its pictures, and test-time augmentation - written to RUN/reports/<split>/.

The metrics are `model.evaluate`'s, as training recorded them in metrics.json. The report
(dlrecipes.reports) is computed from `model.predict` on the same batches, so its accuracy is
the same number; the pictures come from dlrecipes.plots. The folder is filled under a hidden
name and renamed into place: a report folder is whole or absent, never a mix of two runs of
`evaluate`.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from dlrecipes import runs
from dlrecipes.errors import RecipeError, is_disk_full
from dlrecipes.writable import disk_full

SPLITS = ("test", "validation", "train")
MISCLASSIFIED = 36  # images in misclassified.png


def split_dataset(recipe, split: str, run: Path):
    """The split's batches of (inputs, targets) in stored order; the training split too,
    unshuffled and unaugmented."""
    from dlrecipes.data.pipeline import batched
    from dlrecipes.train.inputs import label_encoding, prepare_data

    data = prepare_data(recipe, roles=(split,))
    if split in data.datasets:
        return data.datasets[split]
    if split == "train" and data.stream is not None:
        targets = recipe.task.problem.targets(label_encoding(recipe), data.signature.num_outputs)
        return batched(data.source.load()["train"], preprocess=data.source.preprocess, targets=targets,
                       batch_size=data.batch_size, cache=False)
    given = ", ".join(role for role in SPLITS if role in data.source.splits())
    raise RecipeError(f"run '{run.name}' has no {split} split (its data gives: {given}).",
                      where=str(run / "recipe.yaml"), fix="choose one of them with --split")


def keras_metrics(model, recipe, dataset) -> dict[str, float]:
    """`model.evaluate`'s loss and metrics on `dataset`, the model compiled as in training."""
    from dlrecipes.train.fit import compile_model

    compile_model(model, recipe, None)
    return {key: float(value) for key, value in model.evaluate(dataset, verbose=0, return_dict=True).items()}


def evaluate(run: Path, split: str = "test", tta: list[str] | None = None) -> dict:
    """Evaluate a run on `split`; write RUN/reports/<split>/ where the task has a report.

    Returns what report.json holds: the run, the split, Keras' metrics under the split's
    name (as in metrics.json), the report, the TTA scores, the files written, and `curves`
    (the long arrays, which `--json` leaves out).
    """
    import numpy as np

    from dlrecipes import reports
    from dlrecipes import tta as test_time
    from dlrecipes.writable import require_writable_dir

    if split not in SPLITS:
        raise RecipeError(f"--split '{split}' is not a split.", where="--split", fix=f"use one of: {', '.join(SPLITS)}")
    recipe, signature, model = runs.load_trained(run)
    task = recipe.task.problem
    modes = test_time.check(list(tta or []), signature, task, run.name)
    folder = run / "reports" / split
    if task.report is not None:
        require_writable_dir(folder.parent, option="the run folder", what="reports folder")
    dataset = split_dataset(recipe, split, run)
    result = {"run": str(run), "split": split, split: keras_metrics(model, recipe, dataset)}
    if task.report is None:
        return result
    predictions = model.predict(dataset, verbose=0)
    targets = np.concatenate([np.asarray(y) for _, y in dataset])
    report, arrays = reports.compute(task.report, targets, predictions, signature.class_names)
    result["report"] = {"kind": task.report, **report}
    if modes:
        from dlrecipes.ensemble import score

        averaged = test_time.predict_views(model, dataset, modes, plain=predictions)
        result["tta"] = {"shift_pixels": test_time.SHIFT, "plain": score(recipe, targets, predictions),
                         **{mode: score(recipe, targets, p) for mode, p in averaged.items()}}
    if "roc" in arrays:
        result["curves"] = {"roc": reports.thinned(arrays["roc"]), "precision_recall": reports.thinned(arrays["pr"])}
    images = None
    if signature.kind == "images" and len(arrays.get("misclassified", ())):
        images = examples_at(dataset, arrays["misclassified"][:MISCLASSIFIED])
    try:
        result["files"] = write_folder(folder, lambda into: write_report(into, result, arrays, images, run.name))
    except Exception as err:
        if not is_disk_full(err):
            raise
        raise disk_full(f"the {split} report", folder,
                        fix=f"free some space on that disk (df -h shows it), then: dlrecipes evaluate {run} "
                        f"--split {split}") from None
    return result


def examples_at(dataset, indices):
    """The inputs at `indices` (positions in the split), in the order given."""
    import numpy as np

    wanted = {int(i): k for k, i in enumerate(indices)}
    found, start = [None] * len(wanted), 0
    for x, _ in dataset:
        x = np.asarray(x)
        for i in range(start, start + len(x)):
            if i in wanted:
                found[wanted[i]] = x[i - start]
        start += len(x)
        if start > max(wanted):
            break
    return np.stack(found)


def write_report(folder: Path, result: dict, arrays: dict, images, run_name: str) -> list[str]:
    """report.json and the pictures of `result`'s report kind into `folder`; their names."""
    from dlrecipes import plots

    title = f"{run_name}: {result['split']} split"
    files = []
    if "counts" in arrays:
        files.append(plots.plot_confusion_matrix(arrays["counts"], arrays["names"], folder / "confusion-matrix.png", title))
    if images is not None:
        wrong = arrays["misclassified"][:len(images)]
        names = arrays["names"]
        labels = [f"{names[arrays['true'][i]]} -> {names[arrays['predicted'][i]]} ({arrays['confidence'][i]:.2f})"
                  for i in wrong]
        files.append(plots.plot_labelled_images(images, labels, folder / "misclassified.png",
                                                f"{title}: misclassified, true -> predicted (p), most confident first"))
    if "roc" in arrays:
        report = result["report"]
        files.append(plots.plot_roc_pr(arrays["roc"], arrays["pr"], report["roc_auc"], report["average_precision"],
                                       folder / "roc-pr.png", title))
    if "residuals" in arrays:
        files.append(plots.plot_predicted_vs_true(arrays["true"], arrays["predicted"], folder / "predicted-vs-true.png", title))
        files.append(plots.plot_residuals(arrays["residuals"], folder / "residuals.png", title))
    shown = [f"reports/{result['split']}/{name}" for name in ("report.json", *(path.name for path in files))]
    runs.write_json(folder / "report.json", {**result, "files": shown})
    return shown


def write_folder(folder: Path, fill):
    """`fill(hidden)` writes the files into a hidden folder beside `folder`, which then
    replaces `folder` whole. Returns what `fill` returns. On failure (a full disk) nothing
    is left: neither the hidden folder, nor the parent folder this made (RUN/reports/), and
    the folder there was stays."""
    hidden = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    old = folder.with_name(f".{folder.name}.{os.getpid()}.old")
    made_parent = not folder.parent.exists()
    runs.remove(hidden)
    try:
        hidden.mkdir(parents=True)
        written = fill(hidden)
        if folder.exists():
            os.rename(folder, old)
        os.rename(hidden, folder)
    finally:
        if old.exists() and not folder.exists():
            os.rename(old, folder)  # the new one could not take its place: the last one stays
        runs.remove(hidden)
        runs.remove(old)
        if made_parent:
            with contextlib.suppress(OSError):  # not empty: the report is in it
                folder.parent.rmdir()
    return written
