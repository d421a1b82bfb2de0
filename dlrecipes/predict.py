"""Predictions of a run's model on image files or texts, through the same preprocessing as training.

Image models read each file as one image. Text models (raw-string inputs) read each
non-empty line of each file as one text (`-` is standard input), plus any `--text`.
"""

from __future__ import annotations

from pathlib import Path

from dlrecipes import runs
from dlrecipes.data import source_of
from dlrecipes.errors import RecipeError


def load_image(path: Path, shape: tuple[int, ...]):
    """An image file as a uint8 array of the model's input shape (resized, channels matched)."""
    import tensorflow as tf

    try:
        image = tf.io.decode_image(tf.io.read_file(str(path)), expand_animations=False)
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as err:
        raise RecipeError(
            f"cannot read '{path}' as an image: {err.message.splitlines()[0]}",
            where=str(path),
            fix="give PNG, JPEG, GIF or BMP files",
        ) from None
    height, width, channels = shape
    if image.shape[-1] != channels:
        image = tf.image.rgb_to_grayscale(image[..., :3]) if channels == 1 else tf.image.grayscale_to_rgb(image[..., :1])
    if image.shape[:2] != (height, width):
        image = tf.cast(tf.round(tf.image.resize(image, (height, width))), tf.uint8)
    return image.numpy()


def predict_files(run: Path, files: list[Path], top: int = 3, texts: list[str] | None = None) -> list[dict]:
    import keras
    import numpy as np

    missing = [str(f) for f in files if str(f) != "-" and not f.is_file()]
    if missing:
        raise RecipeError(f"no such file: {', '.join(missing)}.", fix="check the paths")
    if not files and not texts:
        raise RecipeError("nothing to predict on.", fix="give files (or, for a text model, --text)")
    recipe, signature, model = runs.load_trained(run)
    if recipe.task.problem.generative:
        raise RecipeError("a GAN run generates images; it does not predict.", fix=f"use `dlrecipes sample {run.name}`")
    if signature.input_dtype == "string":
        examples = [(f"{f}:{n}", line) for f in files for n, line in enumerate(read_lines(f), start=1)]
        examples += [(f"--text {i}", text) for i, text in enumerate(texts or [], start=1)]
        inputs = np.array([text for _, text in examples], dtype=object)
    elif texts:
        raise RecipeError("--text is for text models; this run's model reads images.", fix="give image files")
    elif len(signature.input_shape) != 3:
        raise RecipeError(
            f"`predict` reads image files or text; this run's model takes inputs of shape {signature.input_shape}.",
            fix="export the run and call its serving signature with your inputs",
        )
    else:
        examples = [(str(f), None) for f in files]
        inputs = np.stack([load_image(f, signature.input_shape) for f in files])
    outputs = keras.ops.convert_to_numpy(model(source_of(recipe).preprocess(inputs), training=False))
    names = signature.class_names or [str(i) for i in range(signature.num_outputs)]
    results = []
    for (where, text), scores in zip(examples, outputs):
        result = {"file": where} if text is None else {"input": where, "text": text}
        result.update(recipe.task.problem.prediction(scores, names, top))
        results.append(result)
    return results


def read_lines(path: Path) -> list[str]:
    """The non-empty lines of a text file (`-`: standard input)."""
    import sys

    text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip()]
