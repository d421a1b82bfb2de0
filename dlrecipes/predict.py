"""Predictions of a run's model on image files, through the same preprocessing as training."""

from __future__ import annotations

from pathlib import Path

from dlrecipes import runs
from dlrecipes.data import get_source
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


def predict_files(run: Path, files: list[Path], top: int = 3) -> list[dict]:
    import keras
    import numpy as np

    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise RecipeError(f"no such file: {', '.join(missing)}.", fix="check the paths")
    recipe, signature, model = runs.load_trained(run)
    if len(signature.input_shape) != 3:
        raise RecipeError(
            f"`predict` reads image files; this run's model takes inputs of shape {signature.input_shape}.",
            fix="export the run and call its serving signature with your inputs",
        )
    images = np.stack([load_image(f, signature.input_shape) for f in files])
    outputs = keras.ops.convert_to_numpy(model(get_source(recipe.data).preprocess(images), training=False))
    names = signature.class_names or [str(i) for i in range(signature.num_outputs)]
    results = []
    for path, scores in zip(files, outputs):
        if recipe.task.type == "regression":
            results.append({"file": str(path), "predictions": scores.tolist()})
        elif recipe.task.type == "binary":
            results.append({"file": str(path), "probability": float(scores[0]),
                            "label": names[-1] if scores[0] >= 0.5 else names[0]})
        else:
            order = np.argsort(scores)[::-1][:top]
            results.append({"file": str(path),
                            "top": [{"label": names[i], "class": int(i), "probability": float(scores[i])} for i in order]})
    return results
