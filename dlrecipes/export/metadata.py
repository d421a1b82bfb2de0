"""`metadata.json`: what an export is and how to feed it, for `predict` and for people.

Every export carries it (beside the model file, and inside the `.onnx` and `.tflite` files
too, so a copied file alone is enough for `dlrecipes predict`). It says which recipe and
run the model comes from, the task and its classes, each input (name, shape, dtype, what
it holds) and output (and what it means: a binary model's one output is the probability
of its second class), the preprocessing inside, how the data source reads raw examples
(a table's columns, a series' window), the run's metrics and the library versions.
"""

from __future__ import annotations

import json
import platform
from importlib import metadata as package_metadata
from pathlib import Path

from dlrecipes import runs
from dlrecipes.errors import RecipeError

FILE_NAME = "metadata.json"
# The key the metadata is stored under inside an ONNX model (metadata_props) or a .tflite
# file (its flatbuffer's metadata list).
EMBEDDED_KEY = "dlrecipes"
SCHEMA_VERSION = 1

PACKAGES = {
    "savedmodel": ("tensorflow", "keras"),
    "keras": ("keras", "tensorflow"),
    "onnx": ("tensorflow", "keras", "tf2onnx", "onnx"),
    "litert": ("tensorflow", "keras", "ai-edge-litert"),
}


def build(served, fmt: str, quantization: str | None, *, encoded_images: bool, class_outputs: bool,
          files: list[str]) -> dict:
    """The metadata of one export of `served` (an `export.serving.Served`)."""
    run = served.run
    info = runs.info(run)
    metrics = _read_metrics(run)
    return {
        "dlrecipes_export": SCHEMA_VERSION,
        "format": fmt,
        "quantization": quantization,
        "files": files,
        "recipe": {"name": info.get("recipe"), "sha256": (info.get("sha256") or {}).get("recipe.yaml"),
                   "description": served.recipe.description},
        "run": {"name": run.name, "finished": info.get("finished"), "metrics": metrics},
        "task": served.task.name,
        "classes": served.class_names,
        "reads": "latent" if served.task.generative else served.signature.kind,
        "inputs": served.inputs(encoded_images),
        "outputs": served.outputs(class_outputs),
        "preprocessing": served.preprocessing(),
        "source": served.client_info(),
        "versions": versions(PACKAGES.get(fmt, ())),
        "exported": runs.utc_now(),
    }


def _read_metrics(run: Path) -> dict:
    try:
        metrics = runs.read_json(run / "metrics.json")
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in metrics.items() if k in ("test", "validation", "weights_epoch", "epochs")}


def versions(packages) -> dict:
    found = {"dlrecipes": _version("dlrecipes"), "python": platform.python_version()}
    for name in packages:
        found[name] = _version(name)
    return found


def _version(name: str) -> str | None:
    try:
        return package_metadata.version(name)
    except package_metadata.PackageNotFoundError:
        return None


def dumps(meta: dict) -> str:
    return json.dumps(meta, indent=2) + "\n"


def write(folder: Path, meta: dict) -> None:
    (folder / FILE_NAME).write_text(dumps(meta), encoding="utf-8")


def parse(text: str | bytes, where: str) -> dict:
    """Metadata from its JSON text, checked (`check`) to be an export's that this version reads."""
    try:
        meta = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise RecipeError(f"the export's metadata is not valid JSON ({error}).", where=where,
                          fix="export the run again (`dlrecipes export RUN`)") from None
    if not isinstance(meta, dict) or "dlrecipes_export" not in meta:
        raise RecipeError("this is not a dlrecipes export's metadata.", where=where,
                          fix="give a file written by `dlrecipes export`")
    version = meta["dlrecipes_export"]
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise RecipeError(f"the export's metadata is of schema {version}, written by a newer dlrecipes: this one "
                          f"reads schema {SCHEMA_VERSION} and older.", where=where,
                          fix="upgrade dlrecipes, or export the run again with this version")
    problems = check(meta)
    if problems:
        raise damaged(problems, where)
    return meta


def damaged(problems: list[str], where: str) -> RecipeError:
    """The one error of metadata that is not what its export wrote, or not of its model."""
    shown = "; ".join(problems[:3]) + (f" (and {len(problems) - 3} more)" if len(problems) > 3 else "")
    return RecipeError(f"the export's metadata is damaged or does not match the model: {shown}.", where=where,
                       fix="export the run again (`dlrecipes export RUN`), and copy its folder whole")


def read_beside(model_file: Path) -> dict | None:
    """The `metadata.json` in the model's folder, or None when there is none."""
    path = model_file / FILE_NAME if model_file.is_dir() else model_file.parent / FILE_NAME
    if path.is_dir():
        raise damaged([f"{FILE_NAME} is a folder"], str(path))
    if not path.is_file():
        return None
    try:
        text = path.read_bytes()
    except OSError as error:
        raise RecipeError(f"cannot read the export's metadata: {error.strerror or error}.", where=str(path)) from None
    return parse(text, str(path))


# --- what `predict` relies on -----------------------------------------------------------

# What an input's `dtype` may be: numpy's names, and "string" (bytes, or text).
DTYPES = ("uint8", "int8", "uint16", "int16", "int32", "int64", "float16", "float32", "float64", "bool", "string")
# Each kind of input (`reads`) and the axes of one example (after the batch's), where fixed.
READS = {"images": 3, "text": 0, "table": 0, "sequences": 2, "vectors": 1, "arrays": None, "latent": 1}


def check(meta: dict) -> list[str]:
    """What is wrong with an export's metadata, in words (empty: nothing): the keys
    `predict` reads, their types, and how they fit together (the task and its classes, what
    it reads and its inputs, a table's columns, a series' window). The model itself is
    compared by `opening`, which has it."""
    from dlrecipes import tasks

    problems = []
    version = meta.get("dlrecipes_export")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        problems.append(f"'dlrecipes_export' is {_shown(version)}, not a schema version (1, 2, ...)")
    for key in ("format", "quantization"):
        if meta.get(key) is not None and not isinstance(meta[key], str):
            problems.append(f"'{key}' is {_shown(meta[key])}, not a name")
    for key in ("recipe", "run", "source"):
        if meta.get(key) is not None and not isinstance(meta[key], dict):
            problems.append(f"'{key}' is {_shown(meta[key])}, not an object")
    task = meta.get("task")
    if task not in tasks.TASKS:
        problems.append(f"'task' is {_shown(task)}, none of {', '.join(tasks.TASK_NAMES)}")
    else:
        problems += _class_problems(tasks.get(task), meta.get("classes"))
    reads = meta.get("reads")
    if reads not in READS:
        problems.append(f"'reads' is {_shown(reads)}, none of {', '.join(READS)}")
    elif task in tasks.TASKS and tasks.get(task).generative != (reads == "latent"):
        problems.append(f"task '{task}' does not read {reads}")
    inputs = meta.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        problems.append(f"'inputs' is {_shown(inputs)}, not a list of the model's inputs")
        return problems
    for i, spec in enumerate(inputs, start=1):
        problems += _input_problems(i, spec)
    if problems or reads not in READS:
        return problems
    return _reads_problems(reads, inputs, meta.get("source") or {})


def _class_problems(task, classes) -> list[str]:
    if not task.has_classes:
        return [] if classes is None else [f"task '{task.name}' has no classes, and 'classes' is {_shown(classes)}"]
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        return [f"'classes' is {_shown(classes)}, not a list of class names"]
    if len(set(classes)) != len(classes):
        return ["'classes' names a class twice"]
    if task.check_outputs(len(classes)):  # e.g. binary with 10 classes
        return [f"'classes' names {len(classes)}, which a {task.name} model cannot have"]
    return []


def _input_problems(i: int, spec) -> list[str]:
    if not isinstance(spec, dict):
        return [f"input {i} is {_shown(spec)}, not an object"]
    found = []
    if not isinstance(spec.get("name"), str) or not spec["name"]:
        found.append(f"input {i} has no name")
    shape = spec.get("shape")
    if (not isinstance(shape, list) or not shape or shape[0] is not None
            or not all(d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0) for d in shape[1:])):
        found.append(f"input {i}'s shape is {_shown(shape)}, not [null (the batch), sizes...]")
    if spec.get("dtype") not in DTYPES:
        found.append(f"input {i}'s dtype is {_shown(spec.get('dtype'))}, none of {', '.join(DTYPES)}")
    return found


def _reads_problems(reads: str, inputs: list[dict], source: dict) -> list[str]:
    """How the inputs fit what the model reads: one input of an example's axes, a table's
    columns one input each, a series' window the input's length."""
    axes = READS[reads]
    if reads == "table":
        columns = source.get("columns")
        if not isinstance(columns, dict) or not columns:
            return ["a table's 'source' has no 'columns'"]
        names = [spec["name"] for spec in inputs]
        if sorted(names) != sorted(columns):
            return [f"the inputs ({', '.join(names)}) are not the table's columns ({', '.join(columns)})"]
        found = []
        for spec in inputs:
            kind = columns[spec["name"]]
            if kind == "numeric":
                wanted = "float32"
            elif isinstance(kind, list) and kind and all(isinstance(c, str) for c in kind):
                wanted = "string"
            else:
                found.append(f"column '{spec['name']}' is {_shown(kind)}, neither 'numeric' nor a list of categories")
                continue
            if spec["dtype"] != wanted or len(spec["shape"]) != 1:
                found.append(f"input '{spec['name']}' is {spec['dtype']} of shape {_shown(spec['shape'])}, where "
                             f"its column takes {wanted} of shape [null]")
        if source.get("target") is not None and not isinstance(source["target"], str):
            found.append(f"the table's target is {_shown(source['target'])}, not a column name")
        return found
    if len(inputs) != 1:
        return [f"a model that reads {reads} has one input, not {len(inputs)}"]
    spec = inputs[0]
    shape, dtype = spec["shape"], spec["dtype"]
    if reads == "text" or (reads == "images" and dtype == "string"):
        return [] if dtype == "string" and len(shape) == 1 else [
            f"input '{spec['name']}' is {dtype} of shape {_shown(shape)}, where a model that reads {reads} takes "
            "strings of shape [null]"]
    if dtype == "string":
        return [f"input '{spec['name']}' is strings, where a model that reads {reads} takes numbers"]
    if axes is not None and len(shape) != axes + 1:
        return [f"input '{spec['name']}' has shape {_shown(shape)}, where a model that reads {reads} takes "
                f"{axes} ax{'i' if axes == 1 else 'e'}s after the batch"]
    if reads == "sequences" and any(key in source for key in ("column", "window", "horizon")):
        return _series_problems(source, shape)
    return []


def _series_problems(source: dict, shape: list) -> list[str]:
    found = []
    if not isinstance(source.get("column"), str):
        found.append(f"the series' column is {_shown(source.get('column'))}, not a name")
    for key in ("window", "horizon"):
        value = source.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            found.append(f"the series' {key} is {_shown(value)}, not a number of steps")
    if not found and shape[1] is not None and shape[1] != source["window"]:
        found.append(f"the series' window is {source['window']}, the input's length {shape[1]}")
    return found


def _shown(value) -> str:
    from dlrecipes.errors import cut

    return "missing" if value is None else cut(json.dumps(value))
