"""Test-time augmentation: average a model's predictions over altered copies of each image.

AlexNet (Krizhevsky et al. 2012) scored a test image by the mean of its softmax over ten
patches: the four corners and the centre, and their mirror images. Our images are small and
the models take their whole size, so a "crop" here keeps the size: the image is padded by
SHIFT pixels of zeros and cut back moved up, down, left or right - a translation, as the
pad-and-crop augmentation of the CIFAR ResNets - next to the original, the centre crop:

| mode         | copies averaged                                                   |
|--------------|-------------------------------------------------------------------|
| `flip`       | the original and its mirror image (left-right)                    |
| `crops`      | the original and its four shifts                                  |
| `flip+crops` | both, and the shifts of the mirror image: ten, as AlexNet's       |

A copy helps only where the model has learnt that it shows the same thing: a mirror image
is another picture of the same coat, not of the same digit (nor of a shoe, which the data
always shows pointing one way), and a model never trained on shifted images misreads them
(README, "Test-time augmentation", measures both). One pixel:
two-pixel shifts cost the plain CNNs 4-11 points of accuracy on each copy (diagonal ones,
AlexNet's corners, 15-27), and their averages scored below the plain predictions.
"""

from __future__ import annotations

from dlrecipes.errors import RecipeError, did_you_mean

SHIFT = 1  # pixels each crop moves the image
MODES = ("flip", "crops", "flip+crops")
OFFSETS = ((-SHIFT, 0), (SHIFT, 0), (0, -SHIFT), (0, SHIFT))  # (down, right) of each crop


def views(mode: str) -> list[str]:
    """The copies a mode averages, by name: 'original', 'flip', 'crop-0'.., 'flip-crop-0'.."""
    crops = [f"crop-{i}" for i in range(len(OFFSETS))]
    return {"flip": ["original", "flip"],
            "crops": ["original", *crops],
            "flip+crops": ["original", "flip", *crops, *(f"flip-{c}" for c in crops)]}[mode]


def check(modes: list[str], signature, task, run_name: str) -> list[str]:
    """The modes asked for, refused unless each is known and the run takes images."""
    for mode in modes:
        if mode not in MODES:
            raise RecipeError(f"--tta '{mode}' is not a test-time augmentation.{did_you_mean(mode, MODES)}",
                              where="--tta", fix=f"use one of: {', '.join(MODES)}")
    if modes and (task.generative or signature.kind != "images"):
        shape = tuple(signature.input_shape)
        what = {"table": "table rows", "text": "texts"}.get(signature.kind, signature.kind)
        what += f" of shape {shape}" if shape else ""
        if task.generative:
            what = "latent vectors (a GAN)"
        raise RecipeError(
            f"--tta flips and shifts images (height x width x channels); run '{run_name}' takes {what}.",
            where="--tta", fix="leave --tta out for this run")
    return list(dict.fromkeys(modes))


def transform(name: str):
    """The function making one view of a batch of images (batch, height, width, channels)."""
    import tensorflow as tf

    flip = name.startswith("flip")
    offset = OFFSETS[int(name.rsplit("-", 1)[1])] if "crop" in name else None

    def apply(x):
        if flip:
            x = tf.reverse(x, axis=[2])
        if offset is not None:  # the content moves by -offset: the window moves by +offset
            height, width = tf.shape(x)[1], tf.shape(x)[2]
            top, left = SHIFT + offset[0], SHIFT + offset[1]
            padded = tf.pad(x, [[0, 0], [SHIFT, SHIFT], [SHIFT, SHIFT], [0, 0]])
            x = padded[:, top:top + height, left:left + width, :]
        return x

    return apply


def predict_views(model, dataset, modes: list[str], plain=None) -> dict:
    """mode -> the model's outputs averaged over the mode's views of `dataset`'s inputs.

    Each view is predicted once, whichever modes share it; `plain` is the prediction of
    the original inputs when the caller has it already.
    """
    import numpy as np

    needed = list(dict.fromkeys(view for mode in modes for view in views(mode)))
    predicted = {"original": plain} if plain is not None else {}
    for view in needed:
        if view not in predicted:
            predicted[view] = model.predict(dataset.map(_on_inputs(transform(view))), verbose=0)
    return {mode: np.mean([predicted[view] for view in views(mode)], axis=0) for mode in modes}


def _on_inputs(apply):
    def mapped(x, y):
        return apply(x), y

    return mapped
