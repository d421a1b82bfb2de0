"""The README's REST request bodies, sent to an exported SavedModel as TensorFlow Serving would.

`tensorflow_model_server` cannot be installed here (no package index has it), so
`tests/rest_json.py` does its JSON work - request body to tensors by the signature's input
dtypes, outputs to `predictions` / `outputs` - around `serving_default`, in a fresh process.
The bodies are built from real examples the way a client builds them: uint8 pixels of
MNIST test images, rows of the Pima CSV keyed by the column names in `metadata.json`.
"""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, invoke

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def exported(trained_run, zoo_run, tmp_path_factory) -> dict:
    """name -> (run, SavedModel version folder, its metadata.json) for mnist-dnn and pima-diabetes-dnn."""
    out = tmp_path_factory.mktemp("serving")
    found = {}
    for run in (trained_run, zoo_run("pima-diabetes-dnn")):
        result = invoke("export", str(run), "--out", str(out), "--json")
        assert result.returncode == 0, result.stderr
        (written,) = json.loads(result.stdout)["exports"]
        version = Path(written["path"])
        found[version.parent.name] = (run, version, json.loads((version / "metadata.json").read_text()))
    return found


def serve(version: Path, bodies: dict, folder: Path) -> dict:
    """Each body's response from a fresh process serving `version`."""
    paths = []
    for i, body in enumerate(bodies.values()):
        paths.append(folder / f"request-{i}.json")
        paths[-1].write_text(json.dumps(body))
    result = subprocess.run([sys.executable, str(REPO / "tests" / "rest_json.py"), str(version), *map(str, paths)],
                            capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert result.returncode == 0, result.stderr[-3000:]
    responses = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return dict(zip(bodies, responses, strict=True))


def outputs_of(response: dict) -> dict:
    """A response in either form, as output name -> numpy array over the batch."""
    if "predictions" in response:
        rows = response["predictions"]
        return {name: np.array([row[name] for row in rows]) for name in rows[0]}
    return {name: np.array(values) for name, values in response["outputs"].items()}


def check_classifier(response: dict, probabilities: np.ndarray, meta: dict, scores: np.ndarray) -> None:
    """`probabilities` as the Keras model's, `classes` ranked by them (the first: the arg-max
    class's name), `scores` their values."""
    assert "error" not in response, response
    got = outputs_of(response)
    assert set(got) == {"probabilities", "classes", "scores"}
    np.testing.assert_allclose(got["probabilities"], probabilities, atol=TOLERANCE)
    names = np.array(meta["classes"])
    np.testing.assert_array_equal(got["classes"][:, 0], names[scores.argmax(axis=1)])
    assert all(sorted(row) == sorted(names) for row in got["classes"])
    np.testing.assert_allclose(got["scores"], np.sort(scores, axis=1)[:, ::-1], atol=TOLERANCE)


def test_image_model_takes_both_forms_of_uint8_pixels(exported, tmp_path):
    import keras
    import tensorflow_datasets as tfds

    run, version, meta = exported["mnist-dnn"]
    assert [(i["name"], i["shape"], i["dtype"]) for i in meta["inputs"]] == [("inputs", [None, 28, 28, 1], "uint8")]
    images = np.stack([x for x, _ in tfds.as_numpy(tfds.load("mnist", split="test[:4]", as_supervised=True))])
    pixels = images.tolist()  # 4 x 28 x 28 x 1 integers in 0..255
    bodies = {
        "row, bare values": {"instances": pixels},  # one named input: an instance may be the bare value
        "row, objects": {"signature_name": "serving_default", "instances": [{"inputs": p} for p in pixels]},
        "columnar, bare value": {"inputs": pixels},
        "columnar, object": {"inputs": {"inputs": pixels}},
        "scaled floats": {"instances": (images / 255).tolist()},
        "wrong shape": {"instances": [p[:27] for p in pixels]},
        "unknown signature": {"signature_name": "predict", "instances": pixels},
    }
    responses = serve(version, bodies, tmp_path)

    probabilities = keras.models.load_model(run / "model.keras")(images.astype("float32") / 255).numpy()
    for form in ("row, bare values", "row, objects", "columnar, bare value", "columnar, object"):
        check_classifier(responses[form], probabilities, meta, probabilities)
    assert len(responses["row, objects"]["predictions"]) == 4 and len(responses["columnar, object"]["outputs"]["classes"]) == 4
    # The signature takes the pixels as stored: scaling is inside the model.
    assert "is not of expected type uint8" in responses["scaled floats"]["error"]
    assert "error" in responses["wrong shape"] and "not found" in responses["unknown signature"]["error"]
    assert meta["classes"] == [str(digit) for digit in range(10)]


def test_csv_model_takes_one_input_per_column(exported, tmp_path):
    import keras

    from dlrecipes.tasks import TASKS

    run, version, meta = exported["pima-diabetes-dnn"]
    columns = [i["name"] for i in meta["inputs"]]
    assert columns == list(meta["source"]["columns"]) and meta["source"]["target"] == "outcome"
    assert all(i["shape"] == [None] and i["dtype"] == "float32" for i in meta["inputs"])
    assert meta["outputs"][0]["means"].startswith("the probability of class '1'")
    path = Path(os.environ["DLRECIPES_DATA_DIR"]) / "pima_indians_diabetes" / "pima-indians-diabetes.csv"
    with path.open(newline="") as file:
        rows = [row for _, row in zip(range(5), csv.DictReader(file))]

    def number(text: str):
        return int(text) if text.isdigit() else float(text)  # JSON integers go to float inputs too

    examples = [{name: number(row[name]) for name in columns} for row in rows]  # the target column left out
    bodies = {
        "row": {"instances": examples},
        "columnar": {"inputs": {name: [example[name] for example in examples] for name in columns}},
        "row, a column missing": {"instances": [{k: v for k, v in e.items() if k != "age"} for e in examples]},
        "row, plain lists": {"instances": [list(e.values()) for e in examples]},
    }
    responses = serve(version, bodies, tmp_path)

    model = keras.models.load_model(run / "model.keras")
    probabilities = model({name: np.array([[e[name]] for e in examples], "float32") for name in columns}).numpy()
    assert probabilities.shape == (5, 1)  # one unit: the probability of class '1'
    scores = TASKS["binary"].class_scores(probabilities.astype("float64"))
    for form in ("row", "columnar"):
        check_classifier(responses[form], probabilities, meta, scores)
    first = responses["row"]["predictions"][0]
    p = first["probabilities"][0]
    assert first["classes"][0] == ("1" if p >= 0.5 else "0") and first["scores"][0] == pytest.approx(max(p, 1 - p), abs=1e-6)
    assert "keys must be equal to" in responses["row, a column missing"]["error"]
    assert "several inputs" in responses["row, plain lists"]["error"]
