"""`dlrecipes evaluate`'s reports and test-time augmentation, on real tiny trainings: the
report's numbers against Keras' own metrics, the pictures decoded, TTA and its refusals."""

import json
import shutil

import matplotlib.image
import numpy as np
import pytest

from conftest import SMALL, invoke, train_run as trained
from dlrecipes import reports
from test_data_claims import multi_hot_npz, recipe_file, refused
from test_survival import temporary_files, tmpfs


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    return trained(tmp_path_factory, "mnist-dnn", "--epochs", "1", *SMALL)


def evaluated(run, *args: str) -> dict:
    result = invoke("evaluate", str(run), "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def picture(path) -> np.ndarray:
    """A PNG decoded: big enough to read, not one flat colour."""
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 100 and image.shape[1] > 100 and image.std() > 0.01, path
    return image


def test_a_multiclass_report_agrees_with_keras_draws_its_pictures_and_tta_averages(digits_run, tmp_path):
    shown = evaluated(digits_run, "--tta", "flip")
    keras, report = shown["test"], shown["report"]
    assert report["kind"] == "classification"
    assert report["accuracy"] == pytest.approx(keras["accuracy"], abs=1e-6)
    support = [row["support"] for row in report["per_class"]]
    assert sum(support) == report["examples"] == 2000 == json.loads((digits_run / "signature.json").read_text())["split_sizes"]["test"]
    counts = np.array(report["confusion_matrix"]["counts"])
    assert counts.sum(axis=1).tolist() == support
    assert [row["class"] for row in report["per_class"]] == report["confusion_matrix"]["classes"] == [str(i) for i in range(10)]
    for k, row in enumerate(report["per_class"]):
        assert row["recall"] == pytest.approx(counts[k, k] / counts[k].sum())
        assert row["precision"] == pytest.approx(counts[k, k] / counts[:, k].sum())
    pairs = report["confused_pairs"]
    assert pairs and pairs[0]["count"] == (counts - np.diag(np.diag(counts))).max()
    assert [p["count"] for p in pairs] == sorted((p["count"] for p in pairs), reverse=True)

    folder = digits_run / "reports" / "test"
    assert sorted(p.name for p in folder.iterdir()) == ["confusion-matrix.png", "misclassified.png", "report.json"]
    picture(folder / "confusion-matrix.png")
    picture(folder / "misclassified.png")
    on_disk = json.loads((folder / "report.json").read_text())
    assert on_disk == shown and shown["files"][0] == "reports/test/report.json"

    # Flipped digits are other shapes: the average moves, and the plain score is Keras' own.
    tta = shown["tta"]
    assert tta["plain"]["accuracy"] == pytest.approx(keras["accuracy"], abs=1e-6)
    assert tta["flip"]["accuracy"] != tta["plain"]["accuracy"]

    # An ensemble of the run with a copy of itself scores as the run, with and without TTA.
    copy = tmp_path / digits_run.name
    shutil.copytree(digits_run, copy, ignore=shutil.ignore_patterns("lock"))
    result = invoke("ensemble", str(digits_run), str(copy), "--tta", "flip", "--json")
    assert result.returncode == 0, result.stderr
    ensemble = json.loads(result.stdout)
    assert ensemble["ensemble"]["accuracy"] == pytest.approx(keras["accuracy"], abs=1e-6)
    assert ensemble["tta"]["flip"]["ensemble"]["accuracy"] == pytest.approx(tta["flip"]["accuracy"], abs=1e-6)


def test_an_ensemble_of_one_run_given_twice_is_refused(digits_run):
    # The recipe's name means its latest complete run: here the very folder also given.
    for given in ("mnist-dnn", str(digits_run)):
        result = invoke("ensemble", given, str(digits_run), "--runs-dir", str(digits_run.parent))
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"'{digits_run.name}' is given twice" in result.stderr and "ensemble (mean)" not in result.stdout


def fill(disk, leave: int = 60 * 1024) -> None:
    """Fill `disk` (a tmpfs) with one file, leaving about `leave` bytes free."""
    with open(disk / "filler", "wb") as file:
        file.write(b"\0" * max(0, shutil.disk_usage(disk).free - leave))


def test_a_full_disk_costs_evaluate_its_report_and_compare_its_picture_nothing_more(digits_run, tmp_path):
    with tmpfs(tmp_path / "disk", "8m") as disk:
        run = disk / digits_run.name
        shutil.copytree(digits_run, run, ignore=shutil.ignore_patterns("lock", "reports"))
        fill(disk)
        result = invoke("evaluate", str(run))
        assert result.returncode == 1, result.stdout + result.stderr
        assert "no space left on device: the test report could not be written" in result.stderr
        assert f"where: {run / 'reports' / 'test'} (0." in result.stderr and " MiB free)" in result.stderr
        assert f"dlrecipes evaluate {run} --split test" in result.stderr
        assert not (run / "reports").exists() and temporary_files(disk) == []  # nothing half-made

        # A report there already stays as it was.
        (disk / "filler").unlink()
        assert invoke("evaluate", str(run)).returncode == 0
        before = {p.name: p.read_bytes() for p in (run / "reports" / "test").iterdir()}
        fill(disk)
        assert invoke("evaluate", str(run)).returncode == 1
        assert {p.name: p.read_bytes() for p in (run / "reports" / "test").iterdir()} == before
        assert temporary_files(disk) == []

        # runs compare: the table still shows; the message names --out.
        (disk / "filler").unlink()
        fill(disk, leave=8 * 1024)
        shown = invoke("runs", "compare", str(digits_run), str(run), "--out", str(disk / "c.png"))
        assert shown.returncode == 1, shown.stdout + shown.stderr
        assert "parameters" in shown.stdout and "235,146" in shown.stdout and "accuracy" in shown.stdout
        assert "no space left on device: the curves (c.png) could not be written" in shown.stderr
        assert f"where: {disk / 'c.png'} (0." in shown.stderr and "--out" in shown.stderr
        assert not (disk / "c.png").exists() and temporary_files(disk) == []


def test_other_splits_get_their_own_report_and_the_console_shows_the_tables(digits_run):
    sizes = json.loads((digits_run / "signature.json").read_text())["split_sizes"]
    for split in ("validation", "train"):
        shown = evaluated(digits_run, "--split", split)
        assert sum(row["support"] for row in shown["report"]["per_class"]) == sizes[split]
        assert shown["report"]["accuracy"] == pytest.approx(shown[split]["accuracy"], abs=1e-6)
        assert (digits_run / "reports" / split / "confusion-matrix.png").is_file()
    recorded = json.loads((digits_run / "metrics.json").read_text())["train"]
    assert shown["train"]["accuracy"] != recorded["accuracy"]  # no dropout, no moving weights: afresh

    table = invoke("evaluate", str(digits_run), "--tta", "flip")
    assert table.returncode == 0, table.stderr
    for line in ("per class (accuracy", "macro average", "most confused (true -> predicted)",
                 "test-time augmentation", "flip ", "confusion-matrix.png"):
        assert line in table.stdout
    refused(invoke("evaluate", str(digits_run), "--tta", "flips"), "--tta 'flips'", "Did you mean 'flip'")
    refused(invoke("evaluate", str(digits_run), "--split", "dev"), "--split 'dev' is not a split")


def test_a_binary_report_has_curves_thresholds_and_keras_numbers(tmp_path_factory):
    run = trained(tmp_path_factory, "mnist-0-vs-1", "--epochs", "1", *SMALL,
                  "--set", "data.splits.test=test[:4000]", "--set", "model.hidden=[4]")
    shown = evaluated(run, "--tta", "flip+crops")
    keras, report = shown["test"], shown["report"]
    assert report["kind"] == "binary" and report["positive_class"] == "1"
    assert report["accuracy"] == pytest.approx(keras["accuracy"], abs=1e-6)
    assert report["roc_auc"] == pytest.approx(keras["auc"], abs=5e-3)  # Keras interpolates 200 thresholds
    assert sum(row["support"] for row in report["per_class"]) == report["examples"] == np.sum(report["confusion_matrix"]["counts"])
    assert [row["threshold"] for row in report["thresholds"]] == [0.3, 0.5, 0.7]
    assert report["thresholds"][1]["accuracy"] == pytest.approx(report["accuracy"])
    recall = [row["recall"] for row in report["thresholds"]]
    assert recall == sorted(recall, reverse=True)  # a higher cut-off finds fewer positives
    assert "curves" not in shown
    curves = json.loads((run / "reports" / "test" / "report.json").read_text())["curves"]
    assert curves["roc"]["fpr"][0] == 0 and curves["roc"]["tpr"][-1] == 1 and len(curves["roc"]["fpr"]) <= 201
    picture(run / "reports" / "test" / "roc-pr.png")
    assert set(shown["tta"]) == {"shift_pixels", "plain", "flip+crops"}


def test_a_regression_report_and_tta_on_a_table_is_one_clear_refusal(tmp_path_factory):
    run = trained(tmp_path_factory, "boston-housing-dnn", "--epochs", "3")
    shown = evaluated(run)
    keras, report = shown["test"], shown["report"]
    assert report["kind"] == "regression"
    assert report["mae"] == pytest.approx(keras["mae"], rel=1e-5)
    assert report["rmse"] >= report["mae"] and report["r2"] <= 1
    assert report["examples"] == json.loads((run / "signature.json").read_text())["split_sizes"]["test"]
    for name in ("predicted-vs-true.png", "residuals.png"):
        picture(run / "reports" / "test" / name)

    before = sorted(p.name for p in (run / "reports" / "test").iterdir())
    message = refused(invoke("evaluate", str(run), "--tta", "flip"), "--tta flips and shifts images",
                      f"run '{run.name}' takes table rows of shape (")
    assert "Traceback" not in message
    assert sorted(p.name for p in (run / "reports" / "test").iterdir()) == before


def test_a_multilabel_report_counts_each_label(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tags")
    data = multi_hot_npz(folder / "tags.npz")
    run = trained(tmp_path_factory, recipe_file(folder, "multilabel", data, train={"epochs": 2, "batch_size": 16}))
    shown = evaluated(run)
    keras, report = shown["test"], shown["report"]
    assert report["kind"] == "multilabel" and report["examples"] == 32
    assert report["accuracy"] == pytest.approx(keras["accuracy"], abs=1e-6)
    assert [row["label"] for row in report["per_label"]] == ["0", "1", "2"]
    assert 0 < sum(row["support"] for row in report["per_label"]) < 3 * 32
    assert 0 <= report["exact_match"] <= report["accuracy"]


# --- the report's arithmetic, against definitions written out by hand -------------------------


def test_roc_auc_and_average_precision_follow_their_definitions():
    rng = np.random.default_rng(0)
    true = rng.integers(0, 2, 300)
    scores = np.round(rng.random(300) * 0.6 + 0.3 * true, 2)  # rounded: ties between the classes
    positives, negatives = scores[true == 1], scores[true == 0]
    # The AUC is the chance that a positive outscores a negative, ties counting half.
    pairs = (positives[:, None] > negatives[None, :]).mean() + 0.5 * (positives[:, None] == negatives[None, :]).mean()
    fpr, tpr, _ = reports.roc_curve(true, scores)
    assert reports.roc_auc(fpr, tpr) == pytest.approx(pairs, abs=1e-12)
    # Average precision: the precision at each distinct threshold, weighed by the recall it adds.
    expected, previous_recall = 0.0, 0.0
    for t in np.unique(scores)[::-1]:
        chosen = scores >= t
        recall = (chosen & (true == 1)).sum() / (true == 1).sum()
        expected += (recall - previous_recall) * (chosen & (true == 1)).sum() / chosen.sum()
        previous_recall = recall
    precision, recall, _ = reports.precision_recall_curve(true, scores)
    assert reports.average_precision(precision, recall) == pytest.approx(expected, abs=1e-12)


def test_classification_numbers_from_a_known_confusion():
    true = np.array([0, 0, 0, 1, 1, 2])
    probabilities = np.eye(3)[[0, 0, 1, 1, 2, 2]]  # one 0 read as 1, one 1 read as 2
    report, _ = reports.compute("classification", true, probabilities, ("a", "b", "c"))
    assert report["confusion_matrix"]["counts"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    rows = {row["class"]: row for row in report["per_class"]}
    assert rows["a"] == {"class": "a", "precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3}
    assert rows["c"]["precision"] == 0.5 and rows["c"]["recall"] == 1.0
    assert report["confused_pairs"] == [{"true": "a", "predicted": "b", "count": 1},
                                        {"true": "b", "predicted": "c", "count": 1}]
    assert report["accuracy"] == pytest.approx(4 / 6)


def test_a_gan_has_metrics_but_no_report(tmp_path_factory):
    run = trained(tmp_path_factory, "mnist-dcgan", "--epochs", "1", "--set", "data.splits.train=train[:128]",
                  "--set", "data.splits.test=test[:64]")
    result = invoke("evaluate", str(run))
    assert result.returncode == 0, result.stderr
    assert "d_loss" in result.stdout and "a GAN has no evaluation report" in result.stdout
    assert not (run / "reports").exists()
    refused(invoke("evaluate", str(run), "--tta", "flip"), "takes latent vectors (a GAN)")


def test_every_predicting_task_names_a_report_there_is():
    from dlrecipes import tasks

    for task in tasks.TASKS.values():
        assert task.report in reports.KINDS if not task.generative else task.report is None, task.name
