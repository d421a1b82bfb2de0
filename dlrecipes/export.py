"""Export a run as a SavedModel that TensorFlow Serving loads.

Layout: `<out>/<model name>/<version>/`, version an integer, as TF Serving expects. The
`serving_default` signature takes the raw inputs the dataset stores (uint8 images for
tfds image datasets, strings for text): the recipe's preprocessing is traced into the
graph, so clients send what they have. A GAN exports its generator (latent vectors in). The export is written under a temporary name and renamed into
place, so a version folder is either complete or absent.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dlrecipes import runs
from dlrecipes.data import source_of
from dlrecipes.errors import RecipeError

INPUT_NAME = "inputs"


def next_version(model_dir: Path) -> int:
    versions = [int(p.name) for p in model_dir.glob("*") if p.is_dir() and p.name.isdigit()]
    return max(versions, default=0) + 1


def export_run(run: Path, out_dir: Path, version: int | None = None, name: str | None = None) -> Path:
    import keras
    import tensorflow as tf

    # Checked before the model is loaded: a taken version should fail at once.
    model_dir = out_dir / (name or runs.info(run)["recipe"])
    version = version or next_version(model_dir)
    final = model_dir / str(version)
    if final.exists():
        raise RecipeError(
            f"version {version} of '{model_dir.name}' already exists.",
            where=str(final),
            fix="omit --version to write the next free version, or choose another one",
        )
    recipe, signature, model = runs.load_trained(run)
    source = source_of(recipe)
    output_name = recipe.task.problem.output_name

    if recipe.task.problem.generative:
        # A GAN serves its generator: latent vectors in, images in [0, 1] out.
        spec = tf.TensorSpec((None, model.latent_dim), "float32", name=INPUT_NAME)

        def serve(inputs):
            return {output_name: model(inputs, training=False)}
    else:
        spec = tf.TensorSpec((None, *signature.input_shape), signature.input_dtype, name=INPUT_NAME)
        if signature.columns:  # a table: one input per column, raw values
            spec = {name: tf.TensorSpec((None,), "float32" if kind == "numeric" else "string", name=name)
                    for name, kind in signature.columns.items()}

        decode = None
        if hasattr(source, "serving_input"):  # e.g. encoded image files in, decoded in the graph
            spec, decode = source.serving_input()

        def serve(inputs):
            if decode is not None:
                inputs = decode(inputs)
            return {output_name: model(source.preprocess(inputs), training=False)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", serve, input_signature=[spec])
    model_dir.mkdir(parents=True, exist_ok=True)
    tmp = model_dir / f".tmp-{version}-{os.getpid()}"
    try:
        archive.write_out(str(tmp), verbose=False)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return final
