"""`dlrecipes tune`: real Optuna studies in journal files, real trainings (boston-housing-dnn,
a few epochs: seconds a trial), real processes sharing a study and a real Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, cli, ctrl_c_able, invoke

BOSTON = "boston-housing-dnn"


def load_study(journal: Path, name: str = BOSTON):
    import optuna
    from optuna.storages.journal import JournalFileBackend

    return optuna.load_study(study_name=name, storage=optuna.storages.JournalStorage(JournalFileBackend(str(journal))))


def run_json(run: str | Path) -> dict:
    return json.loads((Path(run) / "run.json").read_text())


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def recipe_with(tmp_path: Path, search: str) -> Path:
    """boston-housing-dnn with its search section replaced by `search` (YAML lines)."""
    text = (REPO / "recipes" / f"{BOSTON}.yaml").read_text()
    text = text[: text.index("\nsearch:")] + "\nsearch:\n" + search
    return write(tmp_path / f"{BOSTON}.yaml", text)


# --- the search space: schema, validate, list, describe ------------------------------------------

def test_a_bad_search_space_is_one_message_naming_each_key(tmp_path):
    path = recipe_with(tmp_path, (
        "  train.optimizer.learnin_rate: {log_uniform: [1.0e-4, 1.0e-2]}\n"
        "  model.dropout: {uniform: [0.0, 1.5]}\n"
        "  model.hidden: {choice: [[64], [0, 3]]}\n"
        "  train.batch_size: {log_uniform: [16, 256]}\n"
        "  train.optimizer.momentum: {uniform: [0.0, 0.9]}\n"
    ))
    result = invoke("validate", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert "cannot train as written (5 problems)" in lines[0]

    def line(key: str) -> str:
        (found,) = [text for text in lines if text.strip().startswith(f"search.{key} (line ")]
        return found

    assert "not a key of this recipe. Did you mean 'train.optimizer.learning_rate'?" in line("train.optimizer.learnin_rate")
    assert "the high end 1.5 is refused: model.dropout: Input should be less than 1" in line("model.dropout")
    assert "the choice [0, 3] is refused: model.hidden[0]" in line("model.hidden")
    assert "{int: [16, 256], log: true}" in line("train.batch_size")  # a float range for an integer key
    assert "momentum is an option of sgd and rmsprop, not of adam" in line("train.optimizer.momentum")

    # The range itself: one message, the key and its line.
    typo = recipe_with(tmp_path, "  model.dropout: {unifrm: [0.0, 0.5]}\n")
    result = invoke("validate", str(typo))
    assert result.returncode == 2
    assert "search.model.dropout (line " in result.stderr and "unknown key 'unifrm'. Did you mean 'uniform'?" in result.stderr
    # train refuses what validate refuses, before any data is loaded or run made.
    result = invoke("train", str(path), "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 2 and "search.model.dropout" in result.stderr and not (tmp_path / "runs").exists()

    # A --space file is checked the same way, before anything is trained or written.
    space = write(tmp_path / "space.yaml", "model.dropot: {uniform: [0.0, 0.5]}\n")
    result = invoke("tune", BOSTON, "--space", str(space), "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 2 and "Did you mean 'model.dropout'?" in result.stderr
    assert not (tmp_path / "runs").exists()
    result = invoke("tune", BOSTON, "--sampler", "grid", "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 2 and "--sampler grid tries every value" in result.stderr
    assert "train.optimizer.learning_rate" in result.stderr and not (tmp_path / "runs").exists()


def test_list_and_describe_show_a_search_space():
    # Processes of their own: list and describe build models under Keras' numpy backend,
    # which would stay this process's backend for the trainings below.
    rows = {row["name"]: row for row in json.loads(cli("list", "--json").stdout)}
    assert rows[BOSTON]["search"] == ["train.optimizer.learning_rate", "model.hidden", "model.dropout",
                                      "train.regularizer.l2"]
    assert rows["mnist-cnn"]["search"] == []
    shown = cli("list").stdout
    assert any(line.startswith(BOSTON) and line.rstrip().endswith("4 keys") for line in shown.splitlines())

    described = json.loads(cli("describe", BOSTON, "--json").stdout)
    assert described["search"]["model.dropout"] == {"uniform": [0.0, 0.3]}
    assert "search" not in described["recipe"]  # not part of what trains: no run's recipe.yaml has it
    text = cli("describe", BOSTON).stdout
    assert "search space (dlrecipes tune: trials judged by val_mae, minimize)" in text
    assert "log-uniform 0.0003 .. 0.03" in text


# --- a study: trials as runs, pruning, best.yaml, continuing -------------------------------------

def test_a_study_prunes_and_its_trials_are_runs_and_best_yaml_trains(tmp_path):
    import matplotlib.image

    runs_dir = tmp_path / "runs"
    args = ["tune", BOSTON, "--sampler", "random", "--seed", "1", "--pruner", "asha", "--set", "train.epochs=3",
            "--runs-dir", str(runs_dir), "--json"]
    result = invoke(*args, "--trials", "4")
    assert result.returncode == 0, result.stderr
    study = json.loads(result.stdout)
    trials = study["trials"]
    assert [t["number"] for t in trials] == study["this_command"] == [0, 1, 2, 3]
    assert study["monitor"] == "val_mae" and study["direction"] == "minimize"
    states = [t["state"] for t in trials]
    assert "pruned" in states and "complete" in states, states

    for trial in trials:
        run = Path(trial["run"])
        meta = run_json(run)
        assert meta["recipe"] == f"{BOSTON}-trial-{trial['number']}" and meta["status"] == "complete"
        assert meta["tune"]["study"] == BOSTON and meta["tune"]["trial"] == trial["number"]
        assert meta["epochs_done"] == trial["epochs"]
        history = (run / "history.csv").read_text().splitlines()
        header, last = history[0].split(","), history[-1].split(",")
        logged = float(last[header.index("val_mae")])
        assert trial["value"] == pytest.approx(logged, rel=1e-6)  # the value is the run's own last val_mae
        recipe = (run / "recipe.yaml").read_text()
        assert f"learning_rate: {trial['params']['train.optimizer.learning_rate']!r}" in recipe
        assert "search" not in recipe
        if trial["state"] == "pruned":
            assert meta["tune"]["pruned_at_epoch"] == trial["epochs"] < 3
        else:
            assert trial["epochs"] == 3 and "pruned_at_epoch" not in meta["tune"]
    complete = [t for t in trials if t["state"] == "complete"]
    assert study["best"]["number"] == min(complete, key=lambda t: t["value"])["number"]

    # `runs` shows the pruned trials as such; `evaluate` works on one.
    listed = {row["run"]: row for row in json.loads(invoke("runs", "--runs-dir", str(runs_dir), "--json").stdout)}
    for trial in trials:
        expected = "complete (pruned)" if trial["state"] == "pruned" else "complete"
        assert listed[Path(trial["run"]).name]["status"] == expected
    pruned = next(t for t in trials if t["state"] == "pruned")
    evaluated = invoke("evaluate", pruned["run"], "--json")
    assert evaluated.returncode == 0 and evaluated.stdout and json.loads(evaluated.stdout)["test"]["mae"] > 0

    # The study in its journal file says what --json said.
    folder = runs_dir / f"tune-{BOSTON}"
    loaded = load_study(folder / "study.journal")
    assert [(t.number, t.state.name.lower()) for t in loaded.trials] == [(t["number"], t["state"]) for t in trials]
    assert loaded.best_trial.number == study["best"]["number"]
    assert len(loaded.trials[0].intermediate_values) == trials[0]["epochs"]  # each epoch reported

    for name in ("history.png", "importances.png", "parallel.png"):
        image = matplotlib.image.imread(folder / name)
        assert image.shape[0] > 100 and image.shape[1] > 100 and image.std() > 0.01
    assert sorted(Path(p).name for p in study["plots"]) == ["history.png", "importances.png", "parallel.png"]

    # The same command again continues the study: new numbers, the old trials kept.
    again = invoke(*args, "--trials", "1")
    assert again.returncode == 0, again.stderr
    continued = json.loads(again.stdout)
    assert continued["this_command"] == [4] and len(continued["trials"]) == 5
    assert [t["number"] for t in continued["trials"][:4]] == [0, 1, 2, 3]

    # best.yaml is the best trial's recipe under the recipe's name, and trains as it is.
    best = continued["best"]
    assert best["recipe"] == str(folder / "best.yaml")
    trained = invoke("train", best["recipe"], "--runs-dir", str(tmp_path / "best-runs"))
    assert trained.returncode == 0, trained.stderr
    (run,) = (tmp_path / "best-runs").iterdir()
    assert run_json(run)["recipe"] == BOSTON
    recipe = (run / "recipe.yaml").read_text()
    assert f"learning_rate: {best['params']['train.optimizer.learning_rate']!r}" in recipe
    assert f"dropout: {best['params']['model.dropout']!r}" in recipe
    trial_recipe = (Path(best["run"]) / "recipe.yaml").read_text()
    assert recipe == trial_recipe.replace(f"name: {BOSTON}-trial-{best['number']}", f"name: {BOSTON}")


def test_a_grid_search_fails_a_refused_combination_and_goes_on(tmp_path):
    # Each value alone fits an sgd recipe; adam with momentum does not. The grid has 4 points.
    space = write(tmp_path / "space.yaml", "train.optimizer.name: {choice: [sgd, adam]}\n"
                                           "train.optimizer.momentum: {choice: [0.0, 0.9]}\n")
    result = invoke("tune", BOSTON, "--space", str(space), "--sampler", "grid", "--pruner", "none",
                    "--set", "train.optimizer.name=sgd", "--set", "train.epochs=1", "--study", "grid",
                    "--runs-dir", str(tmp_path / "runs"), "--json")
    assert result.returncode == 0, result.stderr
    trials = json.loads(result.stdout)["trials"]
    assert len(trials) == 4  # the grid's points, then the search stops by itself
    points = {(t["params"]["train.optimizer.name"], t["params"]["train.optimizer.momentum"]): t for t in trials}
    assert set(points) == {("sgd", 0.0), ("sgd", 0.9), ("adam", 0.0), ("adam", 0.9)}
    refused = points[("adam", 0.9)]
    assert refused["state"] == "fail" and refused["run"] is None
    assert "momentum is an option of sgd and rmsprop" in refused["error"]
    assert all(t["state"] == "complete" for key, t in points.items() if key != ("adam", 0.9))
    runs = [p for p in (tmp_path / "runs").iterdir() if (p / "run.json").is_file()]
    assert sorted(run_json(p)["tune"]["trial"] for p in runs) == sorted(t["number"] for t in trials if t["run"])


# --- processes: two on one study, Ctrl-C ------------------------------------------------------

def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dlrecipes", *args], cwd=REPO, env=os.environ.copy(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=ctrl_c_able)


def test_two_processes_share_one_study(tmp_path):
    journal = tmp_path / "shared" / "study.journal"
    journal.parent.mkdir()
    args = ["tune", BOSTON, "--trials", "2", "--set", "train.epochs=1", "--storage", str(journal),
            "--runs-dir", str(tmp_path / "runs"), "--json"]
    processes = [start(*args), start(*args)]
    outputs = [process.communicate(timeout=300) for process in processes]
    for process, (stdout, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr
    ran = [json.loads(stdout)["this_command"] for stdout, _ in outputs]
    assert len(ran[0]) == len(ran[1]) == 2 and not set(ran[0]) & set(ran[1])
    study = load_study(journal)
    assert sorted(t.number for t in study.trials) == sorted(ran[0] + ran[1]) == [0, 1, 2, 3]
    assert all(t.state.name == "COMPLETE" for t in study.trials)
    tagged = sorted(run_json(p)["tune"]["trial"] for p in (tmp_path / "runs").iterdir() if (p / "run.json").is_file())
    assert tagged == [0, 1, 2, 3]


def test_ctrl_c_ends_the_trial_as_failed_and_keeps_the_study(tmp_path):
    runs_dir = tmp_path / "runs"
    process = start("tune", BOSTON, "--trials", "3", "--set", "train.epochs=500", "--runs-dir", str(runs_dir))
    try:
        deadline = time.time() + 120
        while time.time() < deadline:  # mid-training: an epoch checkpointed
            found = [p for p in runs_dir.glob(f"{BOSTON}-trial-0-*") if (p / "run.json").is_file()]
            if found and run_json(found[0]).get("epochs_done", 0) >= 1:
                break
            assert process.poll() is None, process.stderr.read()
            time.sleep(0.05)
        else:
            raise AssertionError("the first trial never checkpointed an epoch")
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "interrupted: trial 0 marked failed; study 'boston-housing-dnn' keeps its trials (1 fail)" in stderr
    assert "Continue it with: dlrecipes tune boston-housing-dnn --set train.epochs=500" in stderr
    assert "--trials 3" in stderr  # none of the 3 asked for finished
    study = load_study(runs_dir / f"tune-{BOSTON}" / "study.journal")
    assert [(t.number, t.state.name) for t in study.trials] == [(0, "FAIL")]
    assert run_json(found[0])["status"] == "interrupted"


def test_tune_with_folds_judges_each_trial_by_the_cross_validated_mean(tmp_path):
    """`tune --folds K`: each trial is a K-fold cross-validation (K runs tagged with the
    trial), its value the mean of the folds' monitored validation metric, no pruning; a
    source that cannot fold is refused before the study exists."""
    space = tmp_path / "space.yaml"
    space.write_text("train.optimizer.learning_rate: {log_uniform: [1.0e-3, 1.0e-2]}\n")
    result = cli("tune", "pima-diabetes-dnn", "--space", str(space), "--folds", "2", "--trials", "2",
                 "--set", "train.epochs=2", "--runs-dir", str(tmp_path / "runs"), "--json")
    assert result.returncode == 0, result.stderr
    study = json.loads(result.stdout)
    assert [t["state"] for t in study["trials"]] == ["complete", "complete"]
    for trial in study["trials"]:
        summary = json.loads((tmp_path / "runs" / f"{trial['run']}.json").read_text())
        monitor = study["monitor"].removeprefix("val_")
        assert trial["value"] == pytest.approx(summary["validation"][monitor]["mean"])
        for fold in summary["folds"]:
            record = json.loads((Path(fold["run"]) / "run.json").read_text())
            assert record["tune"]["trial"] == trial["number"] and record["folds"]["k"] == 2
    refused = cli("tune", "mnist-dnn", "--space", str(space), "--folds", "2", "--trials", "1",
                  "--runs-dir", str(tmp_path / "mnist"))
    assert refused.returncode == 2 and "cannot cross-validate" in refused.stderr
    assert not (tmp_path / "mnist").exists()
