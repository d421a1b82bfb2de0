"""A training survives what happens to it: a second process, a full disk, signals at any
moment, SIGKILL, NaN, corrupt files. Everything here is done for real to real `dlrecipes`
processes: real signals, a real tmpfs that fills up (the tests run as root; mounting is
required, not optional), bytes really overwritten on disk.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import REPO, SMALL, cli, ctrl_c_able, invoke
from dlrecipes import runlock

# ~1 s an epoch on two cores: long enough to be caught mid-training, short enough to finish.
LONG = ["mnist-dnn", "--set", "data.splits.train=train[:16000]", "--set", "data.splits.validation=train[16000:17024]",
        "--set", "data.splits.test=test[:1000]"]


def start(*args: str) -> subprocess.Popen:
    """`dlrecipes ARGS` in its own process, Ctrl-C-able as in a terminal."""
    return subprocess.Popen(
        [sys.executable, "-m", "dlrecipes", *args], cwd=REPO, env=os.environ.copy(), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=ctrl_c_able,
    )


def wait_for(condition, process: subprocess.Popen | None = None, timeout: float = 180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process ended first (rc {process.returncode}): {process.stderr.read()}")
        time.sleep(0.05)
    raise AssertionError("timed out")


def only_run(runs_dir: Path) -> Path | None:
    found = [p for p in runs_dir.glob("*") if (p / "run.json").is_file() and not p.name.startswith(".")]
    assert len(found) <= 1, found
    return found[0] if found else None


def checkpointed(runs_dir: Path) -> Path | None:
    run = only_run(runs_dir) if runs_dir.is_dir() else None
    return run if run and (run / "checkpoint" / "latest.json").is_file() else None


def status(run: Path) -> str:
    return json.loads((run / "run.json").read_text())["status"]


def listed(runs_dir: Path) -> dict:
    result = invoke("runs", "--runs-dir", str(runs_dir), "--json")
    return {row["run"]: row for row in json.loads(result.stdout)}


def temporary_files(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob("*") if ".tmp" in p.name or p.name.endswith(".staging")]


def finish(process: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    try:
        _, stderr = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, stderr


@contextmanager
def tmpfs(path: Path, size: str, options: str = ""):
    """A real tmpfs of `size` at `path`. Mounting must work (CI runs the tests as root)."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}{options}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def remount(path: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True)


# --- 1 and 4: one owner; a killed run is stopped, not running --------------------------------

def test_a_run_is_trained_by_one_process_at_a_time_and_a_killed_one_shows_as_stopped(tmp_path):
    runs_dir = tmp_path / "runs"
    first = start("train", *LONG, "--epochs", "8", "--runs-dir", str(runs_dir))
    try:
        run = wait_for(lambda: checkpointed(runs_dir), first)
        owner = json.loads((run / "lock").read_text())
        assert owner["pid"] == first.pid and owner["host"] == socket.gethostname()
        assert json.loads((run / "run.json").read_text())["owner"]["pid"] == first.pid

        second = invoke("train", "--resume", str(run))
        assert second.returncode == 75, second.stderr
        assert f"is being trained by process {first.pid} on {socket.gethostname()}" in second.stderr
        assert status(run) == "running"  # the refused process changed nothing
        assert listed(runs_dir)[run.name]["status"] == "incomplete (running)"
    finally:
        first.kill()
        first.communicate()

    row = listed(runs_dir)[run.name]
    kept = json.loads((run / "checkpoint" / "latest.json").read_text())["epochs_done"]
    assert row["status"] == "incomplete (stopped)" and row["epochs"] == kept >= 1
    assert row["next"] == f"dlrecipes train --resume {run}"
    assert f"continue with dlrecipes train --resume {run}" in invoke("runs", "--runs-dir", str(runs_dir)).stdout

    # Two resumes at once: the first to take the lock trains, the other is refused.
    resumer = start("train", "--resume", str(run))
    try:
        wait_for(lambda: (runlock.read_owner(run) or {}).get("pid") == resumer.pid, resumer)
        # Still loading its data, not yet marked running in run.json: the lock says running.
        assert listed(runs_dir)[run.name]["status"] == "incomplete (running)"
        refused = invoke("train", "--resume", str(run))
        assert refused.returncode == 75 and f"process {resumer.pid}" in refused.stderr
    finally:
        code, stderr = finish(resumer)
    assert code == 0, stderr
    assert f"took over run {run.name} from process {first.pid} on {socket.gethostname()}" in stderr
    assert status(run) == "complete" and not (run / "lock").exists() and not (run / "checkpoint").exists()
    assert temporary_files(run) == []
    assert invoke("evaluate", str(run)).returncode == 0


# --- 2: a full disk --------------------------------------------------------------------------

@pytest.mark.parametrize("size, epochs, kept", [
    ("2m", 3, None),  # not even the first checkpoint fits
    ("5m", 3, 1),  # the second checkpoint does not fit beside the first
    ("5m", 1, 1),  # the checkpoint fits, the trained model.keras beside it does not
])
def test_a_full_disk_fails_the_run_cleanly_and_the_suggested_command_then_works(tmp_path, size, epochs, kept):
    with tmpfs(tmp_path / "disk", size) as disk:
        result = cli("train", "mnist-dnn", "--epochs", str(epochs), *SMALL, "--runs-dir", str(disk))
        assert result.returncode == 1, result.stderr
        assert "no space left on device" in result.stderr and "Traceback" not in result.stderr
        run = only_run(disk)
        assert status(run) == "failed" and temporary_files(disk) == []
        row = listed(disk)[run.name]
        assert row["epochs"] == (kept or 0)
        expected = f"dlrecipes train --resume {run}" if kept else f"dlrecipes train {run / 'recipe.yaml'} --runs-dir {disk}"
        assert row["next"] == expected and f"then: {expected}" in result.stderr

        remount(disk, "size=64m")
        again = cli(*row["next"].split()[1:])
        assert again.returncode == 0, again.stderr
        complete = [p for p in disk.iterdir() if status(p) == "complete"]
        assert len(complete) == 1 and temporary_files(disk) == []
        assert not (complete[0] / "checkpoint").exists()


# --- 3: Ctrl-C and SIGTERM at any moment -----------------------------------------------------

def _imports_started(runs_dir):
    time.sleep(0.4)  # inside the CLI's imports: typer, rich, then TensorFlow
    return True


def _run_exists(runs_dir):
    return runs_dir.is_dir() and only_run(runs_dir)


MOMENTS = {
    "during the imports": _imports_started,
    "SIGTERM during the imports": _imports_started,
    "while the data loads": lambda runs_dir: time.sleep(3) or True,
    "once the run exists": _run_exists,
    "after a checkpoint": checkpointed,
}


@pytest.mark.parametrize("moment", MOMENTS)
def test_ctrl_c_at_any_moment_ends_the_run_interrupted_with_exit_130(tmp_path, moment):
    runs_dir = tmp_path / "runs"
    process = start("train", *LONG, "--epochs", "6", "--runs-dir", str(runs_dir))
    try:
        wait_for(lambda: MOMENTS[moment](runs_dir), process)
    finally:
        process.send_signal(signal.SIGTERM if moment.startswith("SIGTERM") else signal.SIGINT)
        code, stderr = finish(process, timeout=120)
    assert code == (143 if moment.startswith("SIGTERM") else 130), stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr
    run = only_run(runs_dir) if runs_dir.is_dir() else None
    if moment in ("once the run exists", "after a checkpoint"):
        assert run is not None
    if run is not None:
        assert status(run) == "interrupted" and not (run / "lock").exists()
        assert temporary_files(runs_dir) == []
    if moment == "after a checkpoint":
        assert f"continue with: dlrecipes train --resume {run}" in stderr
    # One line says it: training's own (how to continue), else the CLI's bare one.
    assert stderr.count("interrupted") - stderr.count("marked interrupted") == 1, stderr


def test_sigterm_is_handled_like_ctrl_c_and_a_second_signal_also_ends_it(tmp_path):
    runs_dir = tmp_path / "term"
    process = start("train", *LONG, "--epochs", "6", "--runs-dir", str(runs_dir))
    try:
        run = wait_for(lambda: checkpointed(runs_dir), process)
    finally:
        process.send_signal(signal.SIGTERM)
        code, stderr = finish(process, timeout=120)
    assert code == 143, stderr  # 128 + SIGTERM, as a batch scheduler expects
    assert status(run) == "interrupted" and "Traceback" not in stderr

    runs_dir = tmp_path / "twice"
    process = start("train", *LONG, "--epochs", "6", "--runs-dir", str(runs_dir))
    try:
        run = wait_for(lambda: checkpointed(runs_dir), process)
    finally:
        process.send_signal(signal.SIGINT)
        time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        code, stderr = finish(process, timeout=120)
    assert code == 130, stderr  # not killed by the signal (-2)
    assert listed(runs_dir)[run.name]["status"] in ("incomplete (interrupted)", "incomplete (stopped)")


def test_a_signal_whose_exception_python_swallowed_is_not_lost():
    """Python raises KeyboardInterrupt wherever the main thread is - inside a `__del__` too,
    where it is dropped (and would print a traceback). The signal is still recorded, and
    `check` raises it; the dropped exception is not printed."""
    script = """
import os, signal, sys
from dlrecipes import interrupts
interrupts.install()

class Finalized:
    def __del__(self):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(100000):
            pass  # the handler runs in here, inside __del__, where its exception is swallowed

Finalized()
print("went on")
try:
    interrupts.check()
except KeyboardInterrupt:
    print("raised by check")
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60,
                            preexec_fn=ctrl_c_able)
    assert result.stdout.split() == ["went", "on", "raised", "by", "check"]
    assert "Exception ignored" not in result.stderr and "Traceback" not in result.stderr  # no noise either


# --- 8: NaN and infinity ---------------------------------------------------------------------

def test_a_diverging_training_stops_at_once_keeps_its_last_good_checkpoint_and_fails(tmp_path):
    # The rate grows 1e12-fold each epoch: epoch 1 trains, epoch 2's loss becomes NaN.
    result = cli("train", "mnist-dnn", "--epochs", "4", *SMALL, "--set", "train.schedule.name=exponential",
                 "--set", "train.schedule.decay_rate=1e12", "--runs-dir", str(tmp_path))
    assert result.returncode == 1, result.stderr
    assert "training diverged: loss became nan at epoch 2, by step" in result.stderr
    assert "learning rate too high" in result.stderr and "Traceback" not in result.stderr
    run = only_run(tmp_path)
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "failed" and "diverged" in info["error"]
    assert json.loads((run / "checkpoint" / "latest.json").read_text())["epochs_done"] == 1
    assert len((run / "history.csv").read_text().splitlines()) == 2  # header + the good epoch
    assert not (run / "model.keras").exists() and not (run / "metrics.json").exists()
    advised = listed(tmp_path)[run.name]["next"]
    assert "--set train.optimizer.learning_rate=0.0001" in advised
    # What evaluating or comparing it says to do is that advice, not a plain "train again".
    for command in (["evaluate", str(run)], ["runs", "compare", str(run), str(run), "--out", str(tmp_path / "c.png")]):
        result = invoke(*command)
        assert result.returncode == 2 and "is incomplete (failed)" in result.stderr, result.stderr
        assert f"fix:   run {advised}, or pick a complete run" in result.stderr
    shown = invoke("runs", "show", str(run)).stdout.splitlines()
    assert shown[shown.index("status: incomplete (failed)") + 1].startswith("error: training diverged")


# --- 5, 6 and 4: damaged and left-over files -------------------------------------------------

@pytest.fixture(scope="module")
def killed_run(tmp_path_factory) -> Path:
    """A run SIGKILLed after its first checkpoint: what a crash or the OOM killer leaves."""
    runs_dir = tmp_path_factory.mktemp("killed")
    process = start("train", *LONG, "--epochs", "3", "--runs-dir", str(runs_dir))
    try:
        run = wait_for(lambda: checkpointed(runs_dir), process)
    finally:
        process.kill()
        process.communicate()
    return run


def copy_of(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / run.name
    shutil.copytree(run, copy)
    return copy


def checkpoint_file(run: Path, key: str) -> Path:
    manifest = json.loads((run / "checkpoint" / "latest.json").read_text())
    return run / "checkpoint" / manifest[key]


def zero_4k(path: Path, offset: int = 65536) -> None:
    with open(path, "r+b") as file:
        file.seek(offset)
        file.write(bytes(4096))


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("damage, message", [
    ("zeros in the weights", "sha256 differs"),
    ("truncated state", "sha256 differs"),
    ("truncated manifest", "latest.json: not valid JSON"),
    ("missing weights", "No such file"),
    ("truncated recipe.yaml", "has a damaged recipe.yaml"),
    ("truncated run.json", "run.json: not valid JSON"),
    ("emptied signature.json", "has a damaged signature.json: its contents changed"),
    ("missing manifest", "latest.json, which names its files, is missing"),
])
def test_a_damaged_run_is_refused_by_resume_naming_the_file(killed_run, tmp_path, damage, message):
    run = copy_of(killed_run, tmp_path)
    before = (run / "run.json").read_bytes()
    {
        "zeros in the weights": lambda: zero_4k(checkpoint_file(run, "weights")),
        "truncated state": lambda: truncate(checkpoint_file(run, "state")),
        "truncated manifest": lambda: truncate(run / "checkpoint" / "latest.json"),
        "missing weights": lambda: checkpoint_file(run, "weights").unlink(),
        "truncated recipe.yaml": lambda: truncate(run / "recipe.yaml"),
        "truncated run.json": lambda: truncate(run / "run.json"),
        "emptied signature.json": lambda: (run / "signature.json").write_text(""),
        "missing manifest": lambda: (run / "checkpoint" / "latest.json").unlink(),
    }[damage]()
    damaged = (run / "run.json").read_bytes()
    files = sorted(p.name for p in (run / "checkpoint").iterdir())
    result = invoke("train", "--resume", str(run))
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.startswith("error:") and "fix:" in result.stderr
    assert (run / "run.json").read_bytes() == (damaged if damage == "truncated run.json" else before)
    assert sorted(p.name for p in (run / "checkpoint").iterdir()) == files  # nothing removed: it may be restored


@pytest.mark.parametrize("name, damage", [
    ("model.keras", truncate), ("model.keras", zero_4k), ("signature.json", truncate), ("recipe.yaml", truncate),
])
def test_a_damaged_complete_run_is_one_message_naming_the_file(trained_run, tmp_path, name, damage):
    run = copy_of(trained_run, tmp_path)
    damage(run / name)
    for command in (["evaluate", str(run)], ["export", str(run), "--out", str(tmp_path / "exports")]):
        result = invoke(*command)
        assert result.returncode == 2, result.stderr
        assert f"run '{run.name}' has a damaged {name}" in result.stderr and "fix:" in result.stderr
        # The run's own recipe.yaml keeps its overrides; by name only when that is the damaged file.
        again = "mnist-dnn" if name == "recipe.yaml" else run / "recipe.yaml"
        assert f"train again: dlrecipes train {again} --runs-dir {tmp_path}" in result.stderr
    assert not (tmp_path / "exports").exists() or not any((tmp_path / "exports").rglob("saved_model.pb"))


def test_what_a_kill_leaves_behind_is_shown_truthfully_and_cleaned_by_resume(killed_run, tmp_path):
    run = copy_of(killed_run, tmp_path)
    kept = json.loads((run / "checkpoint" / "latest.json").read_text())["epochs_done"]
    # A kill in the middle of the next checkpoint and of a run.json update, and after the
    # test metrics were written: none of it may show.
    (run / "checkpoint" / f".epoch-{kept + 1}.keras.999.tmp.keras").write_bytes(b"half")
    (run / ".checkpoint.tmp-999").mkdir()  # the layout before latest.json
    (run / ".checkpoint.tmp-999" / "weights.weights.h5").write_bytes(b"half")
    (run / ".run.json.999.tmp").write_bytes(b"")
    (run / "metrics.json").write_text(json.dumps({"test": {"accuracy": 0.99}}))
    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "epochs_done": kept + 1}))

    row = listed(tmp_path)[run.name]
    assert row["status"] == "incomplete (stopped)" and row["epochs"] == kept and row["test"] == {}
    refused = invoke("evaluate", str(run))  # what it says to do is what `runs` says: resume it
    assert refused.returncode == 2 and f"fix:   run dlrecipes train --resume {run}, or pick" in refused.stderr

    result = invoke("train", "--resume", str(run))
    assert result.returncode == 0, result.stderr
    assert status(run) == "complete" and temporary_files(run) == []
    assert sorted(p.name for p in run.iterdir()) == [
        "curves.png", "env.json", "history.csv", "metrics.json", "model.keras", "recipe.yaml", "run.json",
        "signature.json", "tensorboard"]


def test_a_run_without_its_recipe_suggests_the_recipe_by_name(killed_run, tmp_path):
    run = copy_of(killed_run, tmp_path)
    shutil.rmtree(run / "checkpoint")
    (run / "recipe.yaml").unlink()
    assert listed(tmp_path)[run.name]["next"] == f"dlrecipes train mnist-dnn --runs-dir {tmp_path}"


def test_a_run_being_set_up_is_not_listed(tmp_path):
    staging = tmp_path / ".mnist-dnn-20260101T000000Z.1.abcd.staging"
    staging.mkdir()
    (staging / "run.json").write_text('{"recipe": "mnist-dnn", "status": "running"}')
    assert listed(tmp_path) == {}


# --- 7: places that cannot be written, found before any work ---------------------------------

def test_a_read_only_runs_folder_or_run_is_refused_before_data_loads(killed_run, tmp_path):
    with tmpfs(tmp_path / "ro", "4m") as place:
        run = copy_of(killed_run, place)
        remount(place, "ro")
        started = time.monotonic()
        result = invoke("train", "--resume", str(run))
        assert result.returncode == 2 and str(run) in result.stderr, result.stderr
        fresh = invoke("train", "mnist-dnn", "--runs-dir", str(place / "new"))
        assert fresh.returncode == 2 and str(place) in fresh.stderr, fresh.stderr
        assert time.monotonic() - started < 5  # no data was loaded
        assert sorted(p.name for p in place.iterdir()) == [run.name]


def test_a_run_last_trained_on_another_machine_is_not_taken_over_blindly(killed_run, tmp_path):
    run = copy_of(killed_run, tmp_path)
    (run / "lock").write_text(json.dumps({"pid": 1, "host": "elsewhere", "since": "2026-12-01T00:00:00Z"}))
    assert listed(tmp_path)[run.name]["status"] == "incomplete (running)"  # cannot be checked from here
    result = invoke("train", "--resume", str(run))
    assert result.returncode == 75 and "process 1 on elsewhere, another machine" in result.stderr
    assert f"remove {run / 'lock'}" in result.stderr
    (run / "lock").unlink()
    assert listed(tmp_path)[run.name]["status"] == "incomplete (stopped)"
