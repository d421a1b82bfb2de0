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
    rate 0.01); a fourth, `ended`, in a folder of its own (its patience runs out on its last
    epoch, 2 of 2); and the console output of each one's training."""
    runs_dir = tmp_path_factory.mktemp("compared")
    plain = Path(shutil.copytree(trained_run, runs_dir / trained_run.name))
    trained = {"plain": plain}
    outputs = {}
    for name, flags in (("stopped", ["--epochs", "4", "--set", STOP]),
                        ("fast", ["--epochs", "1", "--set", "train.optimizer.learning_rate=0.01"]),
                        ("ended", ["--epochs", "2", "--set", STOP])):
        folder = runs_dir if name != "ended" else tmp_path_factory.mktemp("ended")
        before = set(folder.iterdir())
        result = invoke("train", "mnist-dnn", *SMALL, *flags, "--runs-dir", str(folder))
        assert result.returncode == 0, result.stderr
        (trained[name],) = set(folder.iterdir()) - before
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


def test_early_stopping_whose_patience_ran_out_on_the_last_epoch_stopped_nothing(three):
    run = three["ended"]
    stop = read(run, "run.json")["early_stopping"]
    assert stop["stopped_epoch"] is None and stop["best_epoch"] == 1 and stop["restored"] is True
    assert stop["last_epoch"] == 2 and read(run, "metrics.json")["weights_epoch"] == 1
    assert ("early stopping: ran to the last epoch (2); the weights of epoch 1 restored "
            f"(its val_loss {stop['best']:.4g} was the best by min_delta 10)") in three["stderr"]["ended"]
    assert "stopped after" not in three["stderr"]["ended"]
    table = invoke("runs", "--runs-dir", str(run.parent)).stdout
    assert "stopped" not in table.splitlines()[1]  # no run was stopped: no such column


def inside(box, figure) -> bool:
    return box.x0 >= figure.x0 and box.x1 <= figure.x1 and box.y0 >= figure.y0 and box.y1 <= figure.y1


def test_curves_png_of_one_and_several_epochs(three):
    from dlrecipes import plots, runs
    from dlrecipes.train.early_stopping import describe

    for run in (three["fast"], three["stopped"]):  # 1 epoch: points on a range from zero
        assert_png(run / "curves.png")
    # The learning rate each epoch started with: a 1-epoch cosine run's is the recipe's,
    # not the 0 the schedule ends on.
    assert history(three["fast"])[0]["learning_rate"] == pytest.approx(0.01)
    rates = [row["learning_rate"] for row in history(three["stopped"])]
    assert rates[0] == pytest.approx(0.001) and rates[1] < rates[0]
    fig = plots.curves_figure(runs.read_history(three["fast"]), ("loss", "accuracy"), "fast", monitor="val_accuracy")
    fig.canvas.draw()
    rate = fig.axes[-1]
    assert rate.get_ylim()[0] == 0 and rate.get_ylim()[1] > 0.01
    assert [text.get_text() for text in rate.texts] == ["0.01"]

    # A resumed run's early-stopping line is the longest: wrapped, not cut at the edges; the
    # best epoch's value is in the legend, not written over the curves.
    run = three["stopped"]
    stop = {**read(run, "run.json")["early_stopping"], "watched_from_epoch": 2}
    fig = plots.curves_figure(runs.read_history(run), ("loss", "accuracy"), "mnist-dnn", monitor="val_loss",
                              best_epoch=stop["best_epoch"], note=describe(stop))
    fig.canvas.draw()
    title = fig.texts[0].get_text()
    assert "watched only since epoch 2" in title.replace("\n", " ") and len(describe(stop)) > 150
    assert len(title.splitlines()) >= 3 and inside(fig.texts[0].get_window_extent(), fig.bbox), title
    loss = fig.axes[0]
    assert len(loss.texts) == 0
    assert f"best: epoch 1, val_loss {stop['best']:.4g}" in [t.get_text() for t in loss.get_legend().get_texts()]
    plots.save_figure(fig, Path(run.parent / "resumed.png"))
    assert_png(run.parent / "resumed.png")


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


def test_compare_plot_of_five_runs_fits_its_legend_and_shows_every_rate(three, tmp_path):
    from dlrecipes import compare

    # A fifth run under a long name whose history.csv, as written before the rate at each
    # epoch's start was recorded, ends on the cosine schedule's 0.
    old = Path(shutil.copytree(three["plain"], tmp_path / f"an-older-copy-of-the-plain-run-{three['plain'].name}"))
    text = (old / "history.csv").read_text().splitlines()
    header, last = text[0].split(","), text[-1].split(",")
    last[header.index("learning_rate")] = "0.0"
    (old / "history.csv").write_text("\n".join([*text[:-1], ",".join(last)]) + "\n")
    paths = [three["plain"], three["stopped"], three["fast"], three["ended"], old]
    result = invoke("runs", "compare", *map(str, paths), "--out", str(tmp_path / "five.png"))
    assert result.returncode == 0, result.stderr
    assert_png(tmp_path / "five.png")

    columns = [compare.read_column(path) for path in paths]
    differences = compare.differing([column.recipe.model_dump(mode="json") for column in columns])
    labels = compare.legend_labels(columns, differences)
    fig = compare.comparison_figure(columns, labels)
    fig.canvas.draw()
    (legend,) = fig.legends
    assert inside(legend.get_window_extent(), fig.bbox)
    shown = [text.get_text() for text in legend.get_texts()]
    assert shown[:5] == labels and "None" not in " ".join(shown)
    assert all(path.name.split("-")[-1] in label for path, label in zip(paths, labels))  # the timestamps
    # The table's rendering, for every run: null where early stopping is off.
    for label, column in zip(labels, columns):
        expected = "early_stopping=null" if column.recipe.train.early_stopping is None else "early_stopping={monitor: val_loss"
        assert expected in label.replace("\n", " "), label
    # The learning-rate panel: rates 0.01 to 0.00015 on a log scale, and every epoch of every
    # run on it, the 0 as a mark on the floor (said in the axis label).
    rate = fig.axes[-1]
    assert rate.get_yscale() == "log" and rate.get_ylabel() == "learning rate (▼: 0)"
    for index, column in enumerate(columns):
        drawn = [x for line in rate.get_lines() if line.get_color() == f"C{index}"
                 for x, y in zip(line.get_xdata(), line.get_ydata()) if y is not None and np.isfinite(y)]
        assert sorted(drawn) == [row["epoch"] for row in column.history], (index, drawn)


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


def test_every_file_that_cannot_be_used_is_named_once_with_exit_2(three, tmp_path):
    damage = {
        "no-metrics": lambda run: (run / "metrics.json").unlink(),
        "bad-metrics": lambda run: (run / "metrics.json").write_text("{\n"),
        "no-history": lambda run: (run / "history.csv").unlink(),
        "bad-history": lambda run: (run / "history.csv").write_text("epoch,loss\nx,1\n"),
        "edited-signature": lambda run: (run / "signature.json").write_text((run / "signature.json").read_text() + " "),
        "bad-run-json": lambda run: (run / "run.json").write_text("{"),
    }
    expected = {
        "no-metrics": "metrics.json: it is missing", "bad-metrics": "metrics.json: not valid JSON",
        "no-history": "history.csv: it is missing", "bad-history": "history.csv: line 2 is not an epoch's numbers",
        "edited-signature": "signature.json: its contents changed since it was written (sha256 differs)",
        "bad-run-json": "run.json: not valid JSON",
    }
    folder = tmp_path / "damaged"
    for name, spoil in damage.items():
        spoil(Path(shutil.copytree(three["plain"], folder / name)))
    listed = invoke("runs", "--runs-dir", str(folder), "--json")
    assert listed.returncode == 2
    rows = {row["run"]: row for row in json.loads(listed.stdout)}
    for name in ("no-metrics", "bad-metrics", "no-history", "bad-history", "bad-run-json"):
        assert rows[name]["status"] == "unreadable" and rows[name]["error"].startswith(expected[name]), rows[name]
    assert rows["edited-signature"]["status"] == "complete"  # listing reads no signature; show and evaluate do

    for name in damage:
        run = folder / name
        shown = invoke("runs", "show", str(run), "--json")
        assert shown.returncode == 2, (name, shown.stderr)
        problems = json.loads(shown.stdout)["problems"]
        assert len(problems) == 1 and problems[0].startswith(expected[name]), (name, problems)
        assert shown.stderr.count(expected[name]) == 1, shown.stderr
        assert json.loads(shown.stdout)["recipe"]["name"] == "mnist-dnn"  # the rest still shown
        text = invoke("runs", "show", str(run))
        assert text.returncode == 2 and f"{run.name} ({run})" in text.stdout and "files" in text.stdout
    assert json.loads(invoke("runs", "show", str(folder / "bad-run-json"), "--json").stdout)["status"] == "unreadable"
    # What to do instead is the run's own recipe.yaml, which keeps every override.
    for name, command in (("no-history", ["runs", "compare", str(folder / "no-history"), str(three["plain"])]),
                          ("edited-signature", ["evaluate", str(folder / "edited-signature")])):
        refused(invoke(*command), f"train again: dlrecipes train {folder / name / 'recipe.yaml'} --runs-dir {folder}")


def test_runs_show_says_why_a_run_failed_and_writes_small_numbers_whole(three, tmp_path):
    from dlrecipes import cli

    run = Path(shutil.copytree(three["plain"], tmp_path / "failed"))
    meta = read(run, "run.json")
    (run / "run.json").write_text(json.dumps({**meta, "status": "failed", "error": "no space left on device"}))
    lines = invoke("runs", "show", str(run)).stdout.splitlines()
    status = lines.index("status: incomplete (failed)")
    assert lines[status + 1] == "error: no space left on device"
    assert json.loads(invoke("runs", "show", str(run), "--json").stdout)["error"] == "no space left on device"
    assert [cli._metric_number(v) for v in (0.0, 2.5e-05, 0.001, 0.91234)] == ["0", "2.5e-05", "0.0010", "0.9123"]


def test_runs_show_and_compare_never_import_tensorflow(three, tmp_path):
    plain, stopped = str(three["plain"]), str(three["stopped"])
    assert_no_tensorflow(["runs", "compare", plain, stopped, "--out", str(tmp_path / "c.png")])
    assert (tmp_path / "c.png").stat().st_size > 0
    assert_no_tensorflow(["runs", "show", stopped])
    assert_no_tensorflow(["runs", "--runs-dir", str(three["dir"])])
