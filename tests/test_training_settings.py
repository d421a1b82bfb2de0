"""Optimizers and schedules are built as the recipe states them."""

import math

import keras
import pytest

from dlrecipes.loader import load_recipe
from dlrecipes.train.optimizers import build_optimizer
from dlrecipes.options import ScheduleOptions
from dlrecipes.train.schedules import build_schedule


def lr_at(schedule, step: int) -> float:
    return float(keras.ops.convert_to_numpy(schedule(step)))


def test_cosine_schedule_follows_the_formula():
    schedule = build_schedule(ScheduleOptions(name="cosine"), 1e-3, steps_per_epoch=100, epochs=10)
    for step in (0, 250, 500, 999):
        expected = 1e-3 * 0.5 * (1 + math.cos(math.pi * step / 1000))
        assert lr_at(schedule, step) == pytest.approx(expected, rel=1e-5, abs=1e-8)


def test_cosine_warmup_rises_linearly_to_the_peak():
    schedule = build_schedule(ScheduleOptions(name="cosine", warmup_epochs=1), 0.1, steps_per_epoch=50, epochs=5)
    assert lr_at(schedule, 0) == pytest.approx(0.0, abs=1e-9)
    assert lr_at(schedule, 25) == pytest.approx(0.05, rel=1e-5)
    assert lr_at(schedule, 50) == pytest.approx(0.1, rel=1e-5)


def test_step_schedule_multiplies_at_epoch_boundaries():
    options = ScheduleOptions(name="step", boundaries=[2, 4], factor=0.1)
    schedule = build_schedule(options, 0.1, steps_per_epoch=10, epochs=6)
    assert [round(lr_at(schedule, s), 6) for s in (0, 19, 21, 39, 41)] == [0.1, 0.1, 0.01, 0.01, 0.001]


def test_constant_schedule_is_the_plain_rate():
    assert build_schedule(ScheduleOptions(), 0.01, steps_per_epoch=10, epochs=2) == 0.01


def test_optimizer_options_reach_keras():
    recipe = load_recipe("mnist-dnn", ["train.optimizer={name: sgd, learning_rate: 0.1, momentum: 0.9, nesterov: true, clipnorm: 1.0}"]).recipe
    optimizer = build_optimizer(recipe.train.optimizer, 0.1)
    assert isinstance(optimizer, keras.optimizers.SGD)
    assert optimizer.momentum == 0.9 and optimizer.nesterov and optimizer.clipnorm == 1.0
    adamw = build_optimizer(load_recipe("mnist-dnn", ["train.optimizer.name=adamw", "train.optimizer.weight_decay=0.01"]).recipe.train.optimizer, 1e-3)
    assert isinstance(adamw, keras.optimizers.AdamW) and adamw.weight_decay == 0.01
