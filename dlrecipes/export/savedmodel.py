"""A SavedModel that TensorFlow Serving loads: `<out>/<model name>/<version>/`.

The version is an integer folder, as TF Serving expects. The `serving_default` signature
takes the raw inputs the dataset stores (uint8 images for tfds image datasets, encoded
image files for an image folder, strings for text, one tensor per column for a table):
the recipe's preprocessing is traced into the graph, so clients send what they have. A
classifier also returns `classes` (the class names ranked by score) and `scores`. A GAN
exports its generator (latent vectors in).

A version is a folder holding `saved_model.pb`. Anything else in the model folder (a
stray file `3`, a half-copied folder, the other formats' folders) is no version: it does
not count when numbering, and the default export skips its name rather than fail. The
version folder also holds `metadata.json`, which TF Serving ignores. TF Serving reads a
version as an int64, so one above `MAX_VERSION` is refused and never numbered to.
"""

from __future__ import annotations

import os
from pathlib import Path

from dlrecipes.errors import RecipeError, cut, shown_path
from dlrecipes.export.formats import Engine, Format, register_format

SIGNATURE = "serving_default"
MAX_VERSION = 2**63 - 1  # TF Serving parses version folders as int64; a larger name is no version to it


def is_saved_model(path: Path) -> bool:
    return path.is_dir() and (path / "saved_model.pb").is_file()


def versions(model_dir: Path) -> list[int]:
    """The versions exported to `model_dir`: integer-named folders holding a saved model."""
    if not model_dir.is_dir():
        return []
    # isascii: "３" is a digit to str.isdigit, but TF Serving reads only ASCII numbers.
    found = [int(p.name) for p in model_dir.iterdir() if p.name.isascii() and p.name.isdigit() and is_saved_model(p)]
    return sorted(number for number in found if number <= MAX_VERSION)


def check_version(version: int) -> None:
    """Refuse a --version TF Serving cannot read."""
    if not 1 <= version <= MAX_VERSION:
        raise RecipeError(f"--version {cut(str(version))} is out of range: TF Serving reads versions as int64, "
                          f"1 to {MAX_VERSION}.", where="--version",
                          fix="choose a smaller number, or leave --version out for the next free one")


def _free_version(model_dir: Path) -> int | None:
    version = max(versions(model_dir), default=0) + 1
    while version <= MAX_VERSION and os.path.lexists(model_dir / str(version)):
        version += 1
    return version if version <= MAX_VERSION else None


def next_version(model_dir: Path) -> int:
    """One above the highest version; a name taken by something else is skipped. Never
    above MAX_VERSION: with that version taken, an explicit --version is needed."""
    version = _free_version(model_dir)
    if version is None:
        raise RecipeError(f"'{model_dir.name}' has no free version above its highest: TF Serving reads versions "
                          f"up to {MAX_VERSION}.", where=str(model_dir),
                          fix="export with --version N (a free number below it), or under another --name")
    return version


def check_free(final: Path, version: int) -> None:
    """Refuse an explicit --version whose name is taken, saying by what."""
    if not os.path.lexists(final):
        return
    free = _free_version(final.parent)
    fix = (f"omit --version to write the next free version ({free}), or choose another one" if free is not None
           else "choose another version")
    if is_saved_model(final):
        raise RecipeError(f"version {version} of '{final.parent.name}' already exists.", where=str(final), fix=fix)
    kind = "a folder without saved_model.pb" if final.is_dir() else "a file" if final.is_file() else "something else"
    raise RecipeError(
        f"cannot export version {version} of '{final.parent.name}': '{shown_path(str(final))}' is {kind}, "
        "not a saved model.",
        where=str(final), fix=f"{fix}; or move it away if it is not needed",
    )


@register_format
class SavedModel(Format):
    name = "savedmodel"
    suffix = None
    summary = "SavedModel in TF Serving's layout, <out>/<name>/<version>/ (TensorFlow, TF Serving)"
    encoded_images = True
    class_outputs = True

    def write(self, served, folder: Path, quantization: str | None) -> None:
        import keras

        archive = keras.export.ExportArchive()
        archive.track(served.model)
        archive.add_endpoint(SIGNATURE, served.function(self.encoded_images, self.class_outputs),
                             input_signature=[served.input_signature(self.encoded_images)])
        archive.write_out(str(folder), verbose=False)

    def open(self, path: Path):
        import tensorflow as tf

        try:
            signatures = tf.saved_model.load(str(path)).signatures
        except Exception as error:  # noqa: BLE001 - a cut file is an OSError, DecodeError, IndexError, tf.errors...
            raise RecipeError(f"'{shown_path(str(path))}' is not a complete SavedModel: TensorFlow cannot load it "
                              f"({type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}).",
                              where=str(path), fix="copy the whole version folder again, or export the run again "
                                                   "(`dlrecipes export RUN --format savedmodel`)") from None
        if SIGNATURE not in signatures:
            raise RecipeError(f"'{shown_path(str(path))}' has no '{SIGNATURE}' signature, which every dlrecipes "
                              f"SavedModel serves (it has: {', '.join(signatures) or 'none'}).", where=str(path),
                              fix="export the run again (`dlrecipes export RUN --format savedmodel`)")
        serve = signatures[SIGNATURE]

        def engine(inputs: dict) -> dict:
            return {name: value.numpy() for name, value in serve(**{k: tf.constant(v) for k, v in inputs.items()}).items()}

        declared = {name: (tuple(spec.shape.as_list()), spec.dtype.name)
                    for name, spec in serve.structured_input_signature[1].items()}
        returned = {name: tuple(spec.shape.as_list()) for name, spec in serve.structured_outputs.items()}
        return Engine(engine, declared, returned)
