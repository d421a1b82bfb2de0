"""The task objects decide head, loss and metrics; contradictions are refused."""

import ast
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from dlrecipes import tasks

PACKAGE = Path(__file__).resolve().parent.parent / "dlrecipes"


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
    entry = tasks.get(task)
    assert entry.activation == activation
    assert entry.loss(entry.label_encodings[0]) == loss
    dense, act = entry.head(num_outputs=10)
    assert dense.units == units
    if activation == "softmax":
        assert isinstance(act, keras.layers.Softmax)
    else:
        assert act.activation.__name__ == activation


def test_one_hot_labels_use_categorical_crossentropy():
    multiclass = tasks.get("multiclass")
    assert multiclass.loss("one_hot") == "categorical_crossentropy"
    (metric,) = multiclass.metric_objects("one_hot")
    assert isinstance(metric, keras.metrics.CategoricalAccuracy)
    assert multiclass.training_labels("integer", soft=True) == "one_hot"  # mixup, label smoothing
    assert tasks.get("binary").training_labels("integer", soft=True) == "integer"


def test_default_metrics_per_task():
    assert [m.name for m in tasks.get("binary").metric_objects("integer")] == ["accuracy", "auc"]
    assert [m.name for m in tasks.get("regression").metric_objects("values")] == ["mae"]
    assert tasks.get("adversarial").logged == ("d_loss", "g_loss")
    assert tasks.get("multiclass").logged == ("loss", "accuracy")


@pytest.mark.parametrize(
    "task, labels, activation, loss, expected",
    [
        ("binary", "integer", "softmax", None, "sigmoid and binary_crossentropy"),
        ("multiclass", "integer", None, "binary_crossentropy", "softmax"),
        ("multiclass", "integer", "sigmoid", None, "multilabel"),
        ("regression", "values", "softmax", None, "linear output layer"),
        ("regression", "values", None, "categorical_crossentropy", "mean_squared_error"),
        ("multiclass", "one_hot", None, "sparse_categorical_crossentropy", "set task.labels: integer"),
        ("multiclass", "integer", None, "categorical_crossentropy", "set task.labels: one_hot"),
    ],
)
def test_contradictions_state_the_right_pairing(task, labels, activation, loss, expected):
    problems = tasks.get(task).check_head(labels, activation, loss)
    assert len(problems) == 1
    assert expected in problems[0]


def test_agreeing_restatements_pass():
    assert tasks.get("multiclass").check_head("integer", "softmax", "sparse_categorical_crossentropy") == []
    assert tasks.get("binary").check_head("integer", "sigmoid", "binary_crossentropy") == []


def test_binary_task_needs_exactly_two_classes():
    assert "multiclass" in tasks.get("binary").check_outputs(10)
    assert "data.classes" in tasks.get("binary").check_outputs(1)
    assert tasks.get("binary").check_outputs(2) is None


def test_predictions_read_per_task():
    names = ["cat", "dog", "eel"]
    binary = tasks.get("binary")
    assert binary.prediction([0.7], names[:2], top=3)["label"] == "dog"
    # The predicted class with *its* probability: 1 - p when the one unit says the first class.
    low = binary.prediction([0.2], names[:2], top=3)
    assert (low["label"], low["probability"]) == ("cat", pytest.approx(0.8))
    assert [(t["label"], t["probability"]) for t in low["top"]] == [("cat", pytest.approx(0.8)), ("dog", pytest.approx(0.2))]
    assert binary.prediction([0.2], names[:2], top=1)["top"] == low["top"][:1]
    assert tasks.get("regression").prediction([1.5, 2.0], names, top=3) == {"predictions": [1.5, 2.0]}
    top = tasks.get("multiclass").prediction([0.1, 0.6, 0.3], names, top=2)["top"]
    assert [t["label"] for t in top] == ["dog", "eel"]
    assert tasks.get("multilabel").prediction([0.9, 0.2, 0.6], names, top=3)["labels"] == ["cat", "eel"]


def _string_compares_with_task_names(path: Path) -> list[str]:
    """`x == "binary"`, `x in ("binary", ...)`: places that compare against a task's name."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Compare):
            continue
        for operand in [node.left, *node.comparators]:
            values = operand.elts if isinstance(operand, (ast.Tuple, ast.List, ast.Set)) else [operand]
            if any(isinstance(v, ast.Constant) and v.value in tasks.TASK_NAMES for v in values):
                found.append(f"{path.name}:{node.lineno}")
    return found


def test_no_module_but_tasks_compares_task_names():
    offenders = [hit for path in PACKAGE.rglob("*.py") if path.name != "tasks.py"
                 for hit in _string_compares_with_task_names(path)]
    assert offenders == []


def test_the_schema_imports_no_training_code_and_there_is_no_import_cycle():
    """Importing the schema must not pull in train/, runs, export or the CLI: configs never
    import what runs them. A cycle would show as one of those being imported too."""
    code = ("import sys, dlrecipes.recipe, dlrecipes.loader, dlrecipes.checks; "
            "print(sorted(m for m in sys.modules if m.startswith('dlrecipes.')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for forbidden in ("dlrecipes.train", "dlrecipes.runs", "dlrecipes.export", "dlrecipes.cli", "tensorflow"):
        assert f"'{forbidden}" not in loaded, loaded
