"""`predict` from a run and from every export of it, each export copied alone into an empty
folder and read in a process that never saw the run: the same predictions, whatever PATH is.

Four tiny real runs: mnist-dnn (images), pima-diabetes-dnn (a binary table), melbourne-temp-lstm
(windows of a series, regression) and an image-folder CNN (an export that decodes the files
itself). Every registered format is covered (`export.FORMATS`), skipping only those whose
`problems()` refuse the model, so a format added later is checked here without an edit.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, invoke, train_run as trained

RAW = Path(os.environ["DLRECIPES_DATA_DIR"])
PIMA = RAW / "pima_indians_diabetes" / "pima-indians-diabetes.csv"
TEMPERATURES = RAW / "daily_min_temperatures" / "daily-min-temperatures.csv"
WINDOW = 10  # the series run's window: shorter than the recipe's 30, for a faster LSTM


@pytest.fixture(scope="module")
def mnist_case(trained_run, tmp_path_factory):
    import tensorflow as tf
    import tensorflow_datasets as tfds

    folder = tmp_path_factory.mktemp("digits")
    images, _ = tfds.as_numpy(tfds.load("mnist", split="test[:6]", as_supervised=True, batch_size=-1))
    files = []
    for i, image in enumerate(images):
        files.append(folder / f"digit{i}.png")
        files[-1].write_bytes(tf.io.encode_png(image).numpy())
    rgb = folder / "rgb-large.jpg"  # colour, JPEG and twice the size: converted and resized
    rgb.write_bytes(tf.io.encode_jpeg(np.repeat(np.kron(images[0], np.ones((2, 2, 1), "uint8")), 3, -1)).numpy())
    return trained_run, [str(f) for f in [*files, rgb]]


@pytest.fixture(scope="module")
def pima_run(tmp_path_factory):
    return trained(tmp_path_factory, "pima-diabetes-dnn", "--epochs", "1", "--set", "train.batch_size=128")


@pytest.fixture(scope="module")
def pima_case(pima_run, tmp_path_factory):
    rows = tmp_path_factory.mktemp("rows") / "rows.csv"
    rows.write_text("\n".join(PIMA.read_text().splitlines()[:41]) + "\n")  # the header and 40 rows
    return pima_run, [str(rows)]


@pytest.fixture(scope="module")
def series_run(tmp_path_factory):
    return trained(tmp_path_factory, "melbourne-temp-lstm", "--epochs", "1", "--set", f"data.window={WINDOW}",
                   "--set", "model.units=[8]", "--set", "train.batch_size=256")


@pytest.fixture(scope="module")
def series_case(series_run, tmp_path_factory):
    series = tmp_path_factory.mktemp("series") / "days.csv"
    series.write_text("\n".join(TEMPERATURES.read_text().splitlines()[:25]) + "\n")  # the header and 24 days
    return series_run, [str(series)]


@pytest.fixture(scope="module")
def folder_case(tmp_path_factory):
    import tensorflow as tf
    import yaml

    root = tmp_path_factory.mktemp("folders")
    rng = np.random.default_rng(0)
    for c, name in enumerate(["cats", "dogs", "owls"]):
        (root / "images" / name).mkdir(parents=True)
        for i in range(8):
            image = np.full((12, 10, 3), 80 * c, np.uint8) + rng.integers(0, 40, (12, 10, 3), dtype=np.uint8)
            (root / "images" / name / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())
    (root / "folders.yaml").write_text(yaml.safe_dump({
        "description": "image folders", "task": {"type": "multiclass"},
        "data": {"source": "image_folder", "path": str(root / "images"), "image_size": [8, 8],
                 "color_mode": "grayscale"},
        "model": {"arch": "cnn", "blocks": [[4]], "dense": [8]}, "train": {"epochs": 1, "batch_size": 8}}))
    run = trained(tmp_path_factory, str(root / "folders.yaml"))
    from PIL import Image

    gif = root / "owl.gif"  # GIF decoders make no grayscale: converted before the export sees it
    Image.open(root / "images" / "owls" / "0.png").save(gif)
    return run, [str(root / "images" / "cats" / "0.png"), str(root / "images" / "dogs" / "1.png"), str(gif)]


def predicted(*args) -> dict:
    """`dlrecipes predict ARGS --json`, in this process."""
    result = invoke("predict", *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --- every export, alone, predicts as the run ----------------------------------------------

ALONE = textwrap.dedent("""
    # `dlrecipes predict COPY INPUTS --json` for each copy, in this one process: it never
    # loaded a run, its folder is empty, and the runs and data folders it is told are empty.
    import json, sys
    from typer.testing import CliRunner
    from dlrecipes.cli import app
    found = {}
    for copy, inputs in json.loads(sys.argv[1]).items():
        result = CliRunner().invoke(app, ["predict", copy, *inputs, "--top", "10", "--json"])
        found[copy] = {"rc": result.exit_code, "stdout": result.stdout, "stderr": result.stderr}
    print(json.dumps(found))
""")
CASES = ("mnist", "pima", "series", "folder")


def exported_alone(run: Path, out: Path, encoded_only: bool = False, quantized: bool = False):
    """(each export copied alone into an empty folder, the formats that refused the model).
    A single-file format's file is also copied without its metadata.json, where it embeds
    it. `quantized`: each quantization of each format too (where `problems()` allow it)."""
    from dlrecipes.export import FORMATS
    from dlrecipes.export.serving import Served

    served = Served.load(run)
    chosen = [f for f in FORMATS.values() if f.encoded_images or not encoded_only]
    refused = [f.name for f in chosen if f.problems(served, None)]
    able = [f for f in chosen if f.name not in refused]
    asked = [[a for f in able for a in ("--format", f.name)]]
    if quantized:
        asked += [["--format", f.name, "--quantize", q] for f in able for q in f.quantizations if not f.problems(served, q)]
    copies, formats = [], []
    for args in asked:
        result = invoke("export", str(run), *args, "--out", str(out / "exports"), "--json")
        assert result.returncode == 0, result.stderr
        for written in json.loads(result.stdout)["exports"]:
            fmt, folder = FORMATS[written["format"]], Path(written["path"])
            formats.append(fmt.name)
            alone = out / "alone" / folder.name
            alone.mkdir(parents=True)
            shutil.copytree(folder, alone / folder.name)
            copies.append(str(alone / folder.name))
            if fmt.file_name and fmt.embedded(folder / fmt.file_name):
                (alone / "file").mkdir()
                copies.append(str(shutil.copy(folder / fmt.file_name, alone / "file" / fmt.file_name)))
    assert sorted(set(formats)) == sorted(f.name for f in able)
    return copies, refused


@pytest.fixture(scope="module")
def alone(request, tmp_path_factory):
    """case -> (the run's predictions, {copy of an export: its predictions}, formats refused).
    Every copy of every case is predicted in one fresh process: one TensorFlow start, not one per copy."""
    out = tmp_path_factory.mktemp("alone")
    cases, asked = {}, {}
    for case in CASES:
        run, inputs = request.getfixturevalue(f"{case}_case")
        # The folder model: the formats that decode files themselves (the others take pixels, as mnist's).
        copies, refused = exported_alone(run, out / case, encoded_only=case == "folder", quantized=case == "mnist")
        cases[case] = (predicted(str(run), *inputs, "--top", "10"), copies, refused)
        asked.update({copy: inputs for copy in copies})
    empty = out / "empty"
    for name in ("cwd", "runs", "data"):
        (empty / name).mkdir(parents=True)
    env = {**os.environ, "DLRECIPES_RUNS_DIR": str(empty / "runs"), "DLRECIPES_DATA_DIR": str(empty / "data"),
           "TFDS_DATA_DIR": str(empty / "data"), "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", ALONE, json.dumps(asked)], cwd=empty / "cwd", env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    return {case: (expected, {copy: found[copy] for copy in copies}, refused)
            for case, (expected, copies, refused) in cases.items()}


def assert_same(got: dict, expected: dict, where: str, quantized: bool = False) -> None:
    """The same predictions: every probability (or value) within 1e-5 and the same classes
    predicted; for a quantized model (float16 weights, int8 calibrated on training images),
    within 0.1 and all classes but one."""
    tolerance = 0.1 if quantized else 1e-5
    assert len(got["predictions"]) == len(expected["predictions"]), where
    differ = 0
    for g, e in zip(got["predictions"], expected["predictions"]):
        assert g["input"] == e["input"] and g.get("target") == e.get("target"), where
        if "top" in e:
            differ += g["label"] != e["label"]
            assert {t["label"]: t["probability"] for t in g["top"]} == pytest.approx(
                {t["label"]: t["probability"] for t in e["top"]}, abs=tolerance), (where, g["input"])
        else:
            assert g["predictions"] == pytest.approx(e["predictions"], rel=tolerance, abs=tolerance), (where, g["input"])
    assert differ <= quantized, where
    if not quantized:
        assert got.get("metrics", {}) == pytest.approx(expected.get("metrics", {}), abs=1e-5), where


@pytest.mark.parametrize("case", CASES)
def test_every_export_copied_alone_predicts_as_the_run(case, alone):
    expected, found, refused = alone[case]
    assert expected["model"]["format"] == "run"
    assert found, f"no format takes {case} (refused by {refused})"
    for copy, result in found.items():
        assert result["rc"] == 0, (copy, result["stderr"])
        got = json.loads(result["stdout"])
        assert got["model"]["format"] != "run"
        assert_same(got, expected, copy, quantized=got["model"]["quantization"] is not None)


# --- what each kind of input reads ----------------------------------------------------------


def test_image_files_are_converted_to_the_models_input(mnist_case):
    import tensorflow_datasets as tfds

    run, files = mnist_case
    _, labels = tfds.as_numpy(tfds.load("mnist", split="test[:6]", as_supervised=True, batch_size=-1))
    result = predicted(str(run), *files, "--top", "2")
    rows = result["predictions"]
    assert [row["input"] for row in rows] == files
    assert sum(int(row["label"]) == label for row, label in zip(rows, labels)) >= 4  # 2 epochs on 4k images
    assert rows[-1]["label"] == rows[0]["label"]  # the colour JPEG twice the size is digit 0 again
    assert all(len(row["top"]) == 2 and row["probability"] == row["top"][0]["probability"] >= row["top"][1]["probability"]
               for row in rows)
    assert "metrics" not in result  # image files carry no answers


def test_rows_with_the_target_column_print_its_accuracy(pima_case, tmp_path, monkeypatch):
    run, (rows,) = pima_case
    monkeypatch.setenv("DLRECIPES_DATA_DIR", str(tmp_path))  # the run's columns are its own: no data file needed
    monkeypatch.chdir(tmp_path)
    result = predicted(str(run), rows)
    predictions = result["predictions"]
    truth = [line.split(",")[-1] for line in Path(rows).read_text().splitlines()[1:]]
    assert [p["target"] for p in predictions] == truth and len(truth) == 40
    assert [p["input"] for p in predictions[:2]] == [f"{rows}, line 2", f"{rows}, line 3"]
    for p in predictions:  # the predicted class with its own probability
        assert p["probability"] >= 0.5 and p["probability"] == max(t["probability"] for t in p["top"])
    right = sum(p["label"] == t for p, t in zip(predictions, truth))
    assert result["metrics"] == {"examples": 40, "accuracy": pytest.approx(right / 40)}

    shown = invoke("predict", str(run), rows)
    assert shown.returncode == 0, shown.stderr
    assert f"accuracy {right / 40:.4f} over the 40 inputs with a target" in shown.stdout

    # No target, the columns in another order, a column the model does not take: the same
    # predictions, no metric, the extra column named in a note.
    header, *lines = Path(rows).read_text().splitlines()
    names = header.split(",")
    order = [*reversed(names[:-1])]
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_text("\n".join([",".join([*order, "clinic"]), *(
        ",".join([*(dict(zip(names, line.split(",")))[n] for n in order), "north"]) for line in lines)]) + "\n")
    again = predicted(str(run), str(shuffled))
    assert "metrics" not in again and all("target" not in p for p in again["predictions"])
    assert [p["top"] for p in again["predictions"]] == [p["top"] for p in predictions]
    assert again["notes"] == [f"{shuffled}: column clinic ignored (not a feature of the model)"]


def test_a_series_gives_one_prediction_per_full_window(series_case, tmp_path):
    run, (series,) = series_case
    values = [float(line.split(",")[1]) for line in Path(series).read_text().splitlines()[1:]]
    result = predicted(str(run), series)
    predictions = result["predictions"]
    assert len(predictions) == len(values) - WINDOW + 1  # every full window, the last with no answer yet
    assert predictions[0]["input"] == f"{series}, values 1-{WINDOW}"
    assert [p.get("target") for p in predictions] == [*values[WINDOW:], None]  # horizon 1: the next day
    errors = [abs(p["predictions"][0] - p["target"]) for p in predictions[:-1]]
    assert result["metrics"] == {"examples": len(errors), "mae": pytest.approx(np.mean(errors), rel=1e-5)}

    plain = tmp_path / "plain.txt"  # one number per line, no header: the same windows
    plain.write_text("\n".join(str(v) for v in values) + "\n")
    again = predicted(str(run), str(plain))
    assert [p["predictions"] for p in again["predictions"]] == [p["predictions"] for p in predictions]


def test_arrays_are_read_as_examples(mnist_case, tmp_path):
    import tensorflow_datasets as tfds

    run, files = mnist_case
    images, _ = tfds.as_numpy(tfds.load("mnist", split="test[:6]", as_supervised=True, batch_size=-1))
    np.save(tmp_path / "digits.npy", images[..., 0])  # (6, 28, 28): the channel axis is added
    from_array = predicted(str(run), str(tmp_path / "digits.npy"))["predictions"]
    from_files = predicted(str(run), *files[:6])["predictions"]
    assert [p["input"] for p in from_array] == [f"{tmp_path / 'digits.npy'}[{i}]" for i in range(6)]
    assert [p["top"] for p in from_array] == [p["top"] for p in from_files]  # PNGs are lossless


# --- bad input: one message, exit 2 ---------------------------------------------------------


def refused(*args) -> str:
    result = invoke("predict", *args)
    assert result.returncode == 2, (args, result.stdout, result.stderr)
    assert result.stderr.count("error:") == 1 and "Traceback" not in result.stderr, result.stderr
    return result.stderr


def test_bad_inputs_are_one_clear_message(mnist_case, pima_case, series_case, tmp_path):
    mnist, (digit, *_) = mnist_case
    pima, (rows,) = pima_case
    series_run, (series,) = series_case
    header, first, *_ = Path(rows).read_text().splitlines()

    def write(name: str, text: str) -> str:
        (tmp_path / name).write_text(text)
        return str(tmp_path / name)

    assert "no column glucose" in refused(str(pima), write("few.csv", header.replace("glucose", "sugar") + "\n" + first))
    fat = ",".join("fat" if name == "bmi" else cell for name, cell in zip(header.split(","), first.split(",")))
    assert "line 3 of" in refused(str(pima), write("word.csv", f"{header}\n{first}\n{fat}\n"))
    assert "column 'bmi' holds 'fat', not a number" in refused(str(pima), str(tmp_path / "word.csv"))
    assert "line 3" in refused(str(pima), write("ragged.csv", f"{header}\n{first}\n1,2\n"))
    assert "no rows under its header" in refused(str(pima), write("header.csv", header + "\n"))
    assert "is empty" in refused(str(pima), write("empty.csv", ""))
    assert "'-' (standard input) is for text models" in refused(str(pima), "-")
    assert "fewer than one window" in refused(str(series_run), write("short.csv", "Temp\n1\n2\n3\n"))
    assert "no column 'Temp'" in refused(str(series_run), write("other.csv", "Date,Rain\n1,2\n"))
    assert "'Temp' holds 'warm'" in refused(str(series_run), write("warm.csv", "Temp\n" + "1\n" * 12 + "warm\n"))

    assert "cannot read" in refused(str(mnist), write("not-an-image.png", "hello"))
    assert "no such file" in refused(str(mnist), str(tmp_path / "nope.png"))
    assert "nothing to predict on" in refused(str(mnist))
    assert "--text is for text models" in refused(str(mnist), "--text", "hello")
    np.save(tmp_path / "wide.npy", np.zeros((2, 28, 29), "uint8"))
    assert "shape (2, 28, 29)" in refused(str(mnist), str(tmp_path / "wide.npy"))
    np.save(tmp_path / "scaled.npy", np.zeros((2, 28, 28, 1), "float32"))
    assert "float32 values; the model takes integers 0-255" in refused(str(mnist), str(tmp_path / "scaled.npy"))
    assert "cannot read" in refused(str(mnist), write("broken.npy", "not numpy"))

    exports = tmp_path / "exports"
    assert invoke("export", str(mnist), "--out", str(exports)).returncode == 0
    assert "model folder holding 1 export(s): 1" in refused(str(exports / "mnist-dnn"), digit)
    bare = tmp_path / "bare"
    shutil.copytree(exports / "mnist-dnn" / "1", bare)
    (bare / "metadata.json").unlink()
    assert "carries no dlrecipes metadata" in refused(str(bare), digit)
    assert "no such file" in refused(str(tmp_path / "model.onnx"), digit)
    assert "neither a run nor a model file" in refused(write("model.bin", "x"), digit)


def test_a_text_model_reads_lines_stdin_and_text(tmp_path):
    """The reader for texts, without a text run (test_text.py trains one): a run's metadata
    is all a reader sees."""
    from dlrecipes.errors import RecipeError
    from dlrecipes.predict_inputs import read

    meta = {"reads": "text", "inputs": [{"name": "inputs", "shape": [None], "dtype": "string"}], "source": {}}
    (tmp_path / "texts.txt").write_text("first text\n\n  \nsecond one\n")
    examples = read(meta, [tmp_path / "texts.txt"], ["third"])
    assert examples.where == [f"{tmp_path / 'texts.txt'}:1", f"{tmp_path / 'texts.txt'}:4", "--text 1"]
    assert list(examples.inputs["inputs"]) == ["first text", "second one", "third"]
    (tmp_path / "blank.txt").write_text("\n \n")
    with pytest.raises(RecipeError, match="has no text"):
        read(meta, [tmp_path / "blank.txt"], [])
    (tmp_path / "binary.txt").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(RecipeError, match="not UTF-8"):
        read(meta, [tmp_path / "binary.txt"], [])


# --- what a cell, a file and an array may hold ----------------------------------------------

TABLE = {"reads": "table", "task": "regression", "classes": None,
         "inputs": [{"name": "CHAS", "shape": [None], "dtype": "string"}, {"name": "RM", "shape": [None], "dtype": "float32"}],
         "source": {"target": "MEDV", "columns": {"CHAS": ["0", "1"], "RM": "numeric"}}}
SERIES = {"reads": "sequences", "task": "regression", "classes": None,
          "inputs": [{"name": "inputs", "shape": [None, 3, 1], "dtype": "float32"}],
          "source": {"column": "Temp", "window": 3, "horizon": 1}}


def test_cells_are_read_as_the_model_takes_them(tmp_path):
    """The readers alone, on real files: a category the model does not know, a number beyond
    float32, a feature named twice, a misspelt column, another separator, an image given as
    rows, and Excel's byte-order mark (as the training readers take it)."""
    from PIL import Image

    from dlrecipes.data.files import csv_records
    from dlrecipes.errors import RecipeError
    from dlrecipes.predict_inputs import read

    def written(name: str, text: str, encoding: str = "utf-8") -> Path:
        (tmp_path / name).write_text(text, encoding=encoding)
        return tmp_path / name

    def message(meta: dict, path: Path) -> str:
        with pytest.raises(RecipeError) as error:
            read(meta, [path], [])
        return str(error.value)

    for cell, words in (("0.0", "write it '0', as in training"), ("", "holds nothing"), ("7", "categories (0, 1)")):
        shown = message(TABLE, written("category.csv", f"RM,CHAS\n6.5,0\n6.1,{cell}\n"))
        assert "category.csv, line 3, column 'CHAS'" in shown and words in shown, shown
    assert "holds '1e39', beyond the range of the model's float32 input" in message(
        TABLE, written("big.csv", "RM,CHAS\n1e39,0\n"))
    assert "the target 'MEDV' holds 'inf', not a finite number" in message(
        TABLE, written("answer.csv", "RM,CHAS,MEDV\n1,0,inf\n"))  # a metric of inf would be no JSON
    assert "names the column 'RM' 2 times (columns 1, 3 of its header)" in message(
        TABLE, written("twice.csv", "RM,CHAS,RM\n1,0,2\n"))
    assert len(read(TABLE, [written("notes.csv", "RM,CHAS,note,note\n1,0,a,b\n")], [])) == 1  # an ignored column may repeat
    assert "no column RM (the header has 'rm'" in message(TABLE, written("case.csv", "rm,CHAS\n1,0\n"))
    assert "looks separated by ';'" in message(TABLE, written("semi.csv", "RM;CHAS\n1;0\n"))
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "digit.png")
    assert f"this model reads CSV rows (a table); '{tmp_path / 'digit.png'}' is an image (PNG)" in message(
        TABLE, tmp_path / "digit.png")
    images = {"reads": "images", "inputs": [{"name": "inputs", "shape": [None, 4, 4, 1], "dtype": "uint8"}]}
    assert "as an image: it is a text file" in message(images, tmp_path / "case.csv")

    rows = read(TABLE, [written("bom.csv", "RM,CHAS,MEDV\n6.5,1,24\n", "utf-8-sig")], [])
    assert (tmp_path / "bom.csv").read_bytes()[:3] == b"\xef\xbb\xbf"
    assert list(rows.inputs["CHAS"]) == ["1"] and rows.targets == [24.0]
    assert next(csv_records(tmp_path / "bom.csv", "data.path")) == (1, ["RM", "CHAS", "MEDV"])  # training reads it so too
    series = read(SERIES, [written("days.csv", "Date,Temp\n1,20\n2,21\n3,22\n4,23\n", "utf-8-sig")], [])
    assert series.targets == [23.0, None] and series.inputs["inputs"].shape == (2, 3, 1)
    assert "'Temp' holds '1e39', beyond the range" in message(SERIES, written("hot.csv", "Temp\n1\n1e39\n3\n"))
    text = {"reads": "text", "inputs": [{"name": "inputs", "shape": [None], "dtype": "string"}], "source": {}}
    assert list(read(text, [written("bom.txt", "first\nsecond\n", "utf-8-sig")], []).inputs["inputs"]) == ["first", "second"]


def test_arrays_must_hold_numbers_of_the_input_dtype(mnist_case, series_case, tmp_path):
    mnist, _ = mnist_case
    series_run, _ = series_case
    np.save(tmp_path / "bool.npy", np.ones((2, 28, 28), bool))
    assert "holds bool values; the model takes integers 0-255 (pixels)" in refused(str(mnist), str(tmp_path / "bool.npy"))
    np.save(tmp_path / "huge.npy", np.full((2, WINDOW, 1), 1e39))  # float64: finite; float32: infinite
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # numpy's "overflow encountered in cast" is a failure here
        assert "beyond the range of the model's float32 input" in refused(str(series_run), str(tmp_path / "huge.npy"))


def test_outputs_that_are_not_finite_are_refused_not_printed(pima_case, tmp_path):
    """3e38 is a float32, but standardised it overflows inside the model: refused, naming the
    rows, rather than NaN in the table or (invalid) in the JSON."""
    pima, (rows,) = pima_case
    features = Path(rows).read_text().splitlines()[0].split(",")[:-1]
    edge = tmp_path / "edge.csv"
    edge.write_text(",".join(features) + "\n" + ",".join(["3e38", "-3e38"] * 4) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert f"the model's output for 1 input is not a finite number (first: {edge}, line 2)" in refused(
            str(pima), str(edge), "--json")


# --- the model: damaged, or not what its metadata says -------------------------------------

def metadata_lies():
    """What is changed in the mnist model's metadata -> words of the one message. The first
    ones `metadata.check` finds alone; the last four only the model's own signature shows."""
    def change(**values):
        return lambda meta: meta.update(values)

    def change_input(**values):
        return lambda meta: meta["inputs"][0].update(values)

    checked = {
        "no reads": (lambda meta: meta.pop("reads"), "'reads' is missing"),
        "no inputs": (change(inputs=None), "'inputs' is missing"),
        "empty inputs": (change(inputs=[]), "'inputs' is [], not a list"),
        "no dtype": (lambda meta: meta["inputs"][0].pop("dtype"), "input 1's dtype is missing"),
        "bogus dtype": (change_input(dtype="bogus"), 'input 1\'s dtype is "bogus"'),
        "shape in words": (change_input(shape="28x28"), 'input 1\'s shape is "28x28"'),
        "flat shape": (change_input(shape=[None, 784]), "has shape [null, 784], where a model that reads images takes 3 axes"),
        "classes a string": (change(classes="0123456789"), "'classes' is \"0123456789\", not a list"),
        "binary": (change(task="binary"), "'classes' names 10, which a binary model cannot have"),
        "unknown task": (change(task="ranking"), "'task' is \"ranking\", none of binary"),
    }
    signature = {
        "12 classes": (lambda meta: meta["classes"].extend(["10", "11"]),
                       "the model returns 10 scores per example, where a multiclass model of 12 classes returns 12"),
        "float pixels": (change_input(dtype="float32"), "input 'inputs' is float32 in the metadata, uint8 in the model"),
        "colour": (change_input(shape=[None, 32, 32, 3]),
                   "input 'inputs' has shape [null, 32, 32, 3] in the metadata, [null, 28, 28, 1] in the model"),
        "renamed": (change_input(name="x"), "the metadata names the inputs x; the model takes inputs"),
    }
    return checked, signature


def mnist_copies(alone) -> dict:
    """The mnist exports `alone` copied: the SavedModel folder, the .onnx and .tflite files."""
    copies = [Path(c) for c in alone["mnist"][1]]
    return {"savedmodel": next(c for c in copies if (c / "saved_model.pb").is_file()),
            "onnx": next(c for c in copies if c.parent.name == "file" and c.suffix == ".onnx"),
            "litert": next(c for c in copies if c.parent.name == "file" and c.parent.parent.name == "litert")}


def test_metadata_that_does_not_fit_its_model_is_one_message(alone, mnist_case, tmp_path):
    """Beside a SavedModel, and inside an .onnx and a .tflite file: edited metadata is refused
    when opened, before an input is read - never a KeyError, a TensorFlow error or a
    confident answer of a model it does not describe."""
    import onnx

    from dlrecipes.export import FORMATS

    _, (digit, *_) = mnist_case
    copies = mnist_copies(alone)
    saved = tmp_path / "1"
    shutil.copytree(copies["savedmodel"], saved)
    original = json.loads((saved / "metadata.json").read_text())
    checked, signature = metadata_lies()
    for lie, (change, words) in {**checked, **signature}.items():
        meta = json.loads(json.dumps(original))
        change(meta)
        (saved / "metadata.json").write_text(json.dumps(meta))
        shown = refused(str(saved), digit)
        assert "the export's metadata is damaged or does not match the model: " in shown and words in shown, (lie, shown)
        assert str(saved / "metadata.json") in shown  # where: the file to look at
    (saved / "metadata.json").write_text(json.dumps({**original, "dlrecipes_export": 2}))
    assert "schema 2, written by a newer dlrecipes" in refused(str(saved), digit)

    for fmt, model_file in (("onnx", copies["onnx"]), ("litert", copies["litert"])):
        for lie, (change, words) in signature.items():
            meta = json.loads(json.dumps(original))
            change(meta)
            edited = tmp_path / fmt / lie.replace(" ", "-") / model_file.name
            edited.parent.mkdir(parents=True)
            shutil.copy(model_file, edited)
            if fmt == "onnx":  # onnx's embed adds an entry; the first one is read
                model = onnx.load(str(edited))
                next(e for e in model.metadata_props if e.key == "dlrecipes").value = json.dumps(meta)
                onnx.save(model, str(edited))
            else:
                FORMATS[fmt].embed(edited, json.dumps(meta))
            shown = refused(str(edited), digit)
            assert "does not match the model" in shown and words in shown, (fmt, lie, shown)


def test_damaged_model_files_say_so(alone, mnist_case, tmp_path):
    _, (digit, *_) = mnist_case
    copies = mnist_copies(alone)
    cut = shutil.copytree(copies["savedmodel"], tmp_path / "cut")
    (cut / "saved_model.pb").write_bytes((cut / "saved_model.pb").read_bytes()[:1000])
    emptied = shutil.copytree(copies["savedmodel"], tmp_path / "emptied")
    for data in (emptied / "variables").glob("variables.data-*"):
        data.write_bytes(b"")
    for folder in (cut, emptied):
        assert f"'{folder}' is not a complete SavedModel" in refused(str(folder), digit)

    for fmt, suffix in (("litert", ".tflite"), ("onnx", ".onnx")):
        whole = copies[fmt].read_bytes()
        for name, content in {"half": whole[:len(whole) // 2], "empty": b"", "junk": b"\x00junk" * 500}.items():
            damaged = tmp_path / f"{name}{suffix}"
            damaged.write_bytes(content)
            shown = refused(str(damaged), digit)
            assert f"is not a complete {'LiteRT' if fmt == 'litert' else 'ONNX'} model" in shown, (name, shown)
            assert "carries no dlrecipes metadata" not in shown


def test_a_runs_own_model_keras_predicts_as_the_run(mnist_case):
    run, files = mnist_case
    assert predicted(str(run / "model.keras"), *files[:2]) == predicted(str(run), *files[:2])


def test_paths_are_checked_before_the_model_and_top_is_for_classifiers(series_case, tmp_path):
    assert "no such file" in refused("no-such-run", str(tmp_path / "nope.png"))  # not "no run": the model never loads
    assert "nothing to predict on" in refused("no-such-run")
    run, (series,) = series_case
    assert not predicted(str(run), series)["notes"]
    assert predicted(str(run), series, "--top", "2")["notes"] == [
        "--top is for classifiers; this regression model predicts values, all of them shown"]
