"""Images in folders, one sub-folder per class: `path/cat/001.png`, `path/dog/002.jpg`, ...

The layout `keras.utils.image_dataset_from_directory` reads; here every image is decoded
once, up front, so a corrupt file is found before training starts - reported as an error
naming it, or skipped and counted (`bad_images: skip`) - rather than halfway through an
epoch. Images are resized to `image_size` and converted to `color_mode`, and kept as
uint8, as tfds' images are. The test split is a folder of its own (`test_path`, same
class sub-folders) or a seeded, stratified fraction, like the validation split. The
classes are the sub-folders' names, sorted; `classes` keeps some of them, in its order,
and the other folders are not read at all.

An export takes encoded images (PNG, JPEG, GIF, BMP bytes): decoding and resizing are
part of its graph.
"""

from __future__ import annotations

import dataclasses
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt

from dlrecipes.data.files import find_file, is_present
from dlrecipes.data.pipeline import scaled, scaling_layer, scaling_notes
from dlrecipes.data.registry import Signature, register_source
from dlrecipes.data.splits import CLASSES_HELP, FractionSplits, check_training_classes, select_classes, split_arrays
from dlrecipes.errors import RecipeError
from dlrecipes.schema import Section

EXTENSIONS = {".png", ".jpg", ".jpeg", ".gif", ".bmp"}
CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}


class ImageFolderOptions(Section):
    source: Literal["image_folder"]
    path: str = Field(..., description="Folder with one sub-folder of images per class.")
    test_path: str | None = Field(None, description="A test folder with the same class sub-folders; else a fraction.")
    data_dir: str | None = Field(None, description="Folder the paths are under (also --data-dir).")
    image_size: tuple[PositiveInt, PositiveInt] = Field((64, 64), strict=False, description="Height and width images are resized to.")
    color_mode: Literal["grayscale", "rgb", "rgba"] = Field("rgb", description="Channels the model sees.")
    bad_images: Literal["error", "skip"] = Field("error", description="A file that does not decode: stop, or skip it.")
    classes: list[str] | None = Field(None, description=f"Sub-folder names. {CLASSES_HELP}")
    split: FractionSplits = FractionSplits(validation=0.1, test=0.2)
    divide_by: PositiveFloat | None = Field(255, description="Inputs are divided by this, in training and in exports.")


@register_source("image_folder", ImageFolderOptions)
class ImageFolderSource:
    def __init__(self, options: ImageFolderOptions, task):
        self.options = options
        self.task = task
        self.skipped: list[str] = []

    def splits(self) -> tuple[str, ...]:
        return ("train", "validation", "test") if self.options.split.has_validation else ("train", "test")

    def why_no_folds(self) -> str | None:
        return None  # every example is in memory: folds are rows of the training data

    def is_local(self) -> bool:
        return is_present(self.options.path, self.options.data_dir)

    def signature(self) -> Signature:
        h, w = self.options.image_size
        classes = self._classes
        return Signature((h, w, CHANNELS[self.options.color_mode]), "uint8", len(classes), tuple(classes))

    def train_signature(self) -> Signature:
        import numpy as np

        sizes = {role: len(rows) for role, (_, rows) in self._where.items()}
        signature = dataclasses.replace(self.signature(), split_sizes=sizes)
        folder, rows = self._where["train"]
        check_training_classes(self.task, np.bincount(self._decoded[folder][1][rows], minlength=signature.num_outputs),
                               signature.class_names, where=f"{self.options.path} (data.path)",
                               fix="give the training folder readable images of every class")
        return signature

    def load(self) -> dict:
        import tensorflow as tf

        datasets = {}
        for role, (folder, rows) in self._where.items():
            images, labels = self._decoded[folder]
            datasets[role] = tf.data.Dataset.from_tensor_slices((images[rows], labels[rows]))
        return datasets

    def preprocess(self, x):
        return scaled(x, self.options.divide_by)

    def keras_preprocess(self, inputs):
        return scaling_layer(self.options.divide_by)(inputs)

    def preprocessing_notes(self) -> list[str]:
        return scaling_notes(self.options.divide_by)

    def client_info(self) -> dict:
        """What a client of an export needs: the size and colours images are converted to."""
        return {"image_size": list(self.options.image_size), "color_mode": self.options.color_mode}

    def serving_input(self):
        """(TensorSpec, function) for exports: encoded image bytes to the uint8 batch."""
        import tensorflow as tf

        def decode_all(encoded):
            return tf.map_fn(self._decode, encoded, fn_output_signature=tf.TensorSpec(self.signature().input_shape, tf.uint8))

        return tf.TensorSpec((None,), tf.string, name="inputs"), decode_all

    # -- reading --------------------------------------------------------------------------

    def _decode(self, encoded):
        import tensorflow as tf

        image = tf.io.decode_image(encoded, channels=CHANNELS[self.options.color_mode], expand_animations=False)
        image = tf.image.resize(image, self.options.image_size)
        return tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)

    def _folder(self, path: str, where: str) -> Path:
        folder = find_file(path, self.options.data_dir, where=where)
        if not folder.is_dir():
            raise RecipeError(f"{folder} is not a folder.", where=where, fix="give the folder holding one sub-folder per class")
        return folder

    @cached_property
    def _files(self) -> dict[str, dict[str, list[Path]]]:
        """'train' / 'test' -> each kept class (in class-id order) -> its image files, sorted."""
        o = self.options
        found = {}
        for role, path in (("train", o.path), ("test", o.test_path)):
            if path is None:
                continue
            where = f"data.{'path' if role == 'train' else 'test_path'}"
            folder = self._folder(path, where)
            names = [d.name for d in sorted(folder.iterdir()) if d.is_dir()]
            if len(names) < 2:
                raise RecipeError(f"{folder} has {len(names)} class sub-folder(s); classification needs at least 2.",
                                  where=where, fix="put each class's images in a sub-folder named after it")
            if role == "test" and o.classes is None and names != list(found["train"]):
                raise RecipeError(f"the test folder's classes {names} differ from {list(found['train'])}.",
                                  where="data.test_path", fix="give both folders the same class sub-folders")
            kept = select_classes(names, o.classes, of=f"{folder} (its sub-folders)").names
            classes = {name: sorted(f for f in (folder / name).iterdir() if f.suffix.lower() in EXTENSIONS)
                       for name in kept}
            empty = [name for name, files in classes.items() if not files]
            if empty:
                raise RecipeError(f"class folder {folder / empty[0]} has no images ({', '.join(sorted(EXTENSIONS))}).",
                                  where=where, fix="add images to it, or remove the folder")
            found[role] = classes
        return found

    @cached_property
    def _classes(self) -> list[str]:
        return list(self._files["train"])

    @cached_property
    def _decoded(self) -> dict:
        """'train' / 'test' -> (uint8 images, class ids), every file decoded once."""
        import numpy as np
        import tensorflow as tf

        decoded = {}
        for role, classes in self._files.items():
            images, labels = [], []
            for class_id, files in enumerate(classes.values()):
                for file in files:
                    try:
                        images.append(self._decode(tf.io.read_file(str(file))).numpy())
                    except tf.errors.InvalidArgumentError:
                        if self.options.bad_images == "error":
                            raise RecipeError(f"{file} is not a readable image.", where=str(file),
                                              fix="remove or replace it, or set data.bad_images: skip") from None
                        self.skipped.append(str(file))
                        continue
                    labels.append(class_id)
            decoded[role] = (np.stack(images), np.array(labels, dtype="int64"))
        return decoded

    @cached_property
    def _where(self) -> dict:
        """role -> (which folder's arrays, row indices)."""
        test = self._decoded.get("test")
        return split_arrays(self._decoded["train"][1], None if test is None else len(test[1]), self.options.split)
