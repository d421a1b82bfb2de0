"""Training on several workers: real `dlrecipes train` processes on 127.0.0.1, each with
its own TF_CONFIG, under tf.distribute.MultiWorkerMirroredStrategy (issue 15, part 3).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import REPO, SMALL, cli, ctrl_c_able
from test_survival import finish

SCRATCH = "dlrecipes-scratch-"


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def tf_config(ports: list[int], index: int) -> str:
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


def start_workers(*args: str, workers: int = 2) -> list[subprocess.Popen]:
    ports = free_ports(workers)
    return [
        subprocess.Popen([sys.executable, "-m", "dlrecipes", *args], cwd=REPO, text=True,
                         env={**os.environ, "TF_CONFIG": tf_config(ports, i)}, preexec_fn=ctrl_c_able,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for i in range(workers)
    ]


def scratch_folders() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob(f"{SCRATCH}*")}


def only_run(runs_dir: Path) -> Path:
    found = [p for p in runs_dir.iterdir() if not p.name.startswith(".")]
    assert len(found) == 1, found
    return found[0]


def test_two_workers_train_as_one_with_the_same_global_batch(tmp_path):
    """Two workers, one epoch of mnist-dnn on a slice: both end with the same weights, the
    chief's run directory is complete and records the cluster, the other worker's temporary
    folder is gone, and the result equals one process training with the global batch
    (2 x 128) and the rate the linear scaling rule gives it (2 x 0.001)."""
    before = scratch_folders()
    workers = start_workers("train", *SMALL, "mnist-dnn", "--epochs", "1", "--runs-dir", str(tmp_path / "two"))
    (chief_rc, chief_err), (worker_rc, worker_err) = [finish(w) for w in workers]
    assert (chief_rc, worker_rc) == (0, 0), chief_err + worker_err
    assert "Traceback" not in chief_err + worker_err

    run = only_run(tmp_path / "two")
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "complete"
    assert record["runtime"]["strategy"] == "multi-worker"
    assert record["runtime"]["cluster"] == {"workers": 2, "task": "worker:0", "chief": True}
    assert record["runtime"]["replicas"] == 2 and record["runtime"]["global_batch_size"] == 256
    # The recipe's 128 batches per call and XLA cannot run here; the run says so.
    assert record["runtime"]["steps_per_execution"] == 1 and record["runtime"]["jit_compile"] is False
    assert any("1 batch per compiled call" in note for note in record["runtime"]["notes"])
    for name in ("model.keras", "metrics.json", "history.csv", "curves.png", "recipe.yaml"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    # The other worker reports the fingerprint of its own weights: the same.
    assert f"weights sha256 {metrics['weights_sha256']}" in " ".join(worker_err.split())
    assert scratch_folders() <= before  # the worker's copy is deleted

    one = cli("train", *SMALL, "mnist-dnn", "--epochs", "1", "--runs-dir", str(tmp_path / "one"),
              "--set", "train.batch_size=256", "--set", "train.optimizer.learning_rate=0.002",
              "--no-xla", "--set", "runtime.steps_per_execution=1")
    assert one.returncode == 0, one.stderr
    alone = json.loads((only_run(tmp_path / "one") / "metrics.json").read_text())
    # Summing two half-batches' gradients instead of one batch's is the only difference.
    assert metrics["train"]["loss"] == pytest.approx(alone["train"]["loss"], rel=1e-4)
    assert metrics["validation"]["accuracy"] == pytest.approx(alone["validation"]["accuracy"], abs=2e-3)
    assert metrics["test"]["accuracy"] == pytest.approx(alone["test"]["accuracy"], abs=2e-3)


def test_a_killed_worker_stops_the_other_clearly_and_resume_finishes_the_run(tmp_path):
    """SIGKILL the second worker after the first epoch's checkpoint: the chief fails within
    a bounded time with one message naming the lost worker and the command to continue (no
    hang, no traceback), and `train --resume` on the chief's run, with both workers
    restarted, finishes it."""
    long = ["--set", "data.splits.train=train[:24000]", "--set", "data.splits.validation=train[24000:25024]",
            "--set", "data.splits.test=test[:1000]"]
    runs_dir = tmp_path / "runs"
    chief, worker = start_workers("train", "mnist-dnn", *long, "--epochs", "2", "--runs-dir", str(runs_dir))
    deadline = time.time() + 180
    while not list(runs_dir.glob("*/checkpoint/latest.json")):
        assert time.time() < deadline and chief.poll() is None and worker.poll() is None, "no checkpoint"
        time.sleep(0.1)
    worker.send_signal(signal.SIGKILL)
    killed = time.time()
    rc, err = finish(chief, timeout=60)
    seconds = time.time() - killed
    worker.communicate()
    assert rc == 1, err
    assert seconds < 45  # TensorFlow notices the missing heartbeats within seconds
    assert "the cluster lost a worker" in err and "Traceback" not in err
    run = only_run(runs_dir)
    assert f"dlrecipes train --resume {run}" in " ".join(err.split())
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "failed" and record["epochs_done"] == 1

    before = scratch_folders()
    chief, worker = start_workers("train", "--resume", str(run))
    (chief_rc, chief_err), (worker_rc, worker_err) = finish(chief), finish(worker)
    assert (chief_rc, worker_rc) == (0, 0), chief_err + worker_err
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "complete" and record["epochs_done"] == 2 and record["resumed_from_epoch"] == 1
    metrics = json.loads((run / "metrics.json").read_text())
    assert f"weights sha256 {metrics['weights_sha256']}" in " ".join(worker_err.split())
    assert not (scratch_folders() - before)  # the resumed worker's copy is gone too
    assert not (run / "checkpoint").exists()


def test_multi_worker_without_tf_config_is_refused_before_anything_is_written(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    result = subprocess.run([sys.executable, "-m", "dlrecipes", "train", *SMALL, "mnist-dnn", "--strategy",
                             "multi-worker", "--runs-dir", str(tmp_path)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "needs TF_CONFIG" in result.stderr and "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("config, says", [
    ("{not json", "not valid JSON"),
    ('{"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 2}}',
     "which 'cluster.worker' does not list"),
    ('{"cluster": {"worker": "127.0.0.1:1"}, "task": {"type": "worker", "index": 0}}', "not a list"),
    ('{"task": {"type": "worker", "index": 0}}', "no 'cluster'"),
])
def test_a_wrong_tf_config_is_one_clear_message(tmp_path, config, says):
    result = cli("train", *SMALL, "mnist-dnn", "--runs-dir", str(tmp_path), env={"TF_CONFIG": config})
    assert result.returncode == 2, result.stderr
    assert says in result.stderr and "where: environment variable TF_CONFIG" in result.stderr
    assert "Traceback" not in result.stderr
    assert not any(tmp_path.iterdir())


def test_the_overrides_refuse_a_keras_whose_functions_changed(monkeypatch):
    """The check compares the overridden functions' source with what the overrides were
    written for: a Keras that changed them is refused, naming the upstream issue."""
    from dlrecipes.errors import RecipeError
    from dlrecipes.train import multiworker

    multiworker.check()  # the Keras pinned in pyproject.toml passes
    monkeypatch.setitem(multiworker.CHECKED_SOURCE, "reduce_per_replica", "0" * 16)
    with pytest.raises(RecipeError) as raised:
        multiworker.check()
    assert "reduce_per_replica" in str(raised.value) and "keras-team/keras/issues/20585" in str(raised.value)
