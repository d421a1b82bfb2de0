"""ONNX: `<out>/<name>/onnx/model.onnx`, for ONNX Runtime and servers that are not TensorFlow.

tf2onnx converts the function the SavedModel serves (`Served.function`), so the file takes
the same raw inputs - uint8 images, one float32 input per table column, windows of a
series, latent vectors for a GAN's generator - with a dynamic batch, the preprocessing
inside, and returns a classifier's `classes` (names ranked by score) and `scores` besides
its `probabilities`. The export's metadata JSON is stored in the model's `metadata_props`
under "dlrecipes", so a copied `.onnx` alone is enough for `dlrecipes predict`.

Measured here (TensorFlow 2.21, tf2onnx 1.17.0, onnxruntime 1.32): Dense, Conv2D, LSTM,
GRU, Bidirectional(LSTM) and a DCGAN generator convert, within 4e-6 of Keras. Refused
before anything is written: text models (TextVectorization splits and cleans strings with
StringSplitV2 and StaticRegexReplace, which are no ONNX operators) and tables with
categorical columns (StringLookup's vocabulary table is lost in the conversion; taken the
way tf2onnx takes Keras models, the file runs but predicts up to 8 units off on
boston-housing-dnn).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path

from dlrecipes.errors import EXIT_FAILURE, RecipeError, shown_path
from dlrecipes.export.formats import Engine, Format, register_format
from dlrecipes.export.metadata import EMBEDDED_KEY

# Keras layers whose TensorFlow ops tf2onnx cannot turn into ONNX ones, and why.
CANNOT_HOLD = {
    "TextVectorization": "string splitting and regex replacement (TensorFlow's StringSplitV2, StaticRegexReplace), "
                         "which ONNX has no operators for",
    "StringLookup": "a vocabulary table lookup, which tf2onnx does not convert correctly",
    "IntegerLookup": "a vocabulary table lookup, which tf2onnx does not convert correctly",
}

# ONNX Runtime's names of the input types, as numpy dtypes.
NUMPY_TYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(uint8)": "uint8",
               "tensor(int32)": "int32", "tensor(int64)": "int64"}


@register_format
class Onnx(Format):
    name = "onnx"
    suffix = ".onnx"
    summary = "ONNX model, <out>/<name>/onnx/model.onnx (ONNX Runtime; not for text or categorical columns)"
    packages = ("tf2onnx", "onnx", "onnxruntime")
    class_outputs = True  # string outputs convert (a Gather over the names) and run in ONNX Runtime

    def problems(self, served, quantization: str | None) -> list[str]:
        named: dict[str, list[str]] = {}
        for layer in served.layers():
            if type(layer).__name__ in CANNOT_HOLD:
                named.setdefault(type(layer).__name__, []).append(f"'{layer.name}'")
        found = [f"{'layers' if len(names) > 1 else 'layer'} {', '.join(names)} ({kind}): {CANNOT_HOLD[kind]}"
                 for kind, names in named.items()]
        strings = [f"'{i['name']}'" for i in served.inputs() if i["dtype"] == "string"]
        if strings and not found:
            found.append(f"input {', '.join(strings)}: strings, and ONNX has few of TensorFlow's string operations")
        return found

    def write(self, served, folder: Path, quantization: str | None) -> None:
        import onnx

        model = convert(served)
        check_loads(model, served)
        onnx.save(model, str(folder / self.file_name))

    def embed(self, model_file: Path, text: str) -> None:
        import onnx

        model = onnx.load(str(model_file))
        entry = model.metadata_props.add()
        entry.key, entry.value = EMBEDDED_KEY, text
        onnx.save(model, str(model_file))

    def embedded(self, model_file: Path) -> str | None:
        import onnx
        from google.protobuf.message import DecodeError

        try:
            model = onnx.load(str(model_file), load_external_data=False)
            if not model.graph.node:  # an empty file parses as an empty model
                raise ValueError("it holds no graph" if model_file.stat().st_size else "the file is empty")
        except (OSError, DecodeError, ValueError) as error:
            raise RecipeError(f"'{shown_path(str(model_file))}' is not a complete ONNX model ({error}).",
                              where=str(model_file),
                              fix="copy the file again, or export the run again (`dlrecipes export RUN --format onnx`)"
                              ) from None
        return next((entry.value for entry in model.metadata_props if entry.key == EMBEDDED_KEY), None)

    def open(self, path: Path):
        import numpy as np
        import onnxruntime

        try:
            session = onnxruntime.InferenceSession(str(path), providers=onnxruntime.get_available_providers())
        except Exception as error:  # noqa: BLE001 - ONNX Runtime's errors share no base class but Exception
            raise RecipeError(f"ONNX Runtime cannot load '{shown_path(str(path))}': {error}", where=str(path),
                              fix="export the run again (`dlrecipes export RUN --format onnx`)") from None
        declared = {i.name: NUMPY_TYPES.get(i.type) for i in session.get_inputs()}
        outputs = [o.name for o in session.get_outputs()]

        def fed(name, value):
            value = np.asarray(value)
            dtype = declared.get(name)
            # float64 rows from a CSV reader go in as float32; floats are not truncated to uint8 pixels.
            if dtype and value.dtype != dtype and np.can_cast(value.dtype, dtype, "same_kind"):
                value = value.astype(dtype)
            return value

        def engine(inputs: dict) -> dict:
            results = session.run(outputs, {name: fed(name, value) for name, value in inputs.items()})
            return dict(zip(outputs, results))

        def shape(dims) -> tuple:  # a named dimension ("batch", tf2onnx's "unk__31") is an open one
            return tuple(d if isinstance(d, int) else None for d in dims)

        types = {**NUMPY_TYPES, "tensor(string)": "string"}
        return Engine(engine, {i.name: (shape(i.shape), types.get(i.type, i.type)) for i in session.get_inputs()},
                      {o.name: shape(o.shape) for o in session.get_outputs()})


def convert(served):
    """The ONNX model of `served.function`: inputs and outputs by their export names, the
    batch dimension of each named "batch"."""
    import tensorflow as tf
    import tf2onnx
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    signature = served.input_signature()
    concrete = tf.function(served.function(class_outputs=Onnx.class_outputs)).get_concrete_function(signature)
    # Frozen here rather than by tf2onnx's from_function, which makes every tensor the
    # function captures an input of the ONNX model: a Normalization layer's mean and variance
    # are captured tensors, not variables, so clients would have to feed them (Keras'
    # model.export(format="onnx") has that flaw). Loops stay loops, as tf2onnx freezes them:
    # it turns them into ONNX's LSTM, GRU and Loop.
    frozen = convert_variables_to_constants_v2(concrete, lower_control_flow=False, aggressive_inlining=True)
    output_names = {tensor.name: name for name, tensor in concrete.structured_outputs.items()}
    renamed = {after.name: output_names[before.name] for before, after in zip(concrete.outputs, frozen.outputs)}
    renamed.update({tensor.name: spec.name for tensor, spec in zip(frozen.inputs, tf.nest.flatten(signature))})
    # Keras' patch_tf2onnx is not needed: of tf2onnx 1.17's numpy-2 gaps it fixes only the
    # large-model path (np.product), which this does not take.
    with quiet_converter():
        model, _ = tf2onnx.convert.from_graph_def(
            frozen.graph.as_graph_def(), name=served.run.name,
            input_names=[t.name for t in frozen.inputs], output_names=[t.name for t in frozen.outputs],
            tensors_to_rename=renamed)
    for value in [*model.graph.input, *model.graph.output]:
        batch = value.type.tensor_type.shape.dim[0]
        if batch.dim_param:  # tf2onnx names each unknown dimension apart (unk__31)
            batch.dim_param = "batch"
    return model


def check_loads(model, served) -> None:
    """Refuse a conversion ONNX Runtime cannot load: tf2onnx keeps an op it cannot convert
    as it is and carries on, so a layer not in CANNOT_HOLD shows here."""
    import onnxruntime

    try:
        onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001 - ONNX Runtime's errors share no base class but Exception
        raise RecipeError(
            f"tf2onnx converted '{served.run.name}' into a model ONNX Runtime cannot load: {str(error).splitlines()[0]}",
            where=str(served.run), fix="export to another format (--format savedmodel); --verbose shows the converter's log",
            exit_code=EXIT_FAILURE) from None


@contextlib.contextmanager
def quiet_converter():
    """tf2onnx's progress lines and TensorFlow's notes about the TF1 functions tf2onnx calls
    kept off the screen, unless `dlrecipes --verbose`."""
    from dlrecipes import tf_quiet

    if tf_quiet.verbose():
        yield
        return
    loggers = [logging.getLogger("tf2onnx"), logging.getLogger("tensorflow")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
