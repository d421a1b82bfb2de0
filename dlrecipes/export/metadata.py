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
    """Metadata from its JSON text, checked to be an export's."""
    try:
        meta = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise RecipeError(f"the export's metadata is not valid JSON ({error}).", where=where,
                          fix="export the run again (`dlrecipes export RUN`)") from None
    if not isinstance(meta, dict) or "dlrecipes_export" not in meta or "inputs" not in meta:
        raise RecipeError("this is not a dlrecipes export's metadata.", where=where,
                          fix="give a file written by `dlrecipes export`")
    return meta


def read_beside(model_file: Path) -> dict | None:
    """The `metadata.json` in the model's folder, or None when there is none."""
    path = model_file / FILE_NAME if model_file.is_dir() else model_file.parent / FILE_NAME
    if not path.is_file():
        return None
    return parse(path.read_bytes(), str(path))
