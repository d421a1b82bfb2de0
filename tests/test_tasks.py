"""The task table decides head, loss and metrics; contradictions are refused."""

import keras
import pytest

from dlrecipes import tasks


@pytest.mark.parametrize(
    "task, units, activation, loss",
    [
        ("binary", 1, "sigmoid", "binary_crossentropy"),
        ("multiclass", 10, "softmax", "sparse_categorical_crossentropy"),
        ("multilabel", 10, "sigmoid", "binary_crossentropy"),
        ("regression", 10, "linear", "mean_squared_error"),
    ],
)
def test_table_matches_the_brief(task, units, activation, loss):
    entry = tasks.TASKS[task]
    assert entry.activation == activation
    assert entry.loss(tasks.LABEL_ENCODINGS[task][0]) == loss
    dense, act = tasks.head_layers(task, num_outputs=10)
    assert dense.units == units
    if activation == "softmax":
        assert isinstance(act, keras.layers.Softmax)
    else:
        assert act.activation.__name__ == activation


def test_one_hot_labels_use_categorical_crossentropy():
    assert tasks.TASKS["multiclass"].loss("one_hot") == "categorical_crossentropy"
    (metric,) = tasks.metric_objects("multiclass", "one_hot")
    assert isinstance(metric, keras.metrics.CategoricalAccuracy)


def test_default_metrics_per_task():
    assert [m.name for m in tasks.metric_objects("binary", "integer")] == ["accuracy", "auc"]
    assert [m.name for m in tasks.metric_objects("regression", "values")] == ["mae"]


@pytest.mark.parametrize(
    "task, labels, activation, loss, expected",
    [
        ("binary", "integer", "softmax", None, "sigmoid and binary_crossentropy"),
        ("multiclass", "integer", None, "binary_crossentropy", "softmax"),
        ("multiclass", "integer", "sigmoid", None, "multilabel"),
        ("regression", "values", "softmax", None, "linear output layer"),
        ("regression", "values", None, "categorical_crossentropy", "mean_squared_error"),
        ("multiclass", "one_hot", None, "sparse_categorical_crossentropy", "categorical_crossentropy (one-hot"),
    ],
)
def test_contradictions_state_the_right_pairing(task, labels, activation, loss, expected):
    problems = tasks.check_head(task, labels, activation, loss)
    assert len(problems) == 1
    assert expected in problems[0]


def test_agreeing_restatements_pass():
    assert tasks.check_head("multiclass", "integer", "softmax", "sparse_categorical_crossentropy") == []
    assert tasks.check_head("binary", "integer", "sigmoid", "binary_crossentropy") == []


def test_binary_task_on_ten_classes_is_refused():
    assert "multiclass" in tasks.check_outputs("binary", 10)
    assert tasks.check_outputs("binary", 2) is None
