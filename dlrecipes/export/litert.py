"""LiteRT (`.tflite`, formerly TensorFlow Lite): the model as one file for phones and embedded devices.

The run's serving function (raw inputs in, the source's preprocessing inside, as in
`export.serving`) goes through a SavedModel to TensorFlow's converter - written inside the
export's own temporary folder under --out and removed before that is renamed, so only
--out's disk is written (not $TMPDIR) - the way Keras' own `format="litert"` export goes. Only LiteRT's built-in ops
are allowed: Keras' export also enables SELECT_TF_OPS, but neither the TensorFlow 2.21
wheel nor `ai-edge-litert` ships the Flex delegate those ops need, so such a file does not
run ("Select TensorFlow op(s), included in the given model, is(are) not supported by this
interpreter"). (`from_concrete_functions` on the same
function converts too, but leaves Keras 3's variables out of the file: its outputs are
wrong.)

- float32 by default: the same outputs as the Keras model (within 1e-5).
- `float16`: weights stored in float16 (half the size); computed in float32 on a CPU.
- `int8`: weights and activations in int8, calibrated on `CALIBRATION_EXAMPLES` training
  examples; inputs and outputs keep their dtypes (uint8 pixels, float32 columns and
  scores), so clients feed every variant the same arrays.

A recurrent layer (LSTM, GRU, SimpleRNN) runs as a TensorFlow while loop over a
TensorList, which the built-in ops cannot hold with a dynamic batch. The export converts a
copy of the model whose recurrent layers are unrolled (`unroll=True`, the same weights):
the window length is fixed, so the loop becomes that many steps of plain ops - the batch
stays dynamic and int8 works, at the cost of a file that grows with the window length.

What the built-in ops cannot hold is refused before anything is written (`problems`):
TextVectorization (its string ops are no built-ins), and a StringLookup in int8 (it
converts, but its outputs come out wrong). A table's categorical columns otherwise go to
LiteRT as string inputs, and its hash-table ops hold the StringLookup exactly.

The metadata JSON is stored in the file's own metadata list, under `EMBEDDED_KEY`, so the
`.tflite` alone is enough for `dlrecipes predict`.
"""

from __future__ import annotations

import dataclasses
import shutil
import struct
import warnings
from pathlib import Path

from dlrecipes import interrupts
from dlrecipes.errors import EXIT_FAILURE, RecipeError, shown_path
from dlrecipes.export.formats import Engine, Format, register_format
from dlrecipes.export.metadata import EMBEDDED_KEY

SIGNATURE = "serving_default"
FILE_IDENTIFIER = b"TFL3"  # bytes 4-8 of every .tflite flatbuffer
RECURRENT_LAYERS = ("LSTM", "GRU", "SimpleRNN")
# Layers whose ops are not LiteRT built-ins (TextVectorization's StringLower, RegexReplace,
# StringSplit...). A table's StringLookup is: LiteRT has hash-table ops, and string inputs.
STRING_LAYERS = ("TextVectorization",)
# int8 calibration: enough examples for stable activation ranges (the quantizer keeps each
# tensor's min and max), few enough to calibrate in seconds; drawn from a shuffle buffer
# of CALIBRATION_BUFFER training examples with a fixed seed, so an export is repeatable.
CALIBRATION_EXAMPLES = 300
CALIBRATION_BUFFER = 3000
CALIBRATION_SEED = 0
INTERMEDIATE = "saved-model"  # the converter's input, inside the export's temporary folder


@register_format
class LiteRT(Format):
    name = "litert"
    suffix = ".tflite"
    summary = "LiteRT (.tflite): phones and embedded devices; --quantize float16 or int8"
    quantizations = ("float16", "int8")
    packages = ("ai_edge_litert",)

    def problems(self, served, quantization: str | None) -> list[str]:
        found = [f"{layer.__class__.__name__} layer '{layer.name}' (its string ops are not LiteRT built-ins)"
                 for layer in served.layers() if layer.__class__.__name__ in STRING_LAYERS]
        lookups = [f"'{layer.name}'" for layer in served.layers() if layer.__class__.__name__ == "StringLookup"]
        if quantization == "int8" and lookups:
            found.append(f"StringLookup layer{'s' if len(lookups) > 1 else ''} {', '.join(lookups)} in int8 (the "
                         "converter's int8 lookups give wrong outputs: boston-housing-dnn's test MAE went from 2.5 "
                         "to 23.7; float32 and float16 hold them exactly)")
        if _recurrent(served) and any(None in i["shape"][1:] for i in served.inputs()):
            found.append("its recurrent layers read sequences of no fixed length, and LiteRT's built-in ops "
                         "run a recurrent layer only unrolled over a fixed number of steps")
        return found

    def needs_training_data(self, served, quantization: str | None) -> bool:
        return quantization == "int8" and not served.task.generative

    def write(self, served, folder: Path, quantization: str | None) -> None:
        intermediate = folder / INTERMEDIATE
        try:
            content = convert(served, quantization, intermediate)
        finally:
            shutil.rmtree(intermediate, ignore_errors=True)
        (folder / self.file_name).write_bytes(content)

    def embed(self, model_file: Path, text: str) -> None:
        from ai_edge_litert.tools import flatbuffer_utils as fb

        # From bytes, not read_model's memory map of the file this then overwrites.
        model = fb.read_model_from_bytearray(bytearray(model_file.read_bytes()))
        model.metadata = [m for m in (model.metadata or []) if m.name != EMBEDDED_KEY.encode()]
        buffer = fb.schema_fb.BufferT()
        buffer.data = list(text.encode("utf-8"))
        model.buffers.append(buffer)
        entry = fb.schema_fb.MetadataT()
        entry.name = EMBEDDED_KEY
        entry.buffer = len(model.buffers) - 1
        model.metadata.append(entry)
        model_file.write_bytes(bytes(fb.convert_object_to_bytearray(model)))

    def embedded(self, model_file: Path) -> bytes | None:
        try:
            return embedded_metadata(model_file.read_bytes())
        except ValueError as error:
            raise not_complete(model_file, str(error)) from None

    def open(self, path: Path):
        import numpy as np
        from ai_edge_litert.interpreter import Interpreter

        try:
            with _quiet():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
                interpreter = Interpreter(model_path=str(path))
                runner = interpreter.get_signature_runner(SIGNATURE)
        except (ValueError, RuntimeError) as error:
            raise not_complete(path, f"the interpreter cannot load it: {error}") from None
        details = runner.get_input_details()
        dtypes = {name: d["dtype"] for name, d in details.items()}

        def fed(value, dtype):
            if dtype is np.bytes_:  # a table's category column: UTF-8 bytes, as TensorFlow's strings
                return np.array([v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in np.ravel(value)],
                                dtype=np.bytes_).reshape(np.shape(value))
            return np.ascontiguousarray(value, dtype=dtype)

        def engine(inputs: dict) -> dict:
            missing = [name for name in dtypes if name not in inputs]
            if missing:
                raise RecipeError(f"the model takes inputs {', '.join(dtypes)}; missing: {', '.join(missing)}.",
                                  where=str(path), fix="give every input the export's metadata lists")
            # The runner resizes each input to the batch it is given (a dynamic batch).
            feed = {name: fed(inputs[name], dtype) for name, dtype in dtypes.items()}
            with _quiet():
                return {name: np.array(value) for name, value in runner(**feed).items()}

        def declared(detail) -> tuple:
            shape = tuple(None if d < 0 else int(d) for d in detail["shape_signature"])
            return shape, "string" if detail["dtype"] is np.bytes_ else np.dtype(detail["dtype"]).name

        return Engine(engine, {name: declared(d) for name, d in details.items()},
                      {name: declared(d)[0] for name, d in runner.get_output_details().items()})


def not_complete(path: Path, why: str) -> RecipeError:
    return RecipeError(f"'{shown_path(str(path))}' is not a complete LiteRT model ({why}).", where=str(path),
                       fix="copy the file again, or export the run again (`dlrecipes export RUN --format litert`)")


def embedded_metadata(content: bytes) -> bytes | None:
    """The JSON bytes stored under EMBEDDED_KEY in a .tflite file's metadata list, read from
    the flatbuffer without building an interpreter (nor importing TensorFlow); None when the
    list has no such entry. A ValueError says why `content` is no (complete) .tflite file."""
    from ai_edge_litert import schema_py_generated as schema

    if content[4:8] != FILE_IDENTIFIER:
        raise ValueError("the file is empty" if not content else
                         f"it does not carry the identifier {FILE_IDENTIFIER.decode()} every .tflite file carries")
    try:
        model = schema.Model.GetRootAs(content, 0)
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            if entry.Name() != EMBEDDED_KEY.encode():
                continue
            buffer = model.Buffers(entry.Buffer())
            if buffer.Offset() > 1:  # data past the flatbuffer (files over 2 GB)
                if buffer.Offset() + buffer.Size() > len(content):
                    raise ValueError("the file ends before its metadata")
                return content[buffer.Offset():buffer.Offset() + buffer.Size()]
            return buffer.DataAsNumpy().tobytes()
    except (struct.error, IndexError, AttributeError, TypeError) as error:
        raise ValueError("the file is cut short or damaged") from error
    return None


# --- conversion -------------------------------------------------------------------------

def convert(served, quantization: str | None, saved_model: Path) -> bytes:
    """The .tflite bytes of `served` (its recurrent layers unrolled), built-in ops only, by
    way of a SavedModel written to `saved_model` (a path that does not exist yet; the caller
    removes it). A signal is checked between the steps: one swallowed inside TensorFlow
    must not let a long conversion or calibration run on."""
    import keras
    import tensorflow as tf

    if _recurrent(served):
        served = dataclasses.replace(served, model=unrolled(served.model))
    interrupts.check()
    archive = keras.export.ExportArchive()
    archive.track(served.model)
    archive.add_endpoint(SIGNATURE, served.function(), input_signature=[served.input_signature()])
    archive.write_out(str(saved_model), verbose=False)
    interrupts.check()
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=[SIGNATURE])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = calibration_examples(served)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    try:
        with _quiet(), warnings.catch_warnings():
            # The int8 calibrator runs TensorFlow's own tf.lite.Interpreter, which warns that it is deprecated.
            warnings.filterwarnings("ignore", message=r"(?s).*tf\.lite\.Interpreter is deprecated")
            content = converter.convert()
    except RecipeError:  # the calibration examples could not be read
        raise
    except Exception as error:  # noqa: BLE001 - ConverterError, or the calibrator's RuntimeError: one message
        interrupts.check()  # a Ctrl-C the converter turned into its own error is a Ctrl-C
        raise RecipeError(
            f"TensorFlow's LiteRT converter could not convert '{served.run.name}'"
            f"{f' to {quantization}' if quantization else ''}: {_first_error(error)}",
            where=str(served.run),
            fix="export to savedmodel or onnx instead" + ("" if quantization is None else ", or without --quantize"),
            exit_code=EXIT_FAILURE) from None
    interrupts.check()
    return content


def _first_error(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in lines:
        if "error:" in line:
            return line.split("error:", 1)[1].strip()
    return lines[0] if lines else type(error).__name__


def calibration_examples(served):
    """The int8 calibration set: a callable yielding CALIBRATION_EXAMPLES raw inputs, each a
    dict by input name with a batch of one, as the export takes them - seeded draws from
    the training split (standard normal latent vectors for a generator)."""
    import numpy as np

    if served.task.generative:
        rng = np.random.default_rng(CALIBRATION_SEED)
        latents = rng.standard_normal((CALIBRATION_EXAMPLES, served.model.latent_dim)).astype("float32")
        batches, table = (lambda: (z[None] for z in latents)), False
    else:
        drawn = served.training_split.shuffle(CALIBRATION_BUFFER, seed=CALIBRATION_SEED, reshuffle_each_iteration=False)
        drawn = drawn.take(CALIBRATION_EXAMPLES).batch(1)
        batches, table = (lambda: (inputs for inputs, _ in drawn.as_numpy_iterator())), bool(served.signature.columns)

    def examples():
        for inputs in batches():
            interrupts.check()  # the calibrator calls this for every example: Ctrl-C stops it here
            yield inputs if table else {"inputs": inputs}

    return examples


def _recurrent(served) -> bool:
    return any(layer.__class__.__name__ in RECURRENT_LAYERS for layer in served.layers())


def unrolled(model):
    """A copy of `model` with the same weights whose recurrent layers are unrolled (also
    inside Bidirectional wrappers and nested models). The model builders stay as they are:
    this is the only place that needs it."""
    import keras

    def clone(layer):
        config = _unroll_config(layer.get_config())
        if layer.__class__.__name__ in RECURRENT_LAYERS:
            config["unroll"] = True
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
    copy.set_weights(model.get_weights())
    # Normalization reads its statistics from its variables when built or loaded, not
    # when they are set: without this the copy would standardise with zeros and ones.
    for layer in copy._flatten_layers():
        if layer.weights and hasattr(layer, "finalize_state"):
            layer.finalize_state()
    return copy


def _unroll_config(config):
    """`config` with `unroll: true` in each nested recurrent layer's config (a Bidirectional's
    `layer` and `backward_layer`)."""
    if isinstance(config, dict):
        if config.get("class_name") in RECURRENT_LAYERS and isinstance(config.get("config"), dict):
            config["config"]["unroll"] = True
        for value in config.values():
            _unroll_config(value)
    elif isinstance(config, list):
        for value in config:
            _unroll_config(value)
    return config


def _quiet():
    """The converter's and the interpreter's messages kept off the screen (the MLIR passes'
    notes, the calibrator's progress, "Created TensorFlow Lite XNNPACK delegate"), unless
    `dlrecipes --verbose`. They come from C++ straight to descriptor 2; a failure still
    reaches the user, as the exception the converter raises."""
    from dlrecipes import tf_quiet

    return tf_quiet.silenced_stderr()
