"""Output that reads well without a terminal: whole lines in a log, no TensorFlow start-up
noise (unless --verbose), real errors still shown, and the labelled grid of `data inspect`."""

import csv
import json
import subprocess
import sys
import textwrap

import pytest

from conftest import REPO, SMALL, cli, invoke
from dlrecipes import tf_quiet

LONG_FOLDER = "a-runs-folder-whose-name-alone-pushes-every-line-that-shows-it-past-eighty-columns"


def noise_lines(text: str) -> list[str]:
    lines, previous = [], False
    for line in text.splitlines():
        previous = tf_quiet.is_noise(line, previous)
        if previous:
            lines.append(line)
    return lines


@pytest.fixture(scope="module")
def piped_training(tmp_path_factory):
    """One real training, its stdout and stderr piped (not a terminal), as in a CI log."""
    runs_dir = tmp_path_factory.mktemp("output") / LONG_FOLDER
    result = cli("train", "mnist-dnn", *SMALL, "--epochs", "2", "--runs-dir", str(runs_dir))
    assert result.returncode == 0, result.stderr
    (run,) = list(runs_dir.iterdir())
    return result, run


def test_a_piped_training_prints_whole_lines_and_no_tensorflow_noise(piped_training):
    result, run = piped_training
    assert noise_lines(result.stderr) == [], result.stderr
    assert "absl" not in result.stderr and "cuda" not in result.stderr.lower()
    lines = result.stderr.splitlines()
    # The title, the path in it whole: neither wrapped nor cut at 80 columns.
    assert f"mnist-dnn: MLP (Dense 256-128, ReLU) on MNIST digits -> {run}" in lines, result.stderr
    assert f"done {run}" in result.stdout.splitlines()
    # One line per epoch, as it ends, with every metric the history records.
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["1/2", "2/2"], result.stderr
    with open(run / "history.csv") as file:
        history = list(csv.DictReader(file))
    for line, row in zip(epochs, history):
        words = line.split()
        # SMALL's 4096 examples in mnist-dnn's batches of 128, though Keras reports 128
        # steps per call (steps_per_execution) and one call per epoch.
        assert words[2:4] == ["32", "steps"] and words[4].endswith("s")
        shown = dict(zip(words[5::2], words[6::2]))
        assert set(shown) == {"accuracy", "loss", "val_accuracy", "val_loss"}, line
        for key, value in shown.items():
            assert float(value) == pytest.approx(float(row[key]), abs=1e-4)


FAKE_TENSORFLOW = """
import os, sys
os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n")
os.write(2, b"I0000 00:00:1796137532.747948    4576 port.cc:153] oneDNN custom operations are on. You may see\\n")
os.write(2, b"E0000 00:00:1796137532.748000    4576 loader.cc:12] a real native error\\n")
os.write(2, b"I0000 00:00:1796137532.748657    4576 cudart_stub.cc:31] Could not find cuda drivers on your machine\\n")
print("a Python warning while loading", file=sys.stderr)
print("TF_CPP_MIN_LOG_LEVEL", os.environ.get("TF_CPP_MIN_LOG_LEVEL"), file=sys.stderr)
if os.environ.get("FAKE_TF_FAILS"):
    raise ImportError("libtensorflow_framework.so.2: cannot open shared object file")
"""


@pytest.fixture
def fake_tensorflow(tmp_path):
    """A `tensorflow` that writes TensorFlow's notes and a real error to descriptor 2, as
    the C++ libraries do, in seconds instead of a real import."""
    package = tmp_path / "fake" / "tensorflow"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(FAKE_TENSORFLOW)
    return {"PYTHONPATH": f"{package.parent}:{REPO}"}


def run_python(code: str, env: dict):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def user_env(**extra) -> dict:
    """The environment of a user who never set TF_CPP_MIN_LOG_LEVEL (the suite sets it)."""
    import os

    return {**{k: v for k, v in os.environ.items() if k != tf_quiet.LEVEL_VARIABLE}, **extra}


def test_the_first_import_passes_on_everything_but_the_notes(fake_tensorflow):
    result = run_python("""
        import importlib.util, sys
        from dlrecipes import tf_quiet
        tf_quiet.install()
        assert importlib.util.find_spec("tensorflow") is not None  # a look, as tensorflow_datasets takes
        import tensorflow
        assert tensorflow.__loader__.__class__.__name__ == "SourceFileLoader"
        print("after the import", file=sys.stderr)
    """, user_env(**fake_tensorflow))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "E0000 00:00:1796137532.748000    4576 loader.cc:12] a real native error",
        "a Python warning while loading",
        "TF_CPP_MIN_LOG_LEVEL 3",  # for what TensorFlow logs later
        "after the import",
    ]


def test_an_import_that_fails_shows_its_errors_through_the_cli(fake_tensorflow, tmp_path):
    train = [sys.executable, "-m", "dlrecipes", "train", "mnist-dnn", *SMALL, "--runs-dir", str(tmp_path / "runs")]
    env = user_env(**fake_tensorflow, FAKE_TF_FAILS="1")
    result = subprocess.run(train, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert noise_lines(result.stderr) == [], result.stderr
    assert "loader.cc:12] a real native error" in result.stderr
    assert "a Python warning while loading" in result.stderr
    assert "failed: ImportError: libtensorflow_framework.so.2: cannot open shared object file" in result.stderr

    # --verbose: everything TensorFlow writes, at its own log level.
    verbose = subprocess.run([*train[:3], "--verbose", *train[3:]], cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=60)
    assert verbose.returncode == 1, verbose.stderr
    assert len(noise_lines(verbose.stderr)) == 3 and tf_quiet.PREAMBLE in verbose.stderr
    assert "TF_CPP_MIN_LOG_LEVEL None" in verbose.stderr and "a real native error" in verbose.stderr


@pytest.mark.parametrize("args", [["runs"], ["--verbose", "runs"], ["--help"]])
def test_the_cli_entry_point_still_leaves_tensorflow_alone(args, tmp_path):
    result = run_python(f"""
        import sys
        sys.argv = ["dlrecipes", *{args!r}]
        from dlrecipes.cli import main
        try:
            main()
        except SystemExit:
            pass
        print("IMPORTED:", "tensorflow" in sys.modules)
    """, user_env(DLRECIPES_RUNS_DIR=str(tmp_path)))
    assert result.stdout.splitlines()[-1] == "IMPORTED: False", result.stdout + result.stderr


TINY = ["--set", "data.splits.train=train[:64]", "--set", "data.splits.validation=null",
        "--set", "data.splits.test=test[:16]"]


def test_the_inspect_grid_shows_the_examples_asked_for_under_their_class_names(tmp_path):
    import matplotlib.image

    sizes = {}
    for n in (4, 16):
        grid = tmp_path / f"grid-{n}.png"
        result = invoke("data", "inspect", "fashion-mnist-cnn", *TINY, "--examples", str(n), "--grid", str(grid),
                        "--json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        labels = report["grid_labels"]
        assert labels == [example["label"] for example in report["examples"]] and len(labels) == n
        assert set(labels) <= set(report["classes"]) and "Trouser" in report["classes"]
        pixels = matplotlib.image.imread(grid)
        assert pixels.std() > 0.1  # images, not a blank page
        sizes[n] = pixels.shape[:2]
    assert sizes[16][0] > sizes[4][0] and sizes[16][1] > sizes[4][1]  # 4 x 4 panels, not 2 x 2


def test_inspect_without_json_prints_the_inputs_and_examples_as_tables_not_json(tmp_path):
    import re

    args = ["data", "inspect", "fashion-mnist-cnn", *TINY, "--examples", "12"]
    report = json.loads(invoke(*args, "--json").stdout)
    result = invoke(*args, "--grid", str(tmp_path / "g.png"))
    assert result.returncode == 0, result.stderr
    assert "{" not in result.stdout and '"label"' not in result.stdout, result.stdout
    rows = re.findall(r"^\s*(\d+)\s+28x28x1 image\s+(\S.*?)\s*$", result.stdout, re.M)
    assert rows == [(str(k), e["label"]) for k, e in enumerate(report["examples"], start=1)] and len(rows) == 12
    values = report["splits"]["train"]["inputs"]["values"]
    assert re.search(rf"^values\s+mean {values['mean']:.4g}, std {values['std']:.4g}, range 0..255\s*$",
                     result.stdout, re.M), result.stdout
    assert result.stdout.rstrip().endswith(f"grid of 12 training images, labelled: {tmp_path / 'g.png'}")

    # A table: a line per column, each example's values as the CSV has them (not float32's digits).
    table = invoke("data", "inspect", "pima-diabetes-dnn")
    assert table.returncode == 0 and "{" not in table.stdout
    first = json.loads(invoke("data", "inspect", "pima-diabetes-dnn", "--json").stdout)["examples"][0]
    assert first["row"]["bmi"] != 26.6  # 26.600000381469727
    assert re.search(r"^\s*1\s+pregnancies 1, glucose 85, .*bmi 26\.6, diabetes_pedigree 0\.351, age 31\s+0\s*$",
                     table.stdout, re.M), table.stdout
    assert re.search(r"^glucose\s+mean [\d.]+, std [\d.]+, range 0\.\.\d+\s*$", table.stdout, re.M)


def test_the_grid_figure_titles_each_image(tmp_path):
    import io

    import matplotlib.image
    import numpy as np

    from dlrecipes.inspect import grid_figure

    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28, 1), dtype=np.uint8)
    labels = ["Pullover", "Ankle boot", "Bag", "a class name too long for a panel", "7"]
    figure = grid_figure(images, labels)
    assert [ax.get_title() for ax in figure.axes[:5]] == labels

    def drawn(titles):
        buffer = io.BytesIO()
        grid_figure(images, titles).savefig(buffer, format="png")
        buffer.seek(0)
        return matplotlib.image.imread(buffer)

    assert not np.array_equal(drawn(labels), drawn([""] * 5))


def test_a_grid_of_what_is_not_images_is_refused_before_loading(tmp_path):
    result = invoke("data", "inspect", "boston-housing-dnn", "--grid", str(tmp_path / "g.png"))
    assert result.returncode == 2
    assert "--grid draws images" in result.stderr and "(23,)" in result.stderr
    result = invoke("data", "inspect", "mnist-dnn", "--examples", "0", "--grid", str(tmp_path / "g.png"))
    assert result.returncode == 2 and "would draw nothing" in result.stderr
    assert not (tmp_path / "g.png").exists()
