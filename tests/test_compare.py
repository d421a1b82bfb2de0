"""Seeing and comparing runs: `runs` columns, `runs show`, `runs compare`, early stopping's
record, and curves.png - all on real, tiny trainings."""

import hashlib
import io
import json
import shutil
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from conftest import SMALL, invoke
from test_cli import assert_no_tensorflow

STOP = "train.early_stopping={monitor: val_loss, patience: 0, min_delta: 10.0}"  # nothing improves by 10


@pytest.fixture(scope="module")
def three(trained_run, tmp_path_factory) -> dict:
    """Three mnist-dnn runs in one runs folder: `plain` (the shared 2-epoch run, copied),
    `stopped` (early stopping ends it after epoch 2 of 4) and `fast` (1 epoch, learning
    rate 0.01); and the console output of the stopped one's training."""
    runs_dir = tmp_path_factory.mktemp("compared")
    plain = Path(shutil.copytree(trained_run, runs_dir / trained_run.name))
    trained = {"plain": plain}
    outputs = {}
    for name, flags in (("stopped", ["--epochs", "4", "--set", STOP]),
                        ("fast", ["--epochs", "1", "--set", "train.optimizer.learning_rate=0.01"])):
        before = set(runs_dir.iterdir())
        result = invoke("train", "mnist-dnn", *SMALL, *flags, "--runs-dir", str(runs_dir))
        assert result.returncode == 0, result.stderr
        (trained[name],) = set(runs_dir.iterdir()) - before
        outputs[name] = result.stderr
    return {"dir": runs_dir, **trained, "stderr": outputs}


def read(run: Path, name: str) -> dict:
    return json.loads((run / name).read_text())


def history(run: Path) -> list[dict]:
    import csv

    with open(run / "history.csv") as file:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(file)]


def assert_png(path: Path) -> None:
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 200 and image.shape[1] > 400, image.shape
    assert float(np.std(image)) > 0.05  # drawn, not a blank canvas


def test_early_stopping_is_said_and_recorded(three):
    run = three["stopped"]
    stop = read(run, "run.json")["early_stopping"]
    assert stop == {"monitor": "val_loss", "patience": 0, "min_delta": 10.0, "stopped_epoch": 2, "best_epoch": 1,
                    "best": pytest.approx(history(run)[0]["val_loss"]), "restored": True,
                    "watched_from_epoch": 1, "last_epoch": 2}
    assert ("early stopping: stopped after epoch 2: val_loss had not improved by 10 on epoch 1's "
            f"{stop['best']:.4g} for 1 epoch; the weights of epoch 1 restored") in three["stderr"]["stopped"]
    metrics = read(run, "metrics.json")
    # The saved model holds epoch 1's weights: its recorded validation numbers are epoch 1's.
    assert metrics["epochs"] == 2 and metrics["weights_epoch"] == 1
    assert metrics["validation"]["loss"] == pytest.approx(history(run)[0]["val_loss"])
    assert "early stopping" not in three["stderr"]["fast"]
    assert "early_stopping" not in read(three["fast"], "run.json")
    assert read(three["fast"], "metrics.json")["weights_epoch"] == 1


def test_curves_png_of_one_and_several_epochs(three):
    for run in (three["fast"], three["stopped"]):  # 1 epoch: points on a range from zero
        assert_png(run / "curves.png")


def test_compare_lists_exactly_the_keys_that_differ(three, tmp_path):
    png = tmp_path / "three.png"
    runs = [three["plain"], three["stopped"], three["fast"]]
    result = invoke("runs", "compare", *map(str, runs), "--out", str(png), "--json")
    assert result.returncode == 0, result.stderr
    compared = json.loads(result.stdout)
    assert compared["differing_keys"] == ["train.epochs", "train.optimizer.learning_rate", "train.early_stopping"]
    entries = compared["runs"]
    assert [entry["run"] for entry in entries] == [run.name for run in runs]
    assert [entry["differs"]["train.epochs"] for entry in entries] == [2, 4, 1]
    assert [entry["differs"]["train.optimizer.learning_rate"] for entry in entries] == [0.001, 0.001, 0.01]
    assert entries[1]["differs"]["train.early_stopping"]["min_delta"] == 10.0
    assert entries[0]["differs"]["train.early_stopping"] is None
    for entry, run in zip(entries, runs):
        metrics, meta = read(run, "metrics.json"), read(run, "run.json")
        assert entry["validation"] == metrics["validation"] and entry["test"] == metrics["test"]
        assert entry["weights_epoch"] == metrics["weights_epoch"]
        assert entry["epochs"] == metrics["epochs"] == len(history(run))
        assert entry["params"] == 235_146 and entry["train_seconds"] == meta["train_seconds"]
        assert entry["early_stopping"] == meta.get("early_stopping")
    assert compared["plot"] == str(png)
    assert_png(png)

    table = invoke("runs", "compare", "mnist-dnn", three["plain"].name, "--runs-dir", str(three["dir"]),
                   "--out", str(tmp_path / "two.png"))
    assert table.returncode == 0, table.stderr
    stamps = table.stdout.splitlines()[1]  # the headers: 'mnist-dnn-' over each run's timestamp
    fast, plain = (three[key].name.removeprefix("mnist-dnn-") for key in ("fast", "plain"))
    assert stamps.index(fast) < stamps.index(plain)  # mnist-dnn: its latest run
    assert "train.optimizer.learning_rate" in table.stdout and "train.early_stopping" not in table.stdout
    assert "train.batch_size" not in table.stdout and "235,146" in table.stdout
    assert max(map(len, table.stdout.splitlines())) <= 100  # two runs: the width of a terminal
    assert f"curves: {tmp_path / 'two.png'}" in table.stdout


def refused(result, *expected: str) -> None:
    """One clear bad-input message (exit 2, no traceback) containing each of `expected`."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr


def test_compare_refuses_what_it_cannot_compare(three, tmp_path):
    folder = ["--runs-dir", str(three["dir"]), "--out", str(tmp_path / "c.png")]
    refused(invoke("runs", "compare", "mnist-dnn", *folder), "comparing needs at least two runs; 1 given")
    refused(invoke("runs", "compare", "mnist-dnn", three["fast"].name, *folder), "is given twice")
    refused(invoke("runs", "compare", "mnist-dnn", "nope", *folder), "no run 'nope'")
    # A regression run logs mae, not accuracy: its curves share no axis with a classifier's.
    other = Path(shutil.copytree(three["plain"], tmp_path / "as-regression"))
    recipe = (other / "recipe.yaml").read_text().replace("type: multiclass", "type: regression")
    recipe = recipe.replace("metric: accuracy", "metric: mae")
    (other / "recipe.yaml").write_text(recipe)
    meta = read(other, "run.json")
    meta["sha256"]["recipe.yaml"] = hashlib.sha256(recipe.encode()).hexdigest()
    (other / "run.json").write_text(json.dumps(meta))
    refused(invoke("runs", "compare", str(three["plain"]), str(other), *folder[2:]),
            "(multiclass: loss, accuracy)", "(regression: loss, mae)", "cannot be overlaid")
    assert not (tmp_path / "c.png").exists()


def test_runs_lists_validation_time_and_early_stopping(three):
    import rich.console

    from dlrecipes import cli, runs

    listed = json.loads(invoke("runs", "--runs-dir", str(three["dir"]), "--json").stdout)
    rows = {row["run"]: row for row in listed}
    for key in ("plain", "stopped", "fast"):
        row, run = rows[three[key].name], three[key]
        assert row["validation"] == read(run, "metrics.json")["validation"]
        assert row["train_seconds"] == read(run, "run.json")["train_seconds"]
        assert row["early_stopping"] == read(run, "run.json").get("early_stopping")
    assert rows[three["plain"].name]["monitor"] == "val_accuracy"
    assert rows[three["stopped"].name]["monitor"] == "val_loss"  # what its early stopping watched

    table = invoke("runs", "--runs-dir", str(three["dir"])).stdout
    line = next(line for line in table.splitlines() if three["stopped"].name in line)
    assert "2 (best 1)" in line and f"loss {read(three['stopped'], 'metrics.json')['validation']['loss']:.4f}" in line
    narrow = rich.console.Console(width=100, record=True, file=io.StringIO())
    narrow.print(cli._runs_table([runs.summary(three[key]) for key in ("plain", "stopped", "fast")], three["dir"]))
    shown = narrow.export_text()
    assert max(len(line) for line in shown.splitlines()) <= 100 and "…" not in shown, shown
    assert all(three[key].name in shown for key in ("plain", "stopped", "fast"))


def test_runs_show_has_everything_about_a_run(three, tmp_path):
    run = three["stopped"]
    result = invoke("runs", "show", run.name, "--runs-dir", str(three["dir"]), "--json")
    assert result.returncode == 0, result.stderr
    shown, meta = json.loads(result.stdout), read(run, "run.json")
    assert shown["status"] == "complete" and shown["problems"] == []
    assert shown["recipe"]["train"]["early_stopping"]["min_delta"] == 10.0
    assert shown["runtime"] == meta["runtime"] and shown["environment"] == read(run, "env.json")
    assert shown["metrics"] == read(run, "metrics.json") and shown["early_stopping"] == meta["early_stopping"]
    assert shown["params"] == 235_146 and shown["timings"]["train_seconds"] == meta["train_seconds"]
    assert shown["epochs"] == {"planned": 4, "done": 2, "resumed_from": None}
    files = {entry["name"]: entry for entry in shown["files"]}
    assert files["model.keras"]["bytes"] == (run / "model.keras").stat().st_size
    assert files["model.keras"]["sha256"] == "ok" and files["history.csv"]["sha256"] is None
    assert {"curves.png", "history.csv", "metrics.json", "recipe.yaml", "run.json"} <= set(files)

    table = invoke("runs", "show", str(run))
    assert table.returncode == 0, table.stderr
    assert "stopped after epoch 2" in table.stdout and "epochs: 2 of 4" in table.stdout
    assert "min_delta: 10.0" in table.stdout and "parameters: 235,146" in table.stdout

    # A damaged file is named, the rest still shown, exit 2.
    broken = Path(shutil.copytree(run, tmp_path / "broken"))
    (broken / "env.json").write_text("{")
    damaged = invoke("runs", "show", str(broken), "--json")
    assert damaged.returncode == 2 and "env.json: not valid JSON" in damaged.stderr
    shown = json.loads(damaged.stdout)
    assert shown["environment"] is None and shown["metrics"] == read(run, "metrics.json")
    assert {entry["name"]: entry["sha256"] for entry in shown["files"]}["env.json"] == "differs"


def test_runs_show_and_compare_never_import_tensorflow(three, tmp_path):
    plain, stopped = str(three["plain"]), str(three["stopped"])
    assert_no_tensorflow(["runs", "compare", plain, stopped, "--out", str(tmp_path / "c.png")])
    assert (tmp_path / "c.png").stat().st_size > 0
    assert_no_tensorflow(["runs", "show", stopped])
    assert_no_tensorflow(["runs", "--runs-dir", str(three["dir"])])
