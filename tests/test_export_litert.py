"""LiteRT exports (.tflite): real tiny runs exported in float32, float16 and int8, each file
copied alone into an empty folder and run by ai-edge-litert in a fresh process (one that
never imports TensorFlow), against the run's Keras model on its test split.

Tolerances for the quantized files, measured (README, "LiteRT (.tflite)"): float16 changed
no accuracy by a single example (scores move by < 1e-3) and MAEs by < 0.01%, so 0.5 points
and 0.5%; int8 cost 0.02-0.09 points on trained MNIST / Fashion-MNIST models (full test
splits) and 0.05 on this file's mnist-dnn, so 2 points (3 of pima's 154 test rows); an
LSTM's int8 MAE rose by at most 0.6%, so 3%. (A model still near chance loses more in int8:
a one-epoch mnist-alexnet at 34.5% lost 3.7 points; the runs here are past that.)
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, invoke, train_run as _train

QUANTIZATIONS = (None, "float16", "int8")
DATA_DIR = os.environ["DLRECIPES_DATA_DIR"]  # the recipes' data files (conftest); a test may hide them
ACCURACY_POINTS = {"float16": 0.5, "int8": 2.0}
MAE_RELATIVE = {"float16": 0.005, "int8": 0.03}

# Runs each file alone, from a folder of nothing but the file: the metadata comes from inside it.
FRESH_PROCESS = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import numpy as np
    from dlrecipes.export.opening import open_export
    results = {}
    for job in json.loads(sys.argv[1]):
        inputs = dict(np.load(job["inputs"]))
        opened = open_export(Path(job["file"]))
        outputs = opened.engine(inputs)
        first = opened.engine({name: value[:1] for name, value in inputs.items()})  # a smaller batch after
        np.savez(job["outputs"], **outputs)
        results[job["name"]] = {"meta": opened.meta,
                                "first": {k: v.tolist() for k, v in first.items()}}
    results["tensorflow imported"] = "tensorflow" in sys.modules
    print(json.dumps(results))
    """
)


@pytest.fixture(scope="module")
def runs(trained_run, tmp_path_factory) -> dict:
    return {
        "mnist-dnn": trained_run,
        "melbourne-temp-lstm": _train(tmp_path_factory, "melbourne-temp-lstm", "--epochs", "2",
                                      "--set", "model.units=[16]"),
        "pima-diabetes-dnn": _train(tmp_path_factory, "pima-diabetes-dnn", "--epochs", "6"),
        # categorical columns: StringLookup layers, string inputs
        "boston-housing-dnn": _train(tmp_path_factory, "boston-housing-dnn", "--epochs", "4"),
    }


def _test_split(run: Path):
    """The run's whole test split as the export takes it, and the Keras model's outputs."""
    import tensorflow as tf

    from dlrecipes.export.serving import Served

    served = Served.load(run)
    x, y = next(served.source.load()["test"].batch(100_000).as_numpy_iterator())
    table = isinstance(x, dict)
    reference = served.function()({k: tf.constant(v) for k, v in x.items()} if table else tf.constant(x))
    inputs = {k: (v.astype(np.bytes_) if v.dtype == object else v) for k, v in x.items()} if table else {"inputs": x}
    return inputs, y, {k: v.numpy() for k, v in reference.items()}


@pytest.fixture(scope="module")
def exported(runs, tmp_path_factory):
    """Every run in every quantization (boston: float32, float16), run in one fresh process."""
    work = tmp_path_factory.mktemp("litert")
    jobs, cases = [], {}
    for recipe, run in runs.items():
        inputs, targets, reference = _test_split(run)
        np.savez(work / f"{recipe}-inputs.npz", **inputs)
        for quant in QUANTIZATIONS:
            if recipe == "boston-housing-dnn" and quant == "int8":
                continue  # refused: test_int8_string_lookup_is_refused
            args = ["export", str(run), "--format", "litert", "--out", str(work / "exports")]
            args += ["--quantize", quant] if quant else []
            result = invoke(*args)
            assert result.returncode == 0, result.stderr
            folder = work / "exports" / recipe / ("litert" + (f"-{quant}" if quant else ""))
            alone = work / "alone" / folder.name / recipe
            alone.mkdir(parents=True)
            shutil.copy(folder / "model.tflite", alone / "model.tflite")
            name = f"{recipe}/{quant}"
            cases[name] = {"recipe": recipe, "quant": quant, "inputs": inputs, "targets": targets, "reference": reference,
                           "folder": folder, "file": alone / "model.tflite", "outputs": work / f"{recipe}-{quant}.npz"}
            jobs.append({"name": name, "file": str(alone / "model.tflite"), "inputs": str(work / f"{recipe}-inputs.npz"),
                         "outputs": str(cases[name]["outputs"])})
    result = subprocess.run([sys.executable, "-c", FRESH_PROCESS, json.dumps(jobs)], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    fresh = json.loads(result.stdout)
    for name, case in cases.items():
        case.update(fresh[name], outputs=dict(np.load(case["outputs"])))
    return {"cases": cases, "tensorflow imported": fresh["tensorflow imported"]}


def _metric(outputs: dict, targets) -> tuple[str, float]:
    if "predictions" in outputs:
        return "mae", float(np.mean(np.abs(outputs["predictions"][:, 0] - targets)))
    scores = outputs["probabilities"]
    predicted = (scores[:, 0] > 0.5) if scores.shape[1] == 1 else scores.argmax(axis=1)
    return "accuracy", float(np.mean(predicted == targets))


def test_float32_matches_the_keras_model(exported):
    for name, case in exported["cases"].items():
        if case["quant"] is not None:
            continue
        for output, expected in case["reference"].items():
            got = case["outputs"][output]
            assert got.shape == expected.shape and got.dtype == np.float32, name
            assert np.abs(got[:100] - expected[:100]).max() <= 1e-5, name  # 100 real test inputs
            assert np.abs(got - expected).max() <= 1e-5, name  # and the rest of the split


def test_quantized_files_keep_the_test_metric(exported):
    for name, case in exported["cases"].items():
        if case["quant"] is None:
            continue
        metric, keras_value = _metric(case["reference"], case["targets"])
        _, value = _metric(case["outputs"], case["targets"])
        if metric == "accuracy":
            assert abs(value - keras_value) * 100 <= ACCURACY_POINTS[case["quant"]], (name, keras_value, value)
        else:
            assert abs(value - keras_value) <= MAE_RELATIVE[case["quant"]] * keras_value, (name, keras_value, value)
        # Quantized, yet not a copy of float32: its scores moved, within reason.
        output = next(iter(case["reference"]))
        moved = np.abs(case["outputs"][output] - case["reference"][output]).max()
        assert 0 < moved < (0.2 if "probabilities" == output else 0.05 * np.abs(case["reference"][output]).max()), name


def test_files_are_smaller_when_quantized(exported):
    # (Not so for a model of a few hundred weights, pima's: float16 adds a dequantize op per weight.)
    mnist = {q: exported["cases"][f"mnist-dnn/{q}"]["file"].stat().st_size for q in QUANTIZATIONS}
    # Weights dominate this file: float16 halves it, int8 quarters it (plus the graph and the metadata).
    assert mnist["float16"] < 0.55 * mnist[None] and mnist["int8"] < 0.3 * mnist[None]


def test_the_file_alone_carries_its_metadata(exported, runs):
    for name, case in exported["cases"].items():
        meta = case["meta"]  # read in the fresh process from inside the file (no metadata.json beside it)
        beside = json.loads((case["folder"] / "metadata.json").read_text())
        assert meta == beside, name
        assert meta["format"] == "litert" and meta["quantization"] == case["quant"]
        assert meta["recipe"]["name"] == case["recipe"] and meta["run"]["name"] == runs[case["recipe"]].name
        assert {i["name"] for i in meta["inputs"]} == set(case["inputs"]), name
        assert "ai-edge-litert" in meta["versions"]
    assert exported["cases"]["mnist-dnn/None"]["meta"]["classes"] == [str(i) for i in range(10)]
    assert exported["cases"]["mnist-dnn/None"]["meta"]["preprocessing"]  # the pixel scaling is inside


def test_a_fresh_process_needs_neither_tensorflow_nor_a_fixed_batch(exported):
    assert exported["tensorflow imported"] is False
    for name, case in exported["cases"].items():
        for output, values in case["first"].items():  # batch of one after the whole split
            assert np.allclose(values, case["outputs"][output][:1], atol=1e-6), name


def test_the_lstm_is_unrolled_in_a_copy_with_the_same_weights(exported, runs):
    from dlrecipes.export.litert import unrolled
    from dlrecipes.export.serving import Served

    served = Served.load(runs["melbourne-temp-lstm"])
    copy = unrolled(served.model)

    def unroll(model):
        return [layer.unroll for layer in model._flatten_layers() if layer.__class__.__name__ == "LSTM"]

    assert unroll(served.model) == [False] and unroll(copy) == [True]  # the run's model is left as it was
    windows = exported["cases"]["melbourne-temp-lstm/None"]["inputs"]["inputs"][:64]
    assert np.abs(np.asarray(copy(windows)) - np.asarray(served.model(windows))).max() <= 1e-5


def test_export_and_interpreter_are_quiet(runs, tmp_path, capfd, monkeypatch):
    # Written by C++ straight to descriptor 2 whatever TF_CPP_MIN_LOG_LEVEL says: the
    # calibrator's "fully_quantize: 0, inference_type: 6, ..." and the interpreter's
    # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."; --verbose shows them.
    # The data is not where the run read it: --data-dir says where it is now.
    from dlrecipes.export.opening import open_export

    monkeypatch.setenv("DLRECIPES_DATA_DIR", str(tmp_path / "no-data-here"))
    capfd.readouterr()
    result = invoke("export", str(runs["pima-diabetes-dnn"]), "--format", "litert", "--quantize", "int8",
                    "--out", str(tmp_path), "--data-dir", DATA_DIR)
    assert result.returncode == 0, result.stderr
    opened = open_export(tmp_path / "pima-diabetes-dnn" / "litert-int8" / "model.tflite")
    scores = opened.engine({i["name"]: np.zeros(3, "float32") for i in opened.meta["inputs"]})["probabilities"]
    assert scores.shape == (3, 1)
    assert capfd.readouterr().err == ""


def test_int8_string_lookup_is_refused(runs, tmp_path):
    out = tmp_path / "exports"
    result = invoke("export", str(runs["boston-housing-dnn"]), "--format", "litert", "--quantize", "int8",
                    "--out", str(out))
    assert result.returncode == 2
    assert "StringLookup layers 'CHAS_lookup', 'RAD_lookup' in int8" in result.stderr
    assert not out.exists()


def test_a_text_model_is_refused_before_anything_is_written(tmp_path_factory, tmp_path):
    run = _train(tmp_path_factory, "sms-spam-lstm", "--epochs", "1", "--set", "model.units=[4]",
                 "--set", "model.text.max_tokens=500", "--set", "model.text.sequence_length=16",
                 "--set", "model.text.embedding_dim=4")
    out = tmp_path / "exports"
    for quant in QUANTIZATIONS:
        result = invoke("export", str(run), "--format", "litert", "--out", str(out),
                        *(["--quantize", quant] if quant else []))
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("error:") == 1 and "Traceback" not in result.stderr
        assert "TextVectorization layer 'text_vectorization'" in result.stderr
        fix = result.stderr.split("fix:")[1]
        assert "savedmodel" in fix and "keras" in fix and "litert" not in fix  # the formats that do work
        assert not out.exists()


def test_int8_without_the_training_data_is_refused_before_anything_is_written(runs, tmp_path, monkeypatch):
    monkeypatch.setenv("DLRECIPES_DATA_DIR", str(tmp_path / "no-data-here"))
    out = tmp_path / "exports"
    result = invoke("export", str(runs["pima-diabetes-dnn"]), "--format", "all", "--quantize", "int8", "--out", str(out))
    assert result.returncode == 3, result.stderr
    assert "litert (int8) calibrates on the run's training data" in result.stderr and "pima-indians-diabetes.csv" in result.stderr
    assert "--data-dir DIR" in result.stderr.split("fix:")[1]  # an option export has
    assert not out.exists()  # not even the keras export, which needs no data


def test_quantization_and_format_names(trained_run, tmp_path):
    out = tmp_path / "exports"

    def refused(*options):
        result = invoke("export", str(trained_run), "--out", str(out), *options)
        assert result.returncode == 2 and result.stderr.count("error:") == 1, result.stderr
        return result.stderr

    stderr = refused("--format", "litert", "--quantize", "int4")
    assert "unknown quantization 'int4'. Did you mean 'int8'?" in stderr and "float16, int8" in stderr
    assert "--quantize int8 is for litert; onnx cannot quantize" in refused("--format", "ONNX", "--quantize", "INT8")
    assert "Did you mean 'litert'?" in refused("--format", "lite")
    assert "empty name" in refused("--format", "litert,")
    # Two formats in one value, any case: both reach the check that needs them (--version needs a savedmodel).
    assert "(litert, onnx)" in refused("--format", "LiteRT, onnx", "--version", "2")
    assert not out.exists()
