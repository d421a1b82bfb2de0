"""Keras: `<out>/<name>/keras/model.keras`, a Keras model that takes the raw inputs.

The run's trained model behind Keras layers that do the data source's preprocessing
(`source.keras_preprocess`: a Rescaling for pixels, a Reshape per table column; a text
model's TextVectorization is inside the model already), so the file takes what the other
exports take - uint8 images, one input per table column, raw strings, windows, a GAN
generator's latent vectors - as a dict by input name, and returns a dict by output name
(`probabilities`, `predictions` or `images`). The class names are in the metadata.

It loads with `keras.saving.load_model` alone, unless the architecture uses dlrecipes' own
layers (AlexNet's LocalResponseNormalization): then `import dlrecipes.layers` first. A
`.keras` file is a zip of which Keras reads its own entries; the export's metadata is one
more entry, `dlrecipes.json`, so a copied file alone is enough for `dlrecipes predict`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from dlrecipes.errors import RecipeError, shown_path
from dlrecipes.export.formats import Engine, Format, register_format
from dlrecipes.export.metadata import EMBEDDED_KEY

EMBEDDED_ENTRY = f"{EMBEDDED_KEY}.json"


@register_format
class KerasFile(Format):
    name = "keras"
    suffix = ".keras"
    summary = "Keras model file, <out>/<name>/keras/model.keras (keras.saving.load_model)"

    def problems(self, served, quantization: str | None) -> list[str]:
        if served.task.generative or hasattr(served.source, "keras_preprocess"):
            return []
        return [(f"data source '{served.recipe.data.source}' does not build its preprocessing of Keras layers "
                 "(it has no keras_preprocess)")]

    def write(self, served, folder: Path, quantization: str | None) -> None:
        with_preprocessing(served).save(str(folder / self.file_name))

    def embed(self, model_file: Path, text: str) -> None:
        with zipfile.ZipFile(model_file, "a", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(EMBEDDED_ENTRY, text)

    def embedded(self, model_file: Path) -> str | None:
        try:
            with zipfile.ZipFile(model_file) as archive:
                if EMBEDDED_ENTRY not in archive.namelist():
                    return None
                return archive.read(EMBEDDED_ENTRY).decode("utf-8", errors="replace")
        except (OSError, zipfile.BadZipFile) as error:
            raise RecipeError(f"'{shown_path(str(model_file))}' is not a Keras model file ({error}).",
                              where=str(model_file),
                              fix="give a .keras file written by `dlrecipes export RUN --format keras`") from None

    def open(self, path: Path):
        import keras
        import numpy as np
        import tensorflow as tf

        import dlrecipes.layers  # noqa: F401  (registers dlrecipes' own layers, which load_model looks up)

        try:
            model = keras.saving.load_model(str(path), compile=False)
        except Exception as error:  # noqa: BLE001 - Keras says "File not found" of a truncated zip, KeyError of a foreign one
            raise RecipeError(f"Keras cannot load '{shown_path(str(path))}' ({type(error).__name__}: {str(error)[:200]}).",
                              where=str(path),
                              fix="export the run again (`dlrecipes export RUN --format keras`)") from None

        def engine(inputs: dict) -> dict:
            outputs = model({name: tf.constant(value) for name, value in inputs.items()}, training=False)
            return {name: np.asarray(value) for name, value in outputs.items()}

        declared = {t.name: (tuple(t.shape), str(t.dtype)) for t in model.inputs}
        returned = {name: tuple(t.shape) for name, t in model.output.items()} if isinstance(model.output, dict) else None
        return Engine(engine, declared, returned)


def with_preprocessing(served):
    """A Keras model of the raw inputs (`served.inputs()`, by name) to a dict of the model's
    output by its export name: the source's preprocessing layers, then the trained model
    (a GAN's generator)."""
    import keras

    from dlrecipes.export.serving import INPUT_NAME

    inputs = {i["name"]: keras.Input(tuple(i["shape"][1:]), dtype=i["dtype"], name=i["name"]) for i in served.inputs()}
    if served.task.generative:
        model, features = served.model.generator, inputs[INPUT_NAME]
    else:
        model = served.model
        features = served.source.keras_preprocess(inputs if served.signature.columns else inputs[INPUT_NAME])
    return keras.Model(inputs, {served.task.output_name: model(features)}, name=f"{model.name}_export")
