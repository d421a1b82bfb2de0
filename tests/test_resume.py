"""Checkpoints and resume: an interrupted run, resumed, ends where an uninterrupted one does."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

from conftest import REPO, cli, ctrl_c_able, invoke

# Long enough epochs that a SIGINT sent after the first one lands in the middle of training.
# 16,000 examples are 125 batches of 128, which 8 batches per compiled call do not divide:
# an epoch must still end after its own 125 batches (train.fit.execution_steps).
ARGS = ["mnist-dnn", "--epochs", "5", "--seed", "3", "--set", "model.dropout=0.2",
        "--set", "data.splits.train=train[:16000]", "--set", "data.splits.validation=train[16000:17024]",
        "--set", "data.splits.test=test[:2000]"]


def weights(run):
    import keras

    return keras.models.load_model(run / "model.keras", compile=False).get_weights()


def test_interrupted_then_resumed_run_matches_an_uninterrupted_one(tmp_path):
    full = cli("train", *ARGS, "--runs-dir", str(tmp_path / "full"))
    assert full.returncode == 0, full.stderr
    (uninterrupted,) = list((tmp_path / "full").iterdir())
    assert json.loads((uninterrupted / "run.json").read_text())["runtime"]["steps_per_execution"] == 5

    process = subprocess.Popen(
        [sys.executable, "-m", "dlrecipes", "train", *ARGS, "--runs-dir", str(tmp_path / "cut")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
        preexec_fn=ctrl_c_able,
    )
    deadline = time.time() + 180
    while time.time() < deadline and not list((tmp_path / "cut").glob("*/checkpoint/latest.json")):
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    (run,) = list((tmp_path / "cut").iterdir())
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "interrupted" and info["epochs_done"] < 5
    assert f"dlrecipes train --resume {run}" in stderr  # says how to go on, on one line
    assert (run / "checkpoint" / "latest.json").is_file()

    resumed = cli("train", "--resume", str(run))
    assert resumed.returncode == 0, resumed.stderr
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "complete" and 1 <= info["resumed_from_epoch"] < 5
    assert not (run / "checkpoint").exists()  # removed once complete
    assert len((run / "history.csv").read_text().splitlines()) == 6  # header + 5 epochs, none twice
    for a, b in zip(weights(uninterrupted), weights(run), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_resume_refuses_what_it_cannot_continue(trained_run, tmp_path):
    done = invoke("train", "--resume", str(trained_run))
    assert done.returncode == 2 and "nothing to resume" in done.stderr
    mixed = invoke("train", "mnist-dnn", "--resume", str(trained_run))
    assert mixed.returncode == 2 and "cannot change it" in mixed.stderr
    nothing = invoke("train")
    assert nothing.returncode == 2 and "no recipe given" in nothing.stderr


def test_compiled_calls_never_cross_an_epochs_end():
    """Keras runs steps_per_execution batches per call even past an epoch's last batch; the
    number used must divide the epoch, so each epoch ends after exactly its own batches."""
    import keras
    import tensorflow as tf

    from dlrecipes.train.fit import execution_steps

    assert [execution_steps(8, n) for n in (422, 128, 125, 11, 5, None)] == [2, 8, 5, 1, 5, 8]
    ends = []
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse", steps_per_execution=execution_steps(2, 3))
    stream = tf.data.Dataset.from_tensor_slices((np.ones((6, 1, 1)), np.ones((6, 1, 1))))  # 2 epochs of 3 batches
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: ends.append(int(model.optimizer.iterations)))
    model.fit(stream, epochs=2, steps_per_epoch=3, verbose=0, callbacks=[record])
    assert ends == [3, 6]
