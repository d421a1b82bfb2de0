"""What every export serves: a run's model behind its preprocessing, as one function of raw inputs.

Clients send what the dataset stores (uint8 pixels, raw strings, a table's columns, windows
of a series) and the recipe's preprocessing runs inside the exported graph, as it ran in
training. `Served` holds the trained run and builds that function; each format
(`export.savedmodel`, `export.onnx`, `export.litert`, `export.keras_file`) converts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from dlrecipes import runs
from dlrecipes.data import source_of

INPUT_NAME = "inputs"

# Keras layers that transform inputs rather than learn a mapping: what an export's metadata
# lists as "preprocessing inside", and what some formats cannot hold.
PREPROCESSING_LAYERS = ("Rescaling", "Normalization", "StringLookup", "IntegerLookup", "TextVectorization",
                        "CategoryEncoding", "Discretization", "Hashing")


@dataclass
class Served:
    """A complete run, loaded: its recipe, data signature, Keras model and data source."""

    run: Path
    recipe: object
    signature: object
    model: object

    @classmethod
    def load(cls, run: Path, data_dir: str | None = None) -> "Served":
        """The run; `data_dir` (export's --data-dir) is where its data is now, if it moved
        since training (only int8 calibration reads it)."""
        recipe, signature, model = runs.load_trained(run)
        if data_dir is not None:
            recipe = recipe.model_copy(update={"data": recipe.data.model_copy(update={"data_dir": data_dir})})
        return cls(run, recipe, signature, model)

    @property
    def task(self):
        return self.recipe.task.problem

    @cached_property
    def source(self):
        return source_of(self.recipe)

    @cached_property
    def training_split(self):
        """The training split as the source loads it (unbatched raw examples), loaded once:
        a DataUnavailableError when the data is not on this machine."""
        return self.source.load()["train"]

    @property
    def class_names(self) -> list[str] | None:
        if not self.task.has_classes:
            return None
        return list(self.signature.class_names or [str(i) for i in range(self.signature.num_outputs)])

    # --- inputs -------------------------------------------------------------------------

    def inputs(self, encoded_images: bool = False) -> list[dict]:
        """Each input the export takes: name, shape (None for the batch), dtype, and what it
        holds. `encoded_images`: image sources that can decode files in the graph take the
        files' bytes instead of pixels (the SavedModel does; ONNX and LiteRT cannot decode)."""
        if self.task.generative:
            return [{"name": INPUT_NAME, "shape": [None, self.model.latent_dim], "dtype": "float32",
                     "holds": "latent vectors, standard normal"}]
        s = self.signature
        if s.columns:
            return [{"name": name, "shape": [None], "dtype": "float32" if kind == "numeric" else "string",
                     "holds": "finite numbers (no missing values, as in training)" if kind == "numeric" else f"one of {len(kind)} categories"}
                    for name, kind in s.columns.items()]
        if encoded_images and hasattr(self.source, "serving_input"):
            return [{"name": INPUT_NAME, "shape": [None], "dtype": "string",
                     "holds": "encoded image files (PNG, JPEG, GIF, BMP)"}]
        holds = {"images": "pixels", "text": "raw texts", "sequences": "windows of consecutive values",
                 "vectors": "feature vectors", "arrays": "arrays"}[s.kind]
        return [{"name": INPUT_NAME, "shape": [None, *s.input_shape], "dtype": s.input_dtype, "holds": holds}]

    def input_signature(self, encoded_images: bool = False, batch: int | None = None):
        """The `tf.TensorSpec` structure of `inputs()`: one spec, or a dict for a table."""
        import tensorflow as tf

        specs = {i["name"]: tf.TensorSpec([batch, *i["shape"][1:]], i["dtype"], name=i["name"])
                 for i in self.inputs(encoded_images)}
        if self.signature.columns and not self.task.generative:
            return specs
        return specs[INPUT_NAME]

    def client_info(self) -> dict:
        """How a client turns raw examples into the inputs (the source's `client_info`: a
        series' window, an image folder's size), with a table's columns as the run recorded
        them: the model was built on those, and the data file may have changed or be absent."""
        if self.task.generative:
            return {}
        info = dict(getattr(self.source, "client_info", dict)())
        if self.signature.columns:
            info["columns"] = dict(self.signature.columns)
        return info

    # --- the function -------------------------------------------------------------------

    def function(self, encoded_images: bool = False, class_outputs: bool = False):
        """`serve(inputs) -> {output name: tensor}`, raw inputs in. `class_outputs` adds the
        task's named outputs (a classifier's `classes` and `scores`, ranked)."""
        model, task, source = self.model, self.task, self.source
        output_name = task.output_name
        if task.generative:
            def serve(inputs):
                return {output_name: model(inputs, training=False)}
            return serve

        decode = source.serving_input()[1] if encoded_images and hasattr(source, "serving_input") else None
        class_names = self.class_names

        def serve(inputs):
            if decode is not None:
                inputs = decode(inputs)
            outputs = model(source.preprocess(inputs), training=False)
            served = {output_name: outputs}
            if class_outputs:
                served.update(task.serving_outputs(outputs, class_names))
            return served

        return serve

    def outputs(self, class_outputs: bool = False) -> list[dict]:
        """Each output: name, shape and what it means (`class_outputs` as in `function`)."""
        task = self.task
        n = self.model.generator.output_shape[1:] if task.generative else (task.units(self.signature.num_outputs),)
        shown = [{"name": task.output_name, "shape": [None, *n], "dtype": "float32",
                  "means": task.output_meaning(self.class_names)}]
        if class_outputs:
            shown += task.serving_output_notes(self.class_names)
        return shown

    # --- what is inside -----------------------------------------------------------------

    def preprocessing(self) -> list[str]:
        """The preprocessing inside every export, in words: the source's (e.g. pixel
        scaling) and the model's preprocessing layers. A GAN's export is its generator, which
        takes latent vectors as they are: the source's preprocessing fed the discriminator."""
        steps = [] if self.task.generative else list(getattr(self.source, "preprocessing_notes", lambda: [])())
        steps += [f"{layer.__class__.__name__} layer '{layer.name}'" for layer in self.layers()
                  if layer.__class__.__name__ in PREPROCESSING_LAYERS]
        return steps

    def layers(self) -> list:
        """Every layer of the model, nested models and wrappers (Bidirectional) opened."""
        found = []

        def walk(layer):
            found.append(layer)
            for inner in getattr(layer, "layers", []) or []:
                walk(inner)
            for attr in ("forward_layer", "backward_layer", "layer"):
                inner = getattr(layer, attr, None)
                if inner is not None and hasattr(inner, "name") and inner is not layer:
                    walk(inner)

        model = self.model.generator if self.task.generative else self.model
        for layer in model.layers:
            walk(layer)
        return found
