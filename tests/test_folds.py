"""k-fold cross-validation (`train --folds K`, `data.split.folds`): the folds themselves, the
K real runs and their summary, and the sources that refuse to fold, with the reason."""

import json
import math
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import REPO, ctrl_c_able, invoke
from dlrecipes.data import source_of
from dlrecipes.data.splits import FractionSplits, fold_indices, split_indices
from dlrecipes.loader import validate
from dlrecipes.runs import load_run_recipe


def folds_are_a_partition(folds, n):
    rows = [i for fold in folds for i in fold]
    assert sorted(rows) == list(range(n))  # every row once: disjoint and complete
    assert max(map(len, folds)) - min(map(len, folds)) <= 1


# -- the fold split ----------------------------------------------------------------------------


@pytest.mark.parametrize("n, k, classes", [(768, 5, 2), (101, 3, 4), (10, 10, 3), (57, 4, 7)])
def test_folds_are_disjoint_complete_stratified_and_deterministic(n, k, classes):
    rng = np.random.default_rng(n)
    labels = rng.choice(classes, size=n, p=np.arange(1, classes + 1) / sum(range(1, classes + 1)))
    folds = fold_indices(labels, k, seed=3)
    folds_are_a_partition(folds, n)
    for fold in folds:
        for c in range(classes):
            share = (labels == c).sum() / k  # each class's rows, spread evenly over the folds
            assert abs((labels[fold] == c).sum() - share) < 1, (fold, c)
    assert fold_indices(labels, k, seed=3) == folds
    assert fold_indices(labels, k, seed=4) != folds
    folds_are_a_partition(fold_indices(labels, k, 3, stratify=False), n)


def test_regression_folds_are_plain_seeded_cuts():
    assert fold_indices(np.zeros(0), 2, 0) == [[], []]  # no rows: empty folds
    values = np.linspace(0.0, 1.0, 50)
    plain = fold_indices(values, 5, seed=0, stratify=False)
    folds_are_a_partition(plain, 50)
    assert plain == fold_indices(values, 5, seed=0, stratify=False)


def test_with_folds_the_test_split_is_unchanged_and_the_validation_folds_cover_the_rest():
    labels = np.arange(300) % 3
    plain = split_indices(labels, FractionSplits())
    cuts = [split_indices(labels, FractionSplits(folds=4, fold=i)) for i in range(1, 5)]
    rest = sorted(plain["train"] + plain["validation"])
    for cut in cuts:
        assert cut["test"] == plain["test"]
        assert sorted(cut["train"] + cut["validation"]) == rest and not set(cut["train"]) & set(cut["validation"])
    folds_are_a_partition([[rest.index(i) for i in cut["validation"]] for cut in cuts], len(rest))
    assert split_indices(labels, FractionSplits(folds=4)) == cuts[0]  # no fold named: the first


def test_npz_and_idx_sources_fold_their_training_arrays(tmp_path):
    from test_data_claims import idx_recipe

    x, y = np.zeros((90, 3), "float32"), np.arange(90) % 3
    np.savez(tmp_path / "a.npz", x_train=x, y_train=y, x_test=x[:9], y_test=y[:9])
    npz = {"source": "npz", "path": str(tmp_path / "a.npz"), "split": {"folds": 3, "fold": 2}}
    assert _source("multiclass", npz).signature().split_sizes == {"train": 60, "validation": 30, "test": 9}
    idx = _source("multiclass", idx_recipe(tmp_path, n=40, folds=4, fold=4))
    assert "validation" in idx.splits() and idx.signature().split_sizes == {"train": 30, "validation": 10, "test": 40}


def _source(task, data):
    return source_of(validate({"name": "t", "description": "t", "task": {"type": task}, "data": data,
                               "model": {"arch": "dnn"}}, source="test"))


# -- train --folds ------------------------------------------------------------------------------


def test_train_folds_makes_k_tagged_runs_and_a_summary_of_their_metrics(tmp_path):
    runs_dir = tmp_path / "runs"
    result = invoke("train", "pima-diabetes-dnn", "--folds", "3", "--set", "train.epochs=2",
                    "--runs-dir", str(runs_dir), "--json")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    summary = json.loads((runs_dir / f"{printed['group']}.json").read_text())
    assert printed == {**summary, "summary": str(runs_dir / f"{printed['group']}.json")}
    runs = sorted(p for p in runs_dir.iterdir() if p.is_dir())
    assert [str(p) for p in runs] == [fold["run"] for fold in summary["folds"]] and len(runs) == 3
    rows = 0
    for i, run in enumerate(runs, start=1):
        info = json.loads((run / "run.json").read_text())
        assert info["status"] == "complete"
        assert info["folds"] == {"k": 3, "fold": i, "group": summary["group"]}
        recipe = load_run_recipe(run)  # its recipe names its fold, so evaluate reads the same split
        assert (recipe.data.split.folds, recipe.data.split.fold) == (3, i)
        rows += source_of(recipe).signature().split_sizes["validation"]
    assert rows == round(768 * 0.8)  # the folds cover every row the test split leaves, once
    metrics = [json.loads((run / "metrics.json").read_text()) for run in runs]
    for split in ("validation", "test"):
        for name in metrics[0][split]:
            values = [m[split][name] for m in metrics]
            assert [fold[split][name] for fold in summary["folds"]] == values
            assert summary[split][name]["mean"] == pytest.approx(np.mean(values), abs=1e-12)
            assert summary[split][name]["std"] == pytest.approx(np.std(values, ddof=1), abs=1e-12)
    assert math.isfinite(summary["validation"]["auc"]["std"]) and summary["validation"]["auc"]["std"] > 0
    assert all(m["test"] != metrics[0]["test"] for m in metrics[1:])  # three models, one test split


@pytest.mark.parametrize("recipe, reason", [
    ("mnist-dnn", "tfds dataset 'mnist' comes as fixed splits"),
    ("melbourne-temp-gru", "folds would leak the future"),
])
def test_sources_that_cannot_fold_refuse_with_the_reason_and_leave_no_run(tmp_path, recipe, reason):
    runs_dir = tmp_path / "runs"
    result = invoke("train", recipe, "--folds", "3", "--runs-dir", str(runs_dir))
    assert result.returncode == 2 and reason in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not runs_dir.exists()
    key = "data.folds" if recipe == "mnist-dnn" else "data.split.folds"
    result = invoke("validate", recipe, "--set", f"{key}=3")
    assert result.returncode == 2 and f"{key} (--set {key}=3): cannot cross-validate: {reason}" in result.stderr


def test_folds_refuse_a_validation_file_and_resume(tmp_path):
    result = invoke("validate", "pima-diabetes-dnn", "--set", "data.split.folds=3",
                    "--set", "data.validation_path=pima_indians_diabetes/pima-indians-diabetes.csv")
    assert result.returncode == 2 and "remove data.validation_path to cross-validate" in result.stderr
    result = invoke("train", "--resume", "somerun", "--folds", "3")
    assert result.returncode == 2 and "--resume continues one run" in result.stderr


def test_ctrl_c_in_a_fold_marks_its_run_interrupted_and_says_which_folds_finished(tmp_path):
    runs_dir, log = tmp_path / "runs", tmp_path / "stderr"
    with open(log, "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "dlrecipes", "train", "pima-diabetes-dnn", "--folds", "3", "--epochs", "40",
             "--runs-dir", str(runs_dir)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr, preexec_fn=ctrl_c_able)
        try:
            deadline = time.time() + 180
            while "fold 2 of 3" not in log.read_text() or log.read_text().count(" -> ") < 2:
                assert process.poll() is None and time.time() < deadline, log.read_text()
                time.sleep(0.05)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=120)
    text = log.read_text()
    assert process.returncode == 130, text
    first, second = sorted(p for p in runs_dir.iterdir() if p.is_dir())
    statuses = [json.loads((run / "run.json").read_text())["status"] for run in (first, second)]
    assert statuses == ["complete", "interrupted"], text
    assert f"cross-validation stopped in fold 2 of 3; folds finished: 1 ({first})" in text
    assert not list(runs_dir.glob("cv-*.json"))  # no summary of folds that did not all run
