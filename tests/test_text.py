"""Text: the `text` source, recurrent models, and raw strings from the file to the export."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import invoke
from dlrecipes import tasks
from dlrecipes.data import Signature, get_source
from dlrecipes.data.splits import FractionSplits, split_indices
from dlrecipes.errors import DataUnavailableError, RecipeError
from dlrecipes.models import build_model
from dlrecipes.loader import validate


def text_options(path, **extra):
    return validate({
        "name": "t", "description": "t", "task": {"type": "binary"},
        "data": {"source": "text", "path": str(path), **extra},
        "model": {"arch": "rnn", "text": {"max_tokens": 100, "sequence_length": 8}},
    }, source="test").data


def write_messages(path, n_ham=80, n_spam=20):
    lines = [f"ham\tsee you at {i} \"ok\"\tthen" for i in range(n_ham)]
    lines += [f"spam\tWIN a prize {i} call now" for i in range(n_spam)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_text_lines_split_at_the_first_delimiter_only(tmp_path):
    source = get_source(text_options(write_messages(tmp_path / "m.tsv"), classes=["ham", "spam"]), tasks.get("binary"))
    datasets = source.load()
    texts = [t.decode() for t, label in datasets["train"].as_numpy_iterator() if label == 0]
    assert any(t.endswith('"ok"\tthen') for t in texts)  # quotes and later tabs kept
    signature = source.train_signature()
    assert signature.input_dtype == "string" and signature.input_shape == ()
    assert signature.class_names == ("ham", "spam")
    assert signature.split_sizes == {"train": 70, "validation": 10, "test": 20}


def test_fraction_splits_are_stratified_disjoint_and_seeded():
    labels = np.array([0] * 900 + [1] * 100)
    splits = FractionSplits(validation=0.1, test=0.2, seed=3)
    roles = split_indices(labels, splits)
    assert sorted(sum(roles.values(), [])) == list(range(1000))  # every row once
    for role, share in (("test", 0.2), ("validation", 0.1)):
        assert len(roles[role]) == 1000 * share
        assert labels[roles[role]].mean() == pytest.approx(0.1)  # class balance kept
    assert roles == split_indices(labels, splits)
    assert roles["test"] != split_indices(labels, FractionSplits(validation=0.1, test=0.2, seed=4))["test"]
    with pytest.raises(ValueError, match="nothing to train on"):
        FractionSplits(validation=0.5, test=0.5)


def test_bad_text_files_are_clear_errors(tmp_path):
    with pytest.raises(DataUnavailableError, match="not found"):
        get_source(text_options(tmp_path / "absent.tsv"), tasks.get("binary")).train_signature()
    bad_label = tmp_path / "bad.tsv"
    bad_label.write_text("ham\thello\nspma\tWIN\n")
    with pytest.raises(RecipeError, match=r"line 2 .* label 'spma'"):
        get_source(text_options(bad_label, classes=["ham", "spam"]), tasks.get("binary")).train_signature()
    no_tab = tmp_path / "notab.tsv"
    no_tab.write_text("ham hello\n")
    with pytest.raises(RecipeError, match="line 1 .* no '\\\\t'"):
        get_source(text_options(no_tab), tasks.get("binary")).train_signature()


def test_missing_text_file_exits_3_and_leaves_no_run(tmp_path, monkeypatch):
    monkeypatch.setenv("DLRECIPES_DATA_DIR", str(tmp_path))
    result = invoke("train", "sms-spam-lstm", "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 3
    assert "sms_spam/SMSSpamCollection.tsv" in result.stderr and "DLRECIPES_DATA_DIR" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


def rnn_recipe(model, task="binary"):
    return validate({"name": "t", "description": "t", "task": {"type": task},
                     "data": {"source": "tfds", "name": "mnist"}, "model": {"arch": "rnn", **model}},
                    source="test")


SERIES = Signature(input_shape=(30, 1), input_dtype="float32", num_outputs=1)


@pytest.mark.parametrize("cell, per_layer", [
    ("simple_rnn", lambda i, u: u * (i + u) + u),
    ("lstm", lambda i, u: 4 * (u * (i + u) + u)),
    ("gru", lambda i, u: 3 * (u * (i + u) + 2 * u)),  # Keras' reset_after GRU: two bias vectors
])
def test_recurrent_layers_stack_with_the_papers_parameter_counts(cell, per_layer):
    model = build_model(rnn_recipe({"cell": cell, "units": [16, 8]}, "regression"), SERIES)
    assert model.get_layer(f"{cell}_1").output.shape == (None, 30, 16)  # a sequence for the next layer
    assert model.get_layer(f"{cell}_2").output.shape == (None, 8)
    expected = per_layer(1, 16) + per_layer(16, 8) + (8 + 1)
    assert model.count_params() == expected

    bidirectional = build_model(rnn_recipe({"cell": cell, "units": [16, 8], "bidirectional": True}, "regression"), SERIES)
    assert bidirectional.get_layer("bidirectional_2").output.shape == (None, 16)
    assert bidirectional.count_params() == 2 * per_layer(1, 16) + 2 * per_layer(32, 8) + (16 + 1)


def test_rnn_builds_both_apis_and_refuses_mismatched_inputs():
    sequential = build_model(rnn_recipe({"units": [8]}, "regression"), SERIES)
    functional = build_model(rnn_recipe({"units": [8], "api": "functional"}, "regression"), SERIES)
    assert type(sequential).__name__ == "Sequential" and type(functional).__name__ == "Functional"
    assert sequential.count_params() == functional.count_params()
    from dlrecipes.checks import signature_problems

    def about_text(recipe, signature):
        return [p.message for p in signature_problems(recipe, signature) if p.path == ("model", "text")]

    assert "add a `text:` section" in about_text(rnn_recipe({"units": [8]}), Signature((), "string", 2))[0]
    assert "vectorizes raw strings" in about_text(rnn_recipe({"units": [8], "text": {}}, "regression"), SERIES)[0]


def test_lstm_learns_windows_of_a_series():
    """Next value of a noisy sine from the 30 before it: the LSTM must beat 'same as last'."""
    import keras

    from dlrecipes.train.fit import compile_model

    t = np.arange(1200, dtype="float32")
    series = np.sin(t * 2 * np.pi / 50) + np.random.default_rng(0).normal(0, 0.05, t.size).astype("float32")
    windows = keras.utils.timeseries_dataset_from_array(
        series[:-1, None], series[30:], sequence_length=30, batch_size=64)
    recipe = rnn_recipe({"cell": "lstm", "units": [16]}, "regression")
    keras.utils.set_random_seed(0)
    model = build_model(recipe, SERIES)
    compile_model(model, recipe, steps_per_epoch=18)
    model.fit(windows, epochs=12, verbose=0, shuffle=False)
    x, y = next(iter(windows.rebatch(1000)))
    naive = float(np.abs(x[:, -1, 0] - y).mean())
    mae = float(np.abs(model.predict(x, verbose=0)[:, 0] - y).mean())
    assert mae < naive


EXPORT_CHECK = textwrap.dedent("""
    import json, sys
    import numpy as np, keras, tensorflow as tf
    texts = ["WINNER! claim your free prize now, call 09061701461", "see you at home later",
             "Free entry in 2 a wkly comp to win FA Cup final tkts", "ok"]
    served = tf.saved_model.load(sys.argv[1]).signatures["serving_default"](inputs=tf.constant(texts))
    served = served["probabilities"].numpy()
    direct = keras.models.load_model(sys.argv[2])(np.array(texts, dtype=object)).numpy()
    print(json.dumps({"max_abs_diff": float(np.abs(served - direct).max()), "shape": list(served.shape)}))
""")


def test_sms_spam_lstm_trains_and_its_export_takes_raw_strings(tmp_path):
    result = invoke("train", "sms-spam-lstm", "--epochs", "2", "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 0, result.stderr
    (run,) = list((tmp_path / "runs").iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.9  # above the 87% of always answering 'ham'
    # 20% / 10% of each class: ham 965 + spam 149 test, 483 + 75 validation.
    assert json.loads((run / "signature.json").read_text())["split_sizes"] == {
        "train": 3902, "validation": 558, "test": 1114}

    predicted = invoke("predict", str(run), "--text", "WINNER! claim your free prize now, call 09061701461",
                    "--text", "see you at home later", "--json")
    assert predicted.returncode == 0, predicted.stderr
    assert [r["label"] for r in json.loads(predicted.stdout)["predictions"]] == ["spam", "ham"]

    exported = invoke("export", str(run), "--out", str(tmp_path / "exports"))
    assert exported.returncode == 0, exported.stderr
    check = subprocess.run(
        [sys.executable, "-c", EXPORT_CHECK, str(tmp_path / "exports" / "sms-spam-lstm" / "1"), str(run / "model.keras")],
        capture_output=True, text=True, timeout=180,
    )
    assert check.returncode == 0, check.stderr
    report = json.loads(check.stdout.strip().splitlines()[-1])
    assert report["shape"] == [4, 1] and report["max_abs_diff"] < 1e-5


def test_text_folders_one_per_class(tmp_path):
    for name, words in (("neg", "awful boring"), ("pos", "wonderful moving")):
        (tmp_path / "reviews" / name).mkdir(parents=True)
        for i in range(10):
            (tmp_path / "reviews" / name / f"{i}.txt").write_text(f"{words} film number {i}\n")
    source = get_source(text_options(tmp_path / "reviews"), tasks.get("binary"))
    signature = source.train_signature()
    assert signature.class_names == ("neg", "pos") and sum(signature.split_sizes.values()) == 20
    texts = {t.decode(): int(y) for t, y in source.load()["train"].as_numpy_iterator()}
    assert all(("awful" in t) == (y == 0) for t, y in texts.items())
    (tmp_path / "reviews" / "meh").mkdir()
    with pytest.raises(RecipeError, match="meh has no text files"):
        get_source(text_options(tmp_path / "reviews"), tasks.get("binary")).train_signature()
