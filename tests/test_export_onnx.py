"""ONNX and Keras-file exports: each file copied alone into an empty folder and loaded in a
fresh process (ONNX Runtime; keras.saving.load_model), its outputs against the run's own
Keras model on 100 test inputs; the metadata read from inside the file; text refused for ONNX."""

import json
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import cli, invoke
from dlrecipes.data import source_of
from dlrecipes.runs import load_run_recipe

TINY_TEXT = ["--set", "model.units=[8]", "--set", "model.text.max_tokens=500", "--set", "model.text.sequence_length=20"]


def train(recipe: str, runs_dir, *options: str):
    result = invoke("train", recipe, "--epochs", "1", *options, "--runs-dir", str(runs_dir))
    assert result.returncode == 0, result.stderr
    (run,) = list(runs_dir.iterdir())
    return run


@pytest.fixture(scope="module")
def runs(trained_run, tmp_path_factory) -> dict:
    """Small real runs: an image classifier (mnist-dnn), a table (pima, binary), a series
    (a bidirectional LSTM, which the issue says ONNX cannot hold) and a text model."""
    made = {"mnist-dnn": trained_run}
    made["pima-diabetes-dnn"] = train("pima-diabetes-dnn", tmp_path_factory.mktemp("pima"))
    made["melbourne-temp-lstm"] = train("melbourne-temp-lstm", tmp_path_factory.mktemp("series"),
                                        "--set", "model.bidirectional=true")
    made["sms-spam-lstm"] = train("sms-spam-lstm", tmp_path_factory.mktemp("text"), *TINY_TEXT)
    return made


def inputs_and_reference(run, folder):
    """100 test inputs of `run` as the exports take them (saved to `folder/inputs.npz`) and
    the run's own model.keras on them, preprocessed here by hand as each recipe says."""
    import keras

    recipe = load_run_recipe(run)
    (x, _), = source_of(recipe).load()["test"].take(100).batch(100).as_numpy_iterator()
    raw = x if isinstance(x, dict) else {"inputs": x}
    if isinstance(x, dict):
        fed = {name: value.reshape(-1, 1) for name, value in x.items()}  # the model takes (batch, 1) columns
    elif x.dtype == np.uint8:
        fed = x.astype("float32") / 255.0  # the recipe's divide_by
    else:
        fed = x  # windows, texts: the model takes them as they are
    reference = np.asarray(keras.saving.load_model(run / "model.keras")(fed, training=False))
    stored = {name: (np.array([v.decode() for v in value]) if value.dtype == object else value)
              for name, value in raw.items()}
    np.savez(folder / "inputs.npz", **stored)
    np.save(folder / "reference.npy", reference)
    return raw, reference


def copied_alone(model_file, folder, name):
    folder.mkdir()
    return shutil.copy(model_file, folder / name)


@pytest.fixture(scope="module")
def exported(runs, tmp_path_factory) -> dict:
    """Each run exported to onnx (text: refused, so keras only), each file copied alone into
    an empty folder: {recipe: {"onnx": path, "keras": path, "folder": inputs and reference}}."""
    out = tmp_path_factory.mktemp("exports")
    cases = {}
    for recipe, run in runs.items():
        formats = ["keras"] if recipe == "sms-spam-lstm" else ["onnx", "keras"]
        flags = [arg for fmt in formats for arg in ("--format", fmt)]
        if recipe == "mnist-dnn":  # as a user would, in a process of its own: nothing but the result shows
            result = cli("export", str(run), *flags, "--out", str(out))
            assert result.returncode == 0, result.stderr
            assert result.stderr == "", result.stderr
            assert "exported onnx" in result.stdout and "exported keras" in result.stdout
            assert not any(word in result.stdout for word in ("tf2onnx", "WARNING", "deprecated")), result.stdout
        else:
            result = invoke("export", str(run), *flags, "--out", str(out))
            assert result.returncode == 0, result.stderr
        folder = tmp_path_factory.mktemp(recipe)
        case = {"folder": str(folder), "beside": {}}
        for fmt in formats:
            written = out / recipe / fmt
            assert sorted(p.name for p in written.iterdir()) == ["metadata.json", f"model.{fmt}"]
            case[fmt] = str(copied_alone(written / f"model.{fmt}", folder / f"alone-{fmt}", f"{recipe}.{fmt}"))
            case["beside"][fmt] = json.loads((written / "metadata.json").read_text())
        case["raw"], case["reference"] = inputs_and_reference(run, folder)
        cases[recipe] = case
    return cases


FRESH_CHECK = textwrap.dedent(
    """
    import json, sys, zipfile
    import numpy as np
    cases, report = json.loads(sys.argv[1]), {}
    import onnxruntime
    for recipe, case in cases.items():
        inputs = dict(np.load(case["folder"] + "/inputs.npz"))
        reference = np.load(case["folder"] + "/reference.npy")
        found = report[recipe] = {}
        if "onnx" in case:
            session = onnxruntime.InferenceSession(case["onnx"], providers=["CPUExecutionProvider"])
            names = [o.name for o in session.get_outputs()]
            outputs = dict(zip(names, session.run(None, inputs)))
            one = session.run(None, {k: v[:1] for k, v in inputs.items()})
            found["onnx"] = {
                "meta": json.loads(session.get_modelmeta().custom_metadata_map["dlrecipes"]),
                "inputs": {i.name: [i.type, i.shape[0]] for i in session.get_inputs()},
                "outputs": names,
                "diff": float(np.abs(outputs[names[0] if len(names) == 1 else "probabilities"] - reference).max()),
                "batch_of_one": list(one[0].shape),
                "classes": outputs["classes"][:, 0].tolist() if "classes" in outputs else None,
                "scores": outputs["scores"][:, 0].tolist() if "scores" in outputs else None,
            }
    found_tf = "tensorflow" in sys.modules  # ONNX Runtime alone ran the .onnx files
    import keras, tensorflow as tf
    for recipe, case in cases.items():
        inputs = dict(np.load(case["folder"] + "/inputs.npz"))
        reference = np.load(case["folder"] + "/reference.npy")
        model = keras.saving.load_model(case["keras"])
        outputs = model({k: tf.constant(v) for k, v in inputs.items()}, training=False)
        (name, value), = outputs.items()
        report[recipe]["keras"] = {"output": name, "diff": float(np.abs(np.asarray(value) - reference).max()),
                                   "meta": json.loads(zipfile.ZipFile(case["keras"]).read("dlrecipes.json"))}
    print(json.dumps({"cases": report, "tensorflow_before_keras": found_tf}))
    """
)


def test_exports_match_the_keras_model_in_a_fresh_process_from_the_file_alone(exported, tmp_path):
    cases = {recipe: {k: v for k, v in case.items() if k in ("onnx", "keras", "folder")}
             for recipe, case in exported.items()}
    check = subprocess.run([sys.executable, "-c", FRESH_CHECK, json.dumps(cases)], cwd=tmp_path,
                           capture_output=True, text=True, timeout=240)
    assert check.returncode == 0, check.stderr
    report = json.loads(check.stdout.strip().splitlines()[-1])
    assert report["tensorflow_before_keras"] is False
    found = report["cases"]
    for recipe, case in exported.items():
        for fmt, beside in case["beside"].items():
            assert found[recipe][fmt]["diff"] <= 1e-5, (recipe, fmt, found[recipe][fmt]["diff"])
            inside = found[recipe][fmt]["meta"]  # read from inside the copied file
            assert inside == beside, (recipe, fmt)

    mnist = found["mnist-dnn"]["onnx"]
    assert mnist["inputs"] == {"inputs": ["tensor(uint8)", "batch"]}  # raw pixels, any batch
    assert mnist["batch_of_one"] == [1, 10]
    assert mnist["outputs"] == ["classes", "probabilities", "scores"]
    reference = exported["mnist-dnn"]["reference"]
    assert mnist["classes"] == [str(i) for i in reference.argmax(axis=1)]  # mnist's class names are its digits
    assert np.allclose(mnist["scores"], reference.max(axis=1), atol=1e-5)
    assert mnist["meta"]["classes"] == [str(i) for i in range(10)] and mnist["meta"]["reads"] == "images"

    pima = found["pima-diabetes-dnn"]["onnx"]
    assert pima["inputs"] == {name: ["tensor(float)", "batch"] for name in exported["pima-diabetes-dnn"]["raw"]}
    p = exported["pima-diabetes-dnn"]["reference"][:, 0]  # probability of class "1"
    assert pima["classes"] == ["1" if q > 0.5 else "0" for q in p]
    assert np.allclose(pima["scores"], np.maximum(p, 1 - p), atol=1e-5)  # the predicted class's own probability

    series = found["melbourne-temp-lstm"]["onnx"]
    assert series["inputs"] == {"inputs": ["tensor(float)", "batch"]} and series["outputs"] == ["predictions"]
    assert found["sms-spam-lstm"]["keras"]["output"] == "probabilities"  # raw strings into the .keras file


def test_predict_opens_the_copied_files_by_their_own_metadata(exported):
    from pathlib import Path

    from dlrecipes.export.opening import open_export

    for recipe, case in exported.items():
        for fmt in ("onnx", "keras"):
            if fmt not in case:
                continue
            opened = open_export(Path(case[fmt]))  # alone in its folder: no metadata.json beside it
            assert opened.meta == case["beside"][fmt]
            outputs = opened.engine({name: value[:8] for name, value in case["raw"].items()})
            name = opened.meta["outputs"][0]["name"]
            assert np.abs(outputs[name] - case["reference"][:8]).max() <= 1e-5, (recipe, fmt)


def test_a_text_model_is_refused_for_onnx_naming_the_layer_and_what_works(runs, tmp_path):
    out = tmp_path / "exports"
    result = invoke("export", str(runs["sms-spam-lstm"]), "--format", "onnx", "--out", str(out))
    assert result.returncode == 2
    message = result.stderr
    assert "layer 'text_vectorization' (TextVectorization)" in message and "Traceback" not in message
    assert "fix:   export to " in message and "keras" in message.split("fix:")[1] and "savedmodel" in message.split("fix:")[1]
    assert not out.exists() or list(out.iterdir()) == []  # nothing written
