"""`train --track mlflow`: a real MLflow store in a temporary folder, read back by MLflow's client."""

import csv
import hashlib
import json
import logging
import os
import sys

import numpy as np
import pytest

from conftest import SMALL, invoke
from test_tensorboard import events

pytest.importorskip("mlflow", reason="the mlflow extra: pip install 'dlrecipes[mlflow]' (make install has it)")


# XLA's compilation would double these small trainings' time; tracking does not depend on it.
TRAIN = ["mnist-dnn", *SMALL, "--no-xla"]


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    """MLflow's default kind of store (sqlite), created once: its tables take seconds."""
    from mlflow.tracking import MlflowClient

    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)  # MLflow resolves its default artifact root, ./mlruns, here
        MlflowClient(uri).search_experiments(max_results=1)
    return uri


@pytest.fixture
def store(database, tmp_path, monkeypatch):
    """The store as MLFLOW_TRACKING_URI, run from tmp_path (artifacts go to ./mlruns)."""
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", database)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.delenv("DLRECIPES_TRACKING", raising=False)
    return MlflowClient()


def history(run) -> list[dict]:
    with open(run / "history.csv", newline="") as file:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(file)]


def tracked(client, run):
    """The MLflow run of run directory `run`, by the id run.json records."""
    recorded = json.loads((run / "run.json").read_text())["mlflow"]
    found = client.get_run(recorded["run_id"])
    assert found.info.run_name == run.name and found.data.tags["dlrecipes.run"] == str(run.resolve())
    return found


def assert_metrics_are_the_history(client, run_id, rows):
    for key in rows[0]:
        if key == "epoch":
            continue
        logged = sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))
        assert [step for step, _ in logged] == [int(r["epoch"]) for r in rows], key  # each epoch once
        np.testing.assert_allclose([v for _, v in logged], [r[key] for r in rows], rtol=1e-12, err_msg=key)


def test_track_mlflow_records_params_metrics_and_the_run(store, tmp_path):
    result = invoke("train", *TRAIN, "--epochs", "2", "--runs-dir", str(tmp_path / "runs"), "--track", "mlflow")
    assert result.returncode == 0, result.stderr
    (run,) = list((tmp_path / "runs").iterdir())
    found = tracked(store, run)
    assert found.info.status == "FINISHED"
    assert store.get_experiment(found.info.experiment_id).name == "mnist-dnn"  # the recipe's name
    # The resolved recipe, every default filled in, as dotted keys.
    params = found.data.params
    assert params["train.epochs"] == "2" and params["model.hidden"] == "[256, 128]"
    assert params["data.splits.train"] == "train[:4096]" and params["train.optimizer.learning_rate"] == "0.001"
    assert params["train.tensorboard.histograms"] == "false" and params["runtime.steps_per_execution"] == "128"
    assert_metrics_are_the_history(store, found.info.run_id, history(run))
    metrics = json.loads((run / "metrics.json").read_text())
    assert found.data.metrics["test_accuracy"] == metrics["test"]["accuracy"]
    # The run directory, as artifacts: the same model, byte for byte; the event files too.
    listed = {a.path for a in store.list_artifacts(found.info.run_id)}
    assert {"model.keras", "history.csv", "metrics.json", "run.json", "recipe.yaml", "curves.png", "tensorboard"} <= listed
    assert "lock" not in listed
    model = store.download_artifacts(found.info.run_id, "model.keras", str(tmp_path))
    recorded = json.loads((run / "run.json").read_text())["sha256"]["model.keras"]
    assert hashlib.sha256(open(model, "rb").read()).hexdigest() == recorded
    assert {a.path for a in store.list_artifacts(found.info.run_id, "tensorboard")} == {
        "tensorboard/train", "tensorboard/validation"}


class InterruptAfterFirstEpoch:
    """What a Ctrl-C as epoch 2 begins does (KeyboardInterrupt inside fit), at a known moment."""

    def __init__(self):
        import keras

        class Interrupt(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                if epoch == 1:
                    raise KeyboardInterrupt

        self.callback = Interrupt()

    def __call__(self, original):
        return lambda *args, **kwargs: [*original(*args, **kwargs), self.callback]


def test_a_resumed_run_continues_its_mlflow_run_and_event_files(store, tmp_path, monkeypatch):
    from dlrecipes.train import fit

    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "resumed")  # MLflow's own, honoured
    with monkeypatch.context() as patch:
        patch.setattr(fit, "training_callbacks", InterruptAfterFirstEpoch()(fit.training_callbacks))
        cut = invoke("train", *TRAIN, "--epochs", "2", "--runs-dir", str(tmp_path / "runs"), "--track", "mlflow")
    assert cut.returncode == 130, cut.stderr
    (run,) = list((tmp_path / "runs").iterdir())
    assert tracked(store, run).info.status == "KILLED"
    monkeypatch.setenv("DLRECIPES_TRACKING", "mlflow")  # the environment's way to ask

    resumed = invoke("train", "--resume", str(run))
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((run / "run.json").read_text())["resumed_from_epoch"] == 1
    found = tracked(store, run)  # the same MLflow run, now complete
    assert found.info.status == "FINISHED"
    assert store.get_experiment(found.info.experiment_id).name == "resumed"
    assert len(store.search_runs([found.info.experiment_id])) == 1
    rows = history(run)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert_metrics_are_the_history(store, found.info.run_id, rows)
    # TensorBoard: two processes, two event files per folder, every epoch once.
    for split in ("train", "validation"):
        assert len(list((run / "tensorboard" / split).glob("events.out.tfevents.*"))) == 2
        values, _ = events(run / "tensorboard" / split)
        assert [step for step, _ in values["epoch_loss"]] == [1, 2]
        key = "loss" if split == "train" else "val_loss"
        np.testing.assert_array_equal([float(v) for _, v in values["epoch_loss"]], np.float32([r[key] for r in rows]))


def test_track_is_refused_before_anything_is_written(store, tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    train = ["train", *TRAIN, "--epochs", "1", "--runs-dir", str(runs)]

    # MLflow missing: None in sys.modules makes `import mlflow` raise ImportError.
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "mlflow", None)
        missing = invoke(*train, "--track", "mlflow")
    assert missing.returncode == 2, missing.stderr
    assert "needs MLflow" in missing.stderr and "pip install 'dlrecipes[mlflow]'" in missing.stderr

    unknown = invoke(*train, "--track", "wandb")
    assert unknown.returncode == 2 and "unknown tracker 'wandb'" in unknown.stderr
    monkeypatch.setenv("DLRECIPES_TRACKING", "mlfow")
    misspelt = invoke(*train)
    assert misspelt.returncode == 2 and "$DLRECIPES_TRACKING" in misspelt.stderr
    monkeypatch.delenv("DLRECIPES_TRACKING")

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "nosuchscheme://nowhere")
    unusable = invoke(*train, "--track", "mlflow")
    assert unusable.returncode == 2 and "nosuchscheme://nowhere cannot be used" in unusable.stderr
    assert not runs.exists() or not any(runs.iterdir())


def test_an_unreachable_store_is_refused_within_seconds(store, tmp_path, monkeypatch):
    import socket
    import time

    with socket.socket() as probe:  # a free port: nothing listens there once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}/")
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", raising=False)
    monkeypatch.delenv("MLFLOW_HTTP_REQUEST_TIMEOUT", raising=False)
    started = time.monotonic()
    result = invoke("train", *TRAIN, "--epochs", "1", "--runs-dir", str(tmp_path / "runs"), "--track", "mlflow")
    took = time.monotonic() - started
    assert result.returncode == 2, result.stderr
    assert f"http://127.0.0.1:{port}/ cannot be used" in result.stderr and "Connection refused" in result.stderr
    assert took < 20, took  # MLflow's default retries took 262 s
    # The probe's settings were for the probe only.
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ and "MLFLOW_HTTP_REQUEST_TIMEOUT" not in os.environ
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_mlflow_info_lines_stay_off_the_screen_unless_verbose(tmp_path, monkeypatch):
    from dlrecipes import tf_quiet, tracking

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_LOGGING_LEVEL", raising=False)
    monkeypatch.delenv("DLRECIPES_TRACKING", raising=False)
    # A new database: MLflow logs its tables' creation at INFO.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'new.db'}")
    result = invoke("train", *TRAIN, "--epochs", "1", "--runs-dir", str(tmp_path / "runs"), "--track", "mlflow")
    assert result.returncode == 0, result.stderr
    assert "mlflow: run " in result.stdout + result.stderr
    assert " INFO mlflow" not in result.stdout + result.stderr, result.stderr
    assert logging.getLogger("mlflow").level == logging.INFO  # as MLflow set it, outside dlrecipes' calls

    monkeypatch.setattr(tf_quiet, "_verbose", True)  # what `dlrecipes --verbose` sets
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'verbose.db'}")
    seen = []
    handler = logging.Handler()
    handler.emit = seen.append
    logging.getLogger("mlflow").addHandler(handler)
    try:
        assert tracking.requested("mlflow") == "mlflow"
    finally:
        logging.getLogger("mlflow").removeHandler(handler)
    assert any("Creating initial MLflow database tables" in record.getMessage() for record in seen)
