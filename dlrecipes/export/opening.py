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
    meta_where: str = ""  # where its metadata was read: the model file, or the metadata.json beside it


def is_export(path: Path) -> bool:
    """Whether `path` is an export rather than a run reference: a model file of a registered
    format, a SavedModel folder, or a folder holding a model file (`model.onnx`, ...). A run
    folder holds a `model.keras` too, and is not one."""
    from dlrecipes import runs
    from dlrecipes.export.savedmodel import is_saved_model

    if path.is_file():
        return format_of_file(path) is not None and not is_run_model(path)
    if not path.is_dir() or runs.is_run(path):
        return False
    return is_saved_model(path) or _model_file(path) is not None


def is_run_model(path: Path) -> bool:
    """Whether `path` is a run's own `model.keras` (which predicts as the run, not as an export)."""
    from dlrecipes import runs

    return path.name == "model.keras" and runs.is_run(path.parent)


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
    """An export (see `is_export`) with its metadata, checked to be whole and of its model
    (`metadata.check`, `model_problems`); a RecipeError when it has none, when the model
    file is no complete model of its format, or when the two disagree."""
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
    beside = path / metadata.FILE_NAME if path.is_dir() else path.parent / metadata.FILE_NAME
    meta_where = str(path) if text else str(beside)
    meta = metadata.parse(text, str(path)) if text else metadata.read_beside(path)
    if meta is None:
        raise RecipeError(
            f"'{shown_path(str(path))}' carries no dlrecipes metadata (inside it or as metadata.json beside it), "
            "so its inputs and outputs are unknown.", where=str(path),
            fix="predict with the run itself, or export it again with `dlrecipes export RUN`")
    engine = fmt.open(path)
    if not isinstance(engine, Engine):  # a format that declares nothing about its model
        engine = Engine(engine)
    problems = model_problems(meta, engine)
    if problems:
        raise metadata.damaged(problems, meta_where)
    return Opened(meta, engine, shown_path(str(path)), meta_where)


def model_problems(meta: dict, engine: Engine) -> list[str]:
    """Where checked metadata (`metadata.check`) and the model it came with disagree: the
    inputs the model declares (names, dtypes, shapes), and its outputs (`output_problems`)."""
    found = []
    if engine.inputs is not None:
        named = {spec["name"]: spec for spec in meta["inputs"]}
        if sorted(named) != sorted(engine.inputs):
            found.append(f"the metadata names the inputs {', '.join(named)}; the model takes {', '.join(engine.inputs)}")
        for name in [n for n in named if n in engine.inputs]:
            shape, dtype = engine.inputs[name]
            spec = named[name]
            if spec["dtype"] != dtype:
                found.append(f"input '{name}' is {spec['dtype']} in the metadata, {dtype} in the model")
            elif not _fits(spec["shape"], shape):
                found.append(f"input '{name}' has shape {_listed(spec['shape'])} in the metadata, "
                             f"{_listed(shape)} in the model")
    if engine.outputs is not None:
        found += output_problems(meta, engine.outputs)
    return found


def output_problems(meta: dict, outputs: dict) -> list[str]:
    """Whether the model returns what its task and classes say (output name -> shape): the
    task's output, with one score per class where it has classes (binary: one unit)."""
    from dlrecipes import tasks

    task = tasks.get(meta["task"])
    if task.output_name not in outputs:
        return [f"a {task.name} model returns '{task.output_name}'; this one returns {', '.join(outputs) or 'nothing'}"]
    shape = tuple(outputs[task.output_name])
    classes = meta.get("classes") or []
    if task.has_classes and len(shape) == 2 and shape[1] is not None and shape[1] != task.units(len(classes)):
        return [f"the model returns {shape[1]} scores per example, where a {task.name} model of "
                f"{len(classes)} classes returns {task.units(len(classes))}"]
    return []


def _fits(claimed: list, declared: tuple) -> bool:
    return len(claimed) == len(declared) and all(a is None or b is None or a == b for a, b in zip(claimed, declared))


def _listed(shape) -> str:
    return "[" + ", ".join("null" if d is None else str(d) for d in shape) + "]"


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

    return Opened(meta, Engine(engine), shown_path(str(run)), shown_path(str(run)))
