"""A real training end to end: run directory, evaluate, export, and a fresh-process load."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import REPO, SMALL, ctrl_c_able, invoke

RUN_FILES = {"run.json", "recipe.yaml", "signature.json", "env.json", "history.csv",
             "model.keras", "metrics.json", "curves.png", "tensorboard"}


def test_run_directory_is_complete(trained_run):
    assert {p.name for p in trained_run.iterdir()} == RUN_FILES  # no temporary files left
    info = json.loads((trained_run / "run.json").read_text())
    assert info["status"] == "complete" and info["epochs_done"] == 2 and info["seed"] == 0
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["epochs"] == 2
    assert len(metrics["weights_sha256"]) == 64
    assert metrics["test"]["accuracy"] > 0.85  # 4k examples, 2 epochs: a real signal, not chance
    history = (trained_run / "history.csv").read_text().splitlines()
    assert history[0].split(",")[:4] == ["epoch", "learning_rate", "epoch_seconds", "examples_per_second"]
    assert {"accuracy", "loss", "val_accuracy", "val_loss"} <= set(history[0].split(","))
    assert len(history) == 3
    assert (trained_run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    env = json.loads((trained_run / "env.json").read_text())
    assert env["versions"]["tensorflow"] and env["versions"]["keras"].startswith("3.")
    assert "train.epochs" not in (trained_run / "recipe.yaml").read_text()  # resolved, not overrides
    assert "epochs: 2" in (trained_run / "recipe.yaml").read_text()


def test_evaluate_reports_the_number_training_recorded(trained_run):
    result = invoke("evaluate", str(trained_run), "--json")
    assert result.returncode == 0, result.stderr
    evaluated = json.loads(result.stdout)["test"]
    recorded = json.loads((trained_run / "metrics.json").read_text())["test"]
    assert evaluated["accuracy"] == pytest.approx(recorded["accuracy"], abs=1e-6)
    assert evaluated["loss"] == pytest.approx(recorded["loss"], rel=1e-5)


def test_runs_lists_the_run(trained_run):
    result = invoke("runs", "--runs-dir", str(trained_run.parent), "--json")
    (row,) = json.loads(result.stdout)
    assert row["run"] == trained_run.name and row["status"] == "complete"
    assert row["test"]["accuracy"] > 0.85


FRESH_PROCESS_CHECK = textwrap.dedent(
    """
    import json, sys
    import numpy as np, tensorflow as tf, tensorflow_datasets as tfds, keras
    export, model_path = sys.argv[1], sys.argv[2]
    images = np.stack([x for x, _ in tfds.as_numpy(
        tfds.load("mnist", split="test[:100]", as_supervised=True))])
    loaded = tf.saved_model.load(export)
    serve = loaded.signatures["serving_default"]
    served = serve(inputs=tf.constant(images))["probabilities"].numpy()
    reference = keras.models.load_model(model_path)(images.astype("float32") / 255.0).numpy()
    print(json.dumps({"dtype": images.dtype.name, "shape": list(served.shape),
                      "max_abs_diff": float(np.abs(served - reference).max())}))
    """
)


def test_export_loads_in_a_fresh_process_and_matches_the_keras_model(trained_run, tmp_path):
    result = invoke("export", str(trained_run), "--out", str(tmp_path / "exports"))
    assert result.returncode == 0, result.stderr
    version = tmp_path / "exports" / "mnist-dnn" / "1"
    assert (version / "saved_model.pb").is_file()
    assert [p.name for p in version.parent.iterdir()] == ["1"]  # no temporary folder left

    check = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS_CHECK, str(version), str(trained_run / "model.keras")],
        capture_output=True, text=True, timeout=180,
    )
    assert check.returncode == 0, check.stderr
    report = json.loads(check.stdout.strip().splitlines()[-1])
    assert report["dtype"] == "uint8" and report["shape"] == [100, 10]
    assert report["max_abs_diff"] < 1e-5

    cli_tool = shutil.which("saved_model_cli", path=str(Path(sys.executable).parent)) or shutil.which("saved_model_cli")
    assert cli_tool, "saved_model_cli (installed with tensorflow) not found"
    shown = subprocess.run([cli_tool, "show", "--dir", str(version), "--all"], capture_output=True, text=True, timeout=180)
    assert shown.returncode == 0, shown.stderr
    assert "signature_def['serving_default']" in shown.stdout
    assert "dtype: DT_UINT8" in shown.stdout and "shape: (-1, 28, 28, 1)" in shown.stdout

    again = invoke("export", str(trained_run), "--out", str(tmp_path / "exports"))
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in version.parent.iterdir()) == ["1", "2"]
    taken = invoke("export", str(trained_run), "--out", str(tmp_path / "exports"), "--version", "1")
    assert taken.returncode == 2 and "already exists" in taken.stderr


def test_functional_api_trains_too(tmp_path):
    result = invoke("train", "mnist-dnn", "--epochs", "1", *SMALL, "--set", "model.api=functional",
                 "--runs-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    (run,) = list(tmp_path.iterdir())
    assert json.loads((run / "metrics.json").read_text())["test"]["accuracy"] > 0.8


def test_ctrl_c_marks_the_run_interrupted_and_evaluate_refuses_it(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "dlrecipes", "train", "mnist-dnn", "--epochs", "200", *SMALL,
         "--runs-dir", str(tmp_path)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
        preexec_fn=ctrl_c_able,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        histories = list(tmp_path.glob("*/history.csv"))
        if histories:
            break
        time.sleep(0.2)
    assert histories, "training never finished an epoch"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    (run,) = list(tmp_path.iterdir())
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "interrupted"
    assert not (run / "metrics.json").exists() and not (run / "model.keras").exists()

    listed = json.loads(invoke("runs", "--runs-dir", str(tmp_path), "--json").stdout)
    assert listed[0]["status"] == "incomplete (interrupted)"
    refused = invoke("evaluate", run.name, "--runs-dir", str(tmp_path))
    assert refused.returncode == 2 and "incomplete" in refused.stderr


def test_unexpected_failure_is_one_line_and_exit_1(trained_run, tmp_path, monkeypatch):
    # A bug inside the SavedModel writer. (An --out that is a file used to serve here; it
    # is refused up front now, see test_places.py.)
    import keras

    def broken(self, filepath, **kwargs):
        os.makedirs(filepath)  # half-written, as a real failure would leave it
        raise RuntimeError("a bug in the writer")

    # ExportArchive() returns the backend's subclass: patch the class export.py gets.
    monkeypatch.setattr(type(keras.export.ExportArchive()), "write_out", broken)
    result = invoke("export", str(trained_run), "--out", str(tmp_path / "exports"))
    assert result.returncode == 1, result.stderr
    assert "RuntimeError: a bug in the writer" in result.stderr
    assert not (tmp_path / "exports").exists()  # neither the temporary folder nor the folders made for it
    assert "failed:" in result.stderr and "Traceback" not in result.stderr


def test_predict_reads_image_files(trained_run, tmp_path):
    import numpy as np
    import tensorflow as tf
    import tensorflow_datasets as tfds

    images, labels = tfds.as_numpy(tfds.load("mnist", split="test[:8]", as_supervised=True, batch_size=-1))
    files = []
    for i, image in enumerate(images):
        path = tmp_path / f"digit{i}.png"
        path.write_bytes(tf.io.encode_png(image).numpy())
        files.append(str(path))
    rgb = tmp_path / "rgb-large.png"  # colour and twice the size: converted and resized
    rgb.write_bytes(tf.io.encode_png(np.repeat(np.kron(images[0], np.ones((2, 2, 1), "uint8")), 3, -1)).numpy())
    result = invoke("predict", str(trained_run), *files, str(rgb), "--json")
    assert result.returncode == 0, result.stderr
    predictions = json.loads(result.stdout)["predictions"]
    guessed = [int(p["top"][0]["label"]) for p in predictions[:8]]
    assert sum(g == l for g, l in zip(guessed, labels)) >= 6  # a 2-epoch model on 4k images
    assert predictions[8]["top"][0]["label"] == predictions[0]["top"][0]["label"]
    assert abs(sum(t["probability"] for t in predictions[0]["top"])) <= 1.0 + 1e-6

    bad = tmp_path / "not-an-image.png"
    bad.write_text("hello")
    refused = invoke("predict", str(trained_run), str(bad))
    assert refused.returncode == 2 and "cannot read" in refused.stderr and "Traceback" not in refused.stderr
    missing = invoke("predict", str(trained_run), str(tmp_path / "nope.png"))
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_ctrl_c_stops_a_litert_export_and_leaves_nothing(trained_run, tmp_path):
    # As soon as the export's temporary folder appears: its SavedModel, conversion and
    # calibration (int8) still take seconds, so the signal lands inside TensorFlow.
    out = tmp_path / "exports"
    process = subprocess.Popen(
        [sys.executable, "-m", "dlrecipes", "export", str(trained_run), "--format", "litert", "--quantize", "int8",
         "--out", str(out)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
        preexec_fn=ctrl_c_able,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob("mnist-dnn/.tmp-*")) and process.poll() is None:
        time.sleep(0.01)
    assert list(out.glob("mnist-dnn/.tmp-*")), "the export never began writing"
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "interrupted", stderr  # not "failed: TypeError ..."
    assert "failed:" not in stderr and "Traceback" not in stderr and "exported" not in stdout
    assert not out.exists()  # neither the temporary folder nor the folders made for it


# A signal raises KeyboardInterrupt wherever the main thread is; inside TensorFlow or Keras it
# has come out as other errors ("TypeError: Exception encountered when calling Flatten.call()",
# "SystemError: ...listobject.c..."). A real SIGINT, then such an error.
INTERRUPTED_THEN = textwrap.dedent(
    """
    import os, signal, sys, time
    import typer
    from dlrecipes import interrupts
    from dlrecipes.cli import handles_errors
    from dlrecipes.errors import RecipeError

    interrupts.install()
    error = {"TypeError": TypeError("Exception encountered when calling Flatten.call()"),
             "SystemError": SystemError("Objects/listobject.c: bad argument to internal function"),
             "RecipeError": RecipeError("TensorFlow's LiteRT converter could not convert")}[sys.argv[1]]

    @handles_errors
    def command():
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(10)  # the handler raises KeyboardInterrupt at once
        except KeyboardInterrupt:
            raise error from None

    try:
        command()
    except typer.Exit as done:  # what the Typer app turns into the exit code
        sys.exit(done.exit_code)
    """
)


def test_an_error_after_a_signal_is_reported_as_the_interrupt():
    for kind in ("TypeError", "SystemError", "RecipeError"):
        result = subprocess.run([sys.executable, "-c", INTERRUPTED_THEN, kind], cwd=REPO, capture_output=True,
                                text=True, timeout=60, preexec_fn=ctrl_c_able)
        assert result.returncode == 130, (kind, result.stderr)
        assert result.stderr.strip() == "interrupted", (kind, result.stderr)


def test_a_gan_export_describes_no_preprocessing_of_the_latent_vectors(trained_run):
    from dlrecipes.data import source_of
    from dlrecipes.export.serving import Served
    from dlrecipes.loader import load_recipe
    from dlrecipes.models import build_model

    recipe = load_recipe("mnist-dcgan").recipe  # untrained: what the metadata says depends on the model's shape only
    signature = source_of(recipe).signature()
    gan = Served(trained_run, recipe, signature, build_model(recipe, signature))
    assert gan.preprocessing() == [] and gan.client_info() == {}  # the pixel scaling fed the discriminator
    assert [i["holds"] for i in gan.inputs()] == ["latent vectors, standard normal"]
    assert Served.load(trained_run).preprocessing() == ["inputs cast to float32 and divided by 255"]
