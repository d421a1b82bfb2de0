"""Checkpoints and resume: an interrupted run, resumed, ends where an uninterrupted one does."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

from conftest import REPO, cli, ctrl_c_able, invoke

# Full MNIST epochs: 54,000 examples are 422 batches of 128, which the recipe's 128 batches
# per compiled call do not divide; every epoch must still end after its own 422 batches.
ARGS = ["mnist-dnn", "--epochs", "3", "--seed", "3", "--set", "model.dropout=0.2", "--set", "data.splits.test=test[:2000]"]


def weights(run):
    import keras

    return keras.models.load_model(run / "model.keras", compile=False).get_weights()


def test_interrupted_then_resumed_run_matches_an_uninterrupted_one(tmp_path):
    full = cli("train", *ARGS, "--runs-dir", str(tmp_path / "full"))
    assert full.returncode == 0, full.stderr
    (uninterrupted,) = list((tmp_path / "full").iterdir())
    assert json.loads((uninterrupted / "run.json").read_text())["runtime"]["steps_per_execution"] == 128

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
    assert info["status"] == "interrupted" and info["epochs_done"] < 3
    assert f"dlrecipes train --resume {run}" in stderr  # says how to go on, on one line
    assert (run / "checkpoint" / "latest.json").is_file()

    resumed = cli("train", "--resume", str(run))
    assert resumed.returncode == 0, resumed.stderr
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "complete" and 1 <= info["resumed_from_epoch"] < 3
    assert not (run / "checkpoint").exists()  # removed once complete
    assert len((run / "history.csv").read_text().splitlines()) == 4  # header + 3 epochs, none twice
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
    """8 batches per call on epochs of 21 batches: each epoch ends after exactly its own
    batches (the last call runs the 5 left); each epoch's order is its own, set at its
    start whatever passes Keras makes, so a run resumed at epoch 2 gives epochs 2 and 3
    the batches an uninterrupted run gives them."""
    import keras
    import tensorflow as tf

    from dlrecipes.data.pipeline import epoch_stream
    from dlrecipes.train.callbacks import StreamEpochs

    examples = tf.data.Dataset.from_tensor_slices((np.arange(1000, dtype="float32")[:, None], np.zeros((1000, 1))))

    def stream(first_epoch):
        return epoch_stream(examples, first_epoch=first_epoch, steps_per_epoch=21, preprocess=lambda x: x,
                            targets=lambda y: y, batch_size=48, seed=0, shuffle_buffer=1000, cache=True)

    def fit(first_epoch, epochs):
        seen, ends = [], []
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
        model.compile("sgd", "mse", steps_per_execution=8)
        record = keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda epoch, logs: seen.append([]),
            on_epoch_end=lambda epoch, logs: ends.append(int(model.optimizer.iterations)))
        train = stream(first_epoch)
        # Each batch's inputs as the model sees them, epoch by epoch.
        watched = train.dataset.map(lambda x, y: (tf.py_function(lambda v: seen[-1].append(v.numpy().ravel()) or v,
                                                                 [x], tf.float32), y))
        watched = watched.map(lambda x, y: (tf.ensure_shape(x, [None, 1]), y))
        model.fit(watched, initial_epoch=first_epoch, epochs=epochs, shuffle=False, verbose=0,
                  callbacks=[StreamEpochs(train), record])
        return ends, [np.concatenate(batches) for batches in seen]

    ends, uninterrupted = fit(0, 4)
    assert ends == [21, 42, 63, 84]
    _, resumed = fit(2, 4)
    assert all(sorted(order) == list(range(1000)) for order in uninterrupted)  # each epoch sees every example once
    assert not np.array_equal(uninterrupted[0], uninterrupted[1])  # and in a new order
    np.testing.assert_array_equal(uninterrupted[2], resumed[0])
    np.testing.assert_array_equal(uninterrupted[3], resumed[1])
