"""Data augmentation in the training pipeline: Keras' preprocessing layers, batch by batch.

Augmentation runs on training batches only - never on validation or test data, never
inside an exported model - and on the raw pixel scale (0-255, before `divide_by`), which
is the value range Keras' colour layers assume. Each step is a Keras layer named in the
recipe; the other keys of the step are that layer's arguments:

    augment:
      - {name: random_flip, mode: horizontal}
      - {name: random_crop, padding: 4}        # pad 4 pixels, crop back (ResNet on CIFAR)
      - {name: cutout, factor: 0.5}             # RandomErasing with a constant (0) fill
      - {name: mixup, alpha: 0.2}               # soft labels: the loss sees one-hot targets

MixUp (Zhang et al. 2018) and CutMix (Yun et al. 2019) blend two examples and their labels,
so the targets become convex combinations of two one-hot vectors; a multi-class recipe
using them trains on one-hot labels with categorical cross-entropy.
"""

from __future__ import annotations

from dlrecipes.errors import RecipeError
from dlrecipes.options import LAYERS, SOFT_LABELS


def build_layers(steps: list, input_shape: tuple[int, ...], seed: int) -> list:
    """The Keras layers of the steps; a wrong argument is a RecipeError naming the step."""
    import keras

    layers = []
    for i, step in enumerate(steps):
        where = f"train.augment[{i}] ({step.name})"
        arguments = {"seed": seed + i, **step.arguments}
        if step.name == "cutout":
            arguments.setdefault("fill_value", 0.0)
        if step.name == "random_crop":
            padding = arguments.pop("padding", 0)
            arguments.setdefault("height", input_shape[0])
            arguments.setdefault("width", input_shape[1])
            if padding:
                layers.append((step.name, keras.layers.ZeroPadding2D(padding)))
        try:
            layer = getattr(keras.layers, LAYERS[step.name])(**arguments)
        except (TypeError, ValueError) as err:
            raise RecipeError(
                f"bad arguments for augmentation '{step.name}': {err}",
                where=where,
                fix=f"see keras.layers.{LAYERS[step.name]} for its arguments",
            ) from None
        layers.append((step.name, layer))
    return layers


def augmenter(layers: list):
    """(images, targets) -> augmented (images, targets), for a training batch."""

    def augment(images, targets):
        for name, layer in layers:
            if name in SOFT_LABELS:
                mixed = layer({"images": images, "labels": targets}, training=True)
                images, targets = mixed["images"], mixed["labels"]
            else:
                images = layer(images, training=True)
        return images, targets

    return augment
