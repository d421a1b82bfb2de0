"""Layer tables and parameter counts for `describe` and `list`, without TensorFlow.

The model is built by the same builder that training uses, under Keras' numpy backend
(TensorFlow is never imported). The result is cached on disk, keyed by everything it
depends on - the model and task sections, the data signature, the Keras version and the
source of the builders - so `list` stays fast and a changed builder is never stale.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from importlib import metadata
from pathlib import Path

from dlrecipes.data import source_of
from dlrecipes.errors import RecipeError

PACKAGE = Path(__file__).resolve().parent


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "dlrecipes" / "summaries"


def _code_hash() -> str:
    digest = hashlib.sha256()
    sources = ("tasks.py", "layers.py", "adversarial.py", "summary.py")
    for path in sorted([*(PACKAGE / name for name in sources), *PACKAGE.glob("models/*.py")]):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _cache_key(recipe, signature) -> str:
    parts = {
        "task": recipe.task.model_dump(mode="json"),
        "model": recipe.model.model_dump(mode="json"),
        "input_shape": list(signature.input_shape),
        "num_outputs": signature.num_outputs,
        "keras": metadata.version("keras"),
        "code": _code_hash(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def summarize(recipe, signature=None) -> dict:
    """{'params', 'trainable_params', 'layers': [{name, type, output_shape, params}]}.

    `signature`: the data's, when the caller has it already (`LoadedRecipe.signature`).
    """
    signature = signature or source_of(recipe).signature()
    path = cache_dir() / f"{_cache_key(recipe, signature)}.json"
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            pass  # a damaged cache entry is rebuilt below
    summary = _build_summary(recipe, signature)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(summary))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home only costs speed
    return summary


@contextlib.contextmanager
def _tensorflow_unavailable_to_keras():
    """Keep Keras from importing TensorFlow while it builds a model under another backend.

    Keras' serializer asks `tf.available` (which imports TensorFlow) to test whether an
    object is a TensorFlow type, and layers such as `Bidirectional` serialize while they
    are built. Before TensorFlow is imported no object can be one, so "unavailable" is the
    true answer there. Keras-internal; if it moves, models still build (only slower).
    """
    try:
        from keras.src.utils.module_utils import tensorflow as lazy_tf
    except ImportError:
        yield
        return
    if "tensorflow" in sys.modules or getattr(lazy_tf, "_available", None) is not None:
        yield
        return
    lazy_tf._available = False
    try:
        yield
    finally:
        lazy_tf._available = None


def _build_summary(recipe, signature) -> dict:
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = "numpy"
    import keras

    from dlrecipes.models import build_model
    from dlrecipes.models.common import named_leaf_layers

    with _tensorflow_unavailable_to_keras():
        try:
            model = build_model(recipe, signature)
        except MemoryError:
            # The options' bounds keep out what no machine builds; what is left may still
            # outgrow this one (several layers at their ceiling).
            raise RecipeError(
                "the model is too large to build in this machine's memory.",
                where="model", fix="use fewer or smaller layers",
            ) from None
    layers = []
    for name, layer in named_leaf_layers(model):
        try:
            shape = tuple(layer.output.shape)
        except (AttributeError, ValueError):
            shape = None
        layers.append(
            {
                "name": name,
                "type": type(layer).__name__,
                "output_shape": list(shape) if shape is not None else None,
                "params": int(layer.count_params()),
            }
        )
    trainable = sum(int(keras.ops.size(w)) for w in model.trainable_weights)
    return {
        "model": model.name,
        "params": int(model.count_params()),
        "trainable_params": trainable,
        "input_shape": list(signature.input_shape),
        "num_outputs": signature.num_outputs,
        "layers": layers,
    }
