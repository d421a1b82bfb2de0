"""Open what `predict` is pointed at - a run, a SavedModel folder, an `.onnx`, `.tflite` or
`.keras` file, or a format's export folder - as its metadata and an engine (numpy inputs in,
numpy outputs out).

An export needs nothing but itself: the metadata inside the `.onnx` / `.tflite` file, or
the `metadata.json` beside the model, says what the inputs are and what the outputs mean.
A run is served through the same function its exports are made from, so a run and each of
its exports give the same predictions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dlrecipes.errors import RecipeError, shown_path
from dlrecipes.export import metadata
from dlrecipes.export.formats import FORMATS, Engine, format_of_file


@dataclass
class Opened:
    meta: dict
    engine: Engine
    where: str  # what was opened, for messages


def is_export(path: Path) -> bool:
    """Whether `path` is an export rather than a run reference: a model file of a registered
    format, a SavedModel folder, or a folder holding a model file (`model.onnx`, ...). A run
    folder holds a `model.keras` too, and is not one."""
    from dlrecipes import runs
    from dlrecipes.export.savedmodel import is_saved_model

    if path.is_file():
        return format_of_file(path) is not None
    if not path.is_dir() or runs.is_run(path):
        return False
    return is_saved_model(path) or _model_file(path) is not None


def exports_in(folder: Path) -> list[Path]:
    """The exports directly inside `folder` (a model folder: its versions, its format folders)."""
    try:
        return sorted(p for p in folder.iterdir() if not p.name.startswith(".") and is_export(p))
    except OSError:
        return []


def _model_file(folder: Path) -> Path | None:
    for fmt in FORMATS.values():
        if fmt.file_name and (folder / fmt.file_name).is_file():
            return folder / fmt.file_name
    return None


def open_export(path: Path) -> Opened:
    """An export (see `is_export`) with its metadata; a RecipeError when it has none."""
    from dlrecipes.export.savedmodel import is_saved_model

    if path.is_dir() and not is_saved_model(path):
        path = _model_file(path)
    fmt = FORMATS["savedmodel"] if path.is_dir() else format_of_file(path)
    missing = fmt.missing_packages()
    if missing:
        from dlrecipes.export import EXTRA

        raise RecipeError(f"reading a {fmt.name} export needs {', '.join(missing)}, which is not installed.",
                          where=str(path), fix=f"install the export extra: {EXTRA}")
    text = None if path.is_dir() else fmt.embedded(path)
    meta = metadata.parse(text, str(path)) if text else metadata.read_beside(path)
    if meta is None:
        raise RecipeError(
            f"'{shown_path(str(path))}' carries no dlrecipes metadata (inside it or as metadata.json beside it), "
            "so its inputs and outputs are unknown.", where=str(path),
            fix="predict with the run itself, or export it again with `dlrecipes export RUN`")
    return Opened(meta, fmt.open(path), shown_path(str(path)))


def open_run(run: Path) -> Opened:
    """A complete run, served as its exports are (raw inputs in, the preprocessing inside)."""
    import numpy as np
    import tensorflow as tf

    from dlrecipes.export.serving import INPUT_NAME, Served

    served = Served.load(run)
    meta = metadata.build(served, "run", None, encoded_images=False, class_outputs=False, files=[])
    serve = served.function()
    table = bool(served.signature.columns)

    def engine(inputs: dict) -> dict:
        fed = {k: tf.constant(v) for k, v in inputs.items()} if table else tf.constant(inputs[INPUT_NAME])
        return {name: np.asarray(value) for name, value in serve(fed).items()}

    return Opened(meta, engine, shown_path(str(run)))
