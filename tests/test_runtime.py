"""Runtime flags: strategy, mixed precision, XLA, learning-rate scaling."""

import json

import keras
import pytest

from conftest import SMALL, cli
from dlrecipes.data import Signature
from dlrecipes.models import build_model
from dlrecipes.loader import load_recipe
from dlrecipes.train.fit import compile_model

MNIST = Signature(input_shape=(28, 28, 1), input_dtype="uint8", num_outputs=10)


def test_mixed_precision_xla_and_mirrored_on_cpu_degrade_cleanly(tmp_path):
    result = cli("train", "mnist-dnn", "--epochs", "1", *SMALL, "--mixed-precision", "--xla",
                 "--strategy", "mirrored", "--runs-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "bfloat16 on the CPU" in result.stderr  # says what it did instead of float16
    (run,) = list(tmp_path.iterdir())
    runtime = json.loads((run / "run.json").read_text())["runtime"]
    assert runtime["precision"] == "mixed_bfloat16"
    assert runtime["strategy"] == "mirrored" and runtime["replicas"] == 1
    assert runtime["jit_compile"] is True
    assert runtime["global_batch_size"] == 128
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.8
    model = keras.models.load_model(run / "model.keras")
    assert model.layers[1].dtype_policy.name == "mixed_bfloat16"
    assert model.layers[-1].dtype_policy.name == "float32"  # the head's activation stays float32
    history = (run / "history.csv").read_text().splitlines()
    assert "examples_per_second" in history[0]


def test_xla_can_be_turned_off(tmp_path):
    result = cli("train", "mnist-dnn", "--epochs", "1", *SMALL, "--no-xla", "--runs-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    (run,) = list(tmp_path.iterdir())
    runtime = json.loads((run / "run.json").read_text())["runtime"]
    assert runtime["jit_compile"] is False and runtime["precision"] == "float32"
    assert runtime["strategy"] == "default"


# Multi-worker training and TF_CONFIG's checks: tests/test_multiworker.py.


def test_unknown_strategy_is_a_recipe_error():
    result = cli("validate", "mnist-dnn", "--set", "runtime.strategy=mirored")
    assert result.returncode == 2 and "Did you mean 'mirrored'?" in result.stderr


@pytest.mark.parametrize("scale, expected", [(True, 4e-3), (False, 1e-3)])
def test_learning_rate_follows_the_linear_scaling_rule(scale, expected):
    recipe = load_recipe("mnist-dnn", ["train.schedule.name=constant", f"runtime.scale_learning_rate={scale}"]).recipe
    model = build_model(recipe, MNIST)
    from dlrecipes.train.runtime import Runtime

    four = Runtime(strategy=None, strategy_name="mirrored", replicas=4, precision="float32",
                   steps_per_execution=recipe.runtime.steps_per_execution, jit_compile=False)
    compile_model(model, recipe, steps_per_epoch=10, runtime=four)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(expected)
