"""Shared set-up: the offline MNIST data, a private cache, and no network, ever."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_TFDS = REPO.parent / "shared" / "datasets" / "tfds"
SHARED_RAW = REPO.parent / "shared" / "datasets" / "raw"

# Tests must never download: a dataset that is not on disk fails at once instead.
os.environ["DLRECIPES_OFFLINE"] = "1"
os.environ.setdefault("TFDS_DATA_DIR", str(SHARED_TFDS))
os.environ.setdefault("DLRECIPES_DATA_DIR", str(SHARED_RAW))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

if not (Path(os.environ["TFDS_DATA_DIR"]) / "mnist").is_dir():
    raise RuntimeError(
        f"the tests need the prepared MNIST data; not found under {os.environ['TFDS_DATA_DIR']}. "
        "Set TFDS_DATA_DIR to ../shared/datasets/tfds (see README)."
    )

# Small slices keep every training in the suite to a few seconds.
SMALL = [
    "--set", "data.splits.train=train[:4096]",
    "--set", "data.splits.validation=train[4096:5120]",
    "--set", "data.splits.test=test[:2000]",
]


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))


def ctrl_c_able():
    """Popen's preexec_fn: SIGINT back to its default, as in a terminal. A suite started in
    the background by a shell without job control inherits SIGINT ignored, and Python then
    never turns it into KeyboardInterrupt - the Ctrl-C tests would test nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: int = 300):
    """Run `dlrecipes ARGS` in a fresh process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "dlrecipes", *args],
        cwd=cwd or REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def invoke(*args: str):
    """Run `dlrecipes ARGS` inside this process: the same Typer app, parsing, messages and
    exit codes as `cli`, without a fresh interpreter importing TensorFlow (seconds each).

    For commands that leave no process-wide state behind. `cli` stays for what needs a
    process of its own: Ctrl-C, --deterministic (op determinism cannot be turned off),
    the runtime flags, start-up time, and loading an export the way a server would.
    """
    from typer.testing import CliRunner

    from dlrecipes.cli import app

    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # the command's own handler let it through: a bug to see whole
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def train_run(tmp_path_factory, *args: str) -> Path:
    """`dlrecipes train ARGS` into a runs folder of its own; the one run it made."""
    runs_dir = tmp_path_factory.mktemp("runs")
    result = invoke("train", *args, "--runs-dir", str(runs_dir))
    assert result.returncode == 0, result.stderr
    (run,) = list(runs_dir.iterdir())
    return run


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """One small, real mnist-dnn training shared by the tests that need a finished run."""
    return train_run(tmp_path_factory, "mnist-dnn", "--epochs", "2", *SMALL)


def recipes_with_data() -> list[str]:
    """The built-in recipes whose data is on this machine (cifar10, imdb_reviews and your own
    image folders are not)."""
    from dlrecipes.data import source_of
    from dlrecipes.loader import all_recipes, load_recipe

    return sorted(name for name in all_recipes() if source_of(load_recipe(name).recipe).is_local())


# How the zoo trains every recipe cheaply: one epoch, tfds splits cut to a few batches (text
# and table sources are small already). The export parity test takes 100 test images: a
# recipe of a few classes (data.classes) keeps about 2 in 10 of them, so it reads more.
def zoo_small(recipe) -> list[str]:
    if recipe.data.source != "tfds":
        return []
    test = "test[:1024]" if recipe.data.classes else "test[:128]"
    return ["--set", "data.splits.train=train[:256]", "--set", "data.splits.validation=null",
            "--set", f"data.splits.test={test}"]


@pytest.fixture(scope="session")
def zoo_run(tmp_path_factory):
    """`zoo_run(name)`: a 1-epoch run of the recipe, trained once per session and shared by the
    tests that need one of every recipe (test_zoo trains them, test_export_parity exports them)."""
    from dlrecipes.loader import load_recipe

    made: dict[str, Path] = {}

    def train(name: str) -> Path:
        if name in made:
            return made[name]
        recipe = load_recipe(name).recipe
        small = zoo_small(recipe)
        runs_dir = tmp_path_factory.mktemp(f"zoo-{name}")
        if recipe.model.init_from:  # transfer learning starts from a run of another recipe
            source = invoke("train", recipe.model.init_from, "--epochs", "1", *small, "--runs-dir", str(runs_dir))
            assert source.returncode == 0, source.stderr
        result = invoke("train", name, "--epochs", "1", *small, "--runs-dir", str(runs_dir))
        assert result.returncode == 0, result.stderr
        (run,) = list(runs_dir.glob(f"{name}-*"))
        made[name] = run
        return run

    return train
