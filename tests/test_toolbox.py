"""The training toolbox: each knob is shown to take effect, not merely to parse."""

import json
import math

import keras
import numpy as np
import pytest

from conftest import SMALL, cli, invoke
from dlrecipes import tasks
from dlrecipes.data import Signature
from dlrecipes.errors import RecipeError
from dlrecipes.models import build_model
from dlrecipes.loader import load_recipe
from dlrecipes.train.fit import compile_model
from dlrecipes.train.inputs import label_encoding
from dlrecipes.train.initializers import apply_initializers
from dlrecipes.train.regularizers import apply_regularizers

MNIST = Signature((28, 28, 1), "uint8", 10)


def optimizer_rate_at(overrides: list[str], step: int, steps_per_epoch: int = 100) -> float:
    """The learning rate the compiled optimizer uses at `step`, as training reads it."""
    recipe = load_recipe("mnist-dnn", ["train.optimizer={name: sgd, learning_rate: 0.1}", *overrides]).recipe
    model = build_model(recipe, MNIST)
    compile_model(model, recipe, steps_per_epoch=steps_per_epoch)
    model.optimizer.iterations.assign(step)
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


@pytest.mark.parametrize("schedule, formula", [
    ("{name: exponential, decay_rate: 0.5}", lambda s: 0.1 * 0.5 ** (s / 100)),
    ("{name: inverse_time, decay_rate: 0.5}", lambda s: 0.1 / (1 + 0.5 * s / 100)),
    ("{name: step, unit: steps, boundaries: [150, 300], factor: 0.1}",
     lambda s: 0.1 if s <= 150 else 0.01 if s <= 300 else 0.001),
    # SGDR: cycles of 2, then 4 epochs (t_mul 2), restarts at 0.5x (m_mul).
    ("{name: cosine_restarts, first_decay_epochs: 2, t_mul: 2, m_mul: 0.5}",
     lambda s: 0.05 * (1 + math.cos(math.pi * s / 200)) if s < 200
     else 0.5 * 0.05 * (1 + math.cos(math.pi * (s - 200) / 400))),
])
@pytest.mark.parametrize("step", [0, 50, 199, 250, 420])
def test_optimizer_learning_rate_at_step_k_follows_the_schedule(schedule, formula, step):
    assert optimizer_rate_at([f"train.schedule={schedule}"], step) == pytest.approx(formula(step), rel=1e-4, abs=1e-7)


def test_plateau_schedule_lowers_the_rate_when_the_loss_stalls():
    from dlrecipes.train.fit import training_callbacks

    recipe = load_recipe("mnist-dnn", [
        "train.optimizer={name: sgd, learning_rate: 1.0e-9}",  # too small to improve anything
        "train.schedule={name: plateau, monitor: loss, patience: 0, factor: 0.5}",
    ]).recipe
    model = build_model(recipe, MNIST)
    compile_model(model, recipe, steps_per_epoch=4)
    x = np.random.default_rng(0).integers(0, 255, (64, 28, 28, 1)).astype("float32") / 255
    y = np.arange(64) % 10
    model.fit(x, y, epochs=4, batch_size=16, verbose=0, callbacks=training_callbacks(recipe))
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(1e-9 * 0.5**3, rel=1e-3)


def kernel(model, name):
    return keras.ops.convert_to_numpy(model.get_layer(name).kernel)


def test_he_and_glorot_kernels_have_their_variances():
    recipe = load_recipe("mnist-dnn", ["model.hidden=[1024, 1024]"]).recipe
    model = build_model(recipe, MNIST)
    init = recipe.train.init.model_copy(update={"kernel": "he_normal", "layers": {}})
    apply_initializers(model, init, seed=0)
    assert kernel(model, "dense_2").var() == pytest.approx(2 / 1024, rel=0.05)  # He: 2 / fan_in
    apply_initializers(model, init.model_copy(update={"kernel": "glorot_normal"}), seed=0)
    assert kernel(model, "dense_2").var() == pytest.approx(2 / (1024 + 1024), rel=0.05)  # Glorot
    apply_initializers(model, init.model_copy(update={"kernel": "he_normal", "layers": {"Dense": "lecun_normal"}}), seed=0)
    assert kernel(model, "dense_2").var() == pytest.approx(1 / 1024, rel=0.05)  # per layer type wins


def test_zero_initialisation_fails_to_learn(tmp_path):
    """Every hidden unit starts equal and gets the same gradient: the network cannot learn."""
    result = invoke("train", "mnist-dnn", "--epochs", "2", *SMALL, "--set", "train.init.kernel=zeros",
                 "--runs-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    (run,) = list(tmp_path.iterdir())
    accuracy = json.loads((run / "metrics.json").read_text())["test"]["accuracy"]
    assert accuracy < 0.25  # chance is 0.1; the default initialisation reaches > 0.85 (test_train_export)


def test_l2_penalty_is_added_to_the_loss_and_shrinks_the_weights():
    recipe = load_recipe("mnist-dnn", ["train.regularizer.l2=0.01"]).recipe
    model = build_model(recipe, MNIST)
    assert apply_regularizers(model, recipe.train.regularizer) == 3  # the three Dense kernels
    kernels = [w for w in model.trainable_weights if w.path.endswith("kernel")]
    expected = 0.01 * sum(float(np.sum(keras.ops.convert_to_numpy(k) ** 2)) for k in kernels)
    assert float(sum(keras.ops.convert_to_numpy(loss) for loss in model.losses)) == pytest.approx(expected, rel=1e-4)

    x = np.random.default_rng(0).random((256, 28, 28, 1)).astype("float32")
    y = np.arange(256) % 10
    norms = {}
    for l2 in (0.0, 0.01):
        r = load_recipe("mnist-dnn", [f"train.regularizer.l2={l2}"]).recipe
        keras.utils.set_random_seed(0)
        m = build_model(r, MNIST)
        apply_regularizers(m, r.train.regularizer)
        compile_model(m, r, steps_per_epoch=8)
        m.fit(x, y, epochs=5, batch_size=32, verbose=0)
        norms[l2] = float(np.sqrt(np.sum(kernel(m, "dense_1") ** 2)))
    assert norms[0.01] < 0.9 * norms[0.0]


def test_label_smoothing_makes_a_perfect_prediction_cost_something():
    recipe = load_recipe("mnist-dnn", ["train.label_smoothing=0.1"]).recipe
    assert label_encoding(recipe) == "one_hot"  # sparse cross-entropy cannot smooth
    model = build_model(recipe, MNIST)
    compile_model(model, recipe, steps_per_epoch=1)
    target = np.eye(10)[[3]]
    confident = np.clip(target, 1e-7, 1.0)
    assert float(model.loss(target, confident)) > 0.1  # smoothed targets: 0.91 / 0.01 each
    with pytest.raises(RecipeError, match="label_smoothing smooths class labels"):
        load_recipe("mnist-dnn", ["task.type=regression", "train.label_smoothing=0.1"])


def test_early_stopping_stops_and_needs_a_validation_split(tmp_path):
    stop = "train.early_stopping={monitor: val_loss, patience: 0, min_delta: 10.0}"  # nothing improves by 10
    result = invoke("train", "mnist-dnn", "--epochs", "10", *SMALL, "--set", stop, "--runs-dir", str(tmp_path / "a"))
    assert result.returncode == 0, result.stderr
    (run,) = list((tmp_path / "a").iterdir())
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 2  # not 10

    refused = invoke("train", "mnist-dnn", *SMALL, "--set", "data.splits.validation=null", "--set", stop,
                  "--runs-dir", str(tmp_path / "b"))
    assert refused.returncode == 2 and "no validation split" in refused.stderr
    assert not (tmp_path / "b").exists()


def test_ema_weights_differ_from_raw_ones():
    x = np.random.default_rng(0).random((256, 28, 28, 1)).astype("float32")
    y = np.arange(256) % 10
    final = {}
    for use_ema in (False, True):
        recipe = load_recipe("mnist-dnn", [f"train.optimizer.use_ema={str(use_ema).lower()}",
                                           "train.optimizer.ema_momentum=0.9"]).recipe
        keras.utils.set_random_seed(0)
        model = build_model(recipe, MNIST)
        compile_model(model, recipe, steps_per_epoch=8)
        assert model.optimizer.use_ema is use_ema
        model.fit(x, y, epochs=3, batch_size=32, verbose=0, shuffle=False)
        final[use_ema] = kernel(model, "dense_1")
    # Same seed, same raw steps: the EMA run differs only because fit() ended by swapping in
    # the moving averages.
    difference = np.abs(final[True] - final[False]).max()
    assert difference > 1e-4 and np.isfinite(final[True]).all()


def test_two_deterministic_runs_give_identical_metrics(tmp_path):
    outputs = []
    for name in ("a", "b"):
        result = cli("train", "mnist-dnn", "--epochs", "1", *SMALL, "--deterministic", "--seed", "7",
                     "--runs-dir", str(tmp_path / name))
        assert result.returncode == 0, result.stderr
        (run,) = list((tmp_path / name).iterdir())
        assert json.loads((run / "run.json").read_text())["runtime"]["deterministic"] is True
        outputs.append((run / "metrics.json").read_bytes())
    assert outputs[0] == outputs[1]  # weights' sha256 included


def first_batch(recipe, role):
    from dlrecipes.train.inputs import prepare_data

    data = prepare_data(recipe, roles=(role,))
    x, y = next(iter(data.train_stream(0).dataset if role == "train" else data.datasets[role]))
    return x.numpy(), y.numpy()


SLICE = ["data.splits.train=test[:256]", "data.splits.validation=null", "data.splits.test=test[:256]",
         "train.batch_size=64", "train.shuffle_buffer=1"]


def test_augmentation_changes_training_batches_only():
    plain = load_recipe("mnist-dnn", SLICE).recipe
    flipped = load_recipe("mnist-dnn", [*SLICE, "train.augment=[{name: random_flip, mode: horizontal}, "
                                        "{name: random_crop, padding: 4}]"]).recipe
    x_plain, y_plain = first_batch(plain, "train")
    x_aug, y_aug = first_batch(flipped, "train")
    assert x_aug.shape == x_plain.shape == (64, 28, 28, 1)  # padded by 4, cropped back to 28x28
    assert not np.allclose(x_aug, x_plain)
    assert 0.0 <= x_aug.min() and x_aug.max() <= 1.0  # augmented on the 0-255 scale, then divided
    np.testing.assert_array_equal(y_aug, y_plain)
    np.testing.assert_array_equal(first_batch(flipped, "test")[0], first_batch(plain, "test")[0])


def test_mixup_targets_are_convex_combinations_of_two_classes():
    recipe = load_recipe("mnist-dnn", [*SLICE, "train.augment=[{name: mixup, alpha: 1.0}]"]).recipe
    assert label_encoding(recipe) == "one_hot"
    _, y = first_batch(recipe, "train")
    assert y.shape == (64, 10) and (y >= 0).all()
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)
    assert ((y > 1e-6).sum(axis=1) <= 2).all()  # a blend of at most two one-hot vectors
    assert (y.max(axis=1) < 0.99).mean() > 0.5  # and really blended, with alpha = 1
    _, y_test = first_batch(recipe, "test")
    assert set(np.unique(y_test)) <= {0.0, 1.0}  # never at evaluation


def test_cutout_erases_with_a_constant_and_bad_arguments_are_refused(tmp_path):
    recipe = load_recipe("mnist-dnn", [*SLICE, "train.augment=[{name: cutout, factor: 1.0, scale: [0.2, 0.2]}]"]).recipe
    x_cut, _ = first_batch(recipe, "train")
    x_plain, _ = first_batch(load_recipe("mnist-dnn", SLICE).recipe, "train")
    erased = x_cut != x_plain
    assert erased.any() and (x_cut[erased] == 0.0).all()
    result = invoke("train", "mnist-dnn", *SMALL, "--set", "train.augment=[{name: random_rotation, angle: 10}]",
                 "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 2 and "train.augment[0]" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


def saved_weights(run):
    model = keras.models.load_model(run / "model.keras", compile=False)
    return {layer.name: [w.copy() for w in layer.get_weights()] for layer in model.layers if layer.weights}


FASHION = ["--set", "data.name=fashion_mnist", *SMALL]


def test_frozen_layers_stay_bit_identical_and_a_new_head_learns(trained_run, tmp_path):
    result = invoke("train", "mnist-dnn", "--epochs", "2", *FASHION, "--set", f"model.init_from={trained_run}",
                 "--set", "model.freeze=all_but_head", "--set", "train.optimizer.learning_rate=0.01",
                 "--runs-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    (run,) = list(tmp_path.iterdir())
    before, after = saved_weights(trained_run), saved_weights(run)
    for name in ("dense_1", "dense_2"):
        for old, new in zip(before[name], after[name]):
            np.testing.assert_array_equal(old, new)  # frozen: bit-identical
    assert not np.array_equal(before["head_dense"][0], after["head_dense"][0])  # a new head, trained
    recorded = json.loads((run / "run.json").read_text())
    assert recorded["init_from"]["layers"] == ["dense_1", "dense_2"] and recorded["frozen"] == ["dense_1", "dense_2"]
    assert json.loads((run / "metrics.json").read_text())["test"]["accuracy"] > 0.3  # chance: 0.1


def test_fine_tuning_unfreezes_at_a_lower_rate(trained_run, tmp_path):
    result = invoke("train", "mnist-dnn", "--epochs", "1", *FASHION, "--set", f"model.init_from={trained_run}",
                 "--set", "model.freeze=all_but_head", "--set", "train.fine_tune={epochs: 1, learning_rate: 0.0001}",
                 "--runs-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    (run,) = list(tmp_path.iterdir())
    assert not np.array_equal(saved_weights(trained_run)["dense_1"][0], saved_weights(run)["dense_1"][0])
    rows = (run / "history.csv").read_text().splitlines()
    assert len(rows) == 3  # two epochs: the frozen one, then the fine-tuning one
    assert float(rows[2].split(",")[1]) == pytest.approx(1e-4)


def test_transfer_mistakes_are_clear(trained_run, tmp_path):
    wrong = invoke("train", "mnist-dnn", *FASHION, "--set", f"model.init_from={trained_run}",
                "--set", "model.freeze=[dense_3]", "--runs-dir", str(tmp_path / "a"))
    assert wrong.returncode == 2 and "dense_3" in wrong.stderr and "Did you mean 'dense_2'" in wrong.stderr
    mismatch = invoke("train", "mnist-cnn", *SMALL, "--set", f"model.init_from={trained_run}", "--runs-dir", str(tmp_path / "b"))
    assert mismatch.returncode == 2 and "no layer of run" in mismatch.stderr
    missing = invoke("train", "fashion-mnist-from-mnist", "--runs-dir", str(tmp_path / "c"))
    assert missing.returncode == 2 and "no run 'mnist-cnn'" in missing.stderr
    assert not any((tmp_path / d).exists() for d in "abc")


def test_lr_find_sweeps_exponentially_and_suggests_a_rate_where_the_loss_falls(tmp_path):
    from dlrecipes.train.lr_find import sweep

    recipe = load_recipe("mnist-dnn", ["data.splits.train=train[:8192]"]).recipe
    result = sweep(recipe, steps=120, start=1e-6, end=1.0)
    ratios = np.array(result.rates[1:]) / np.array(result.rates[:-1])
    np.testing.assert_allclose(ratios, (1.0 / 1e-6) ** (1 / 119), rtol=1e-6)  # exponential
    at = result.rates.index(result.suggestion)
    assert 1e-5 < result.suggestion < 1.0
    assert result.losses[at + 1] < result.losses[at - 1]  # falling there
    assert min(result.losses) < result.losses[0] - 0.3  # the sweep did train

    out = tmp_path / "sweep.png"
    shown = invoke("lr-find", "mnist-dnn", "--steps", "60", "--set", "data.splits.train=train[:4096]",
                "--out", str(out), "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["plot"] == str(out) and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = invoke("lr-find", "mnist-dnn", "--start", "1", "--end", "0.1")
    assert bad.returncode == 2 and "--start" in bad.stderr


def test_cycle_ends_follow_the_restarts():
    from dlrecipes.options import ScheduleOptions

    assert ScheduleOptions(name="cosine_restarts", first_decay_epochs=2, t_mul=2).cycle_ends(14) == [2, 6, 14]
    assert ScheduleOptions(name="cosine_restarts", first_decay_epochs=1, t_mul=1).cycle_ends(3) == [1, 2, 3]


def test_ensemble_averages_members_and_snapshots_come_from_restarts(trained_run, tmp_path):
    result = invoke("train", "mnist-dnn", "--epochs", "2", *SMALL, "--seed", "1", "--set", "train.snapshots=true",
                 "--set", "train.schedule={name: cosine_restarts, first_decay_epochs: 1, t_mul: 1}",
                 "--runs-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    (run,) = list(tmp_path.iterdir())
    snapshots = sorted((run / "snapshots").glob("epoch-*.keras"))
    assert [p.name for p in snapshots] == ["epoch-1.keras", "epoch-2.keras"]

    shown = invoke("ensemble", str(trained_run), str(run), *map(str, snapshots), "--json")
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert set(report["members"]) == {trained_run.name, run.name, f"{run.name}/epoch-1", f"{run.name}/epoch-2"}

    # The ensemble's accuracy is that of the averaged probabilities, recomputed here.
    from dlrecipes.train.inputs import prepare_data

    test = prepare_data(load_recipe("mnist-dnn", SMALL[1::2]).recipe, roles=("test",)).datasets["test"]
    labels = np.concatenate([y.numpy() for _, y in test])
    models = [keras.models.load_model(p / "model.keras") for p in (trained_run, run)]
    models += [keras.models.load_model(p) for p in snapshots]
    mean = np.mean([m.predict(test, verbose=0) for m in models], axis=0)
    assert report["ensemble"]["accuracy"] == pytest.approx((mean.argmax(1) == labels).mean(), abs=1e-6)
    assert report["test_examples"] == 2000

    fashion = invoke("train", "mnist-dnn", "--epochs", "1", *FASHION, "--runs-dir", str(tmp_path / "f"))
    (other,) = list((tmp_path / "f").iterdir())
    mixed = invoke("ensemble", str(trained_run), str(other))
    assert fashion.returncode == 0 and mixed.returncode == 2 and "other data" in mixed.stderr
    with pytest.raises(RecipeError, match="cosine cycles"):
        load_recipe("mnist-dnn", ["train.snapshots=true"])


@pytest.mark.parametrize("how", ["standardize", "center"])
def test_input_normalization_uses_training_statistics_and_travels_with_the_model(how, tmp_path):
    from dlrecipes.train.inputs import adapt_preprocessing, prepare_data

    recipe = load_recipe("mnist-dnn", [*SLICE, "data.splits.train=train[:2000]", f"model.normalize={how}"]).recipe
    data = prepare_data(recipe)
    model = build_model(recipe, data.signature)
    assert adapt_preprocessing(model, data.train_inputs) == ["input_normalization"]
    pixels = np.concatenate([x.numpy() for x in data.train_inputs])
    layer = model.get_layer("input_normalization")
    assert float(layer.adapt_mean.numpy()[0]) == pytest.approx(pixels.mean(), rel=1e-4)  # train split only
    expected_variance = pixels.var() if how == "standardize" else 1.0
    assert float(layer.adapt_variance.numpy()[0]) == pytest.approx(expected_variance, rel=1e-3)
    normalized = keras.ops.convert_to_numpy(layer(pixels[:500]))
    if how == "standardize":
        assert abs(normalized.mean()) < 0.05 and abs(normalized.std() - 1) < 0.05
    np.testing.assert_allclose(normalized, (pixels[:500] - pixels.mean()) / np.sqrt(expected_variance), atol=1e-4)

    model.save(tmp_path / "m.keras")  # the statistics are part of the model, hence of exports
    reloaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(reloaded.get_layer("input_normalization")(pixels[:5])),
                               normalized[:5], atol=1e-5)


def test_a_checkpoint_is_restored_in_the_phase_it_was_taken_in():
    from dlrecipes.train.fit import checkpoint_phase

    phases = [(0, 3, None), (3, 5, 1e-4)]  # 3 epochs frozen, then 2 fine-tuning
    # After epoch 3 the model is still in phase 0's settings: fine-tuning starts afresh.
    assert [checkpoint_phase(phases, done) for done in (1, 2, 3, 4, 5)] == [0, 0, 0, 1, 1]


def test_watched_quantities_must_be_logged():
    from dlrecipes.train.fit import training_callbacks

    with pytest.raises(RecipeError, match="Did you mean 'val_accuracy'"):
        load_recipe("mnist-dnn", ["train.early_stopping={monitor: val_acuracy}"])
    with pytest.raises(RecipeError, match="has no validation split"):
        load_recipe("mnist-dnn", ["train.early_stopping={monitor: val_loss}", "data.splits.validation=null"])
    watched = load_recipe("mnist-dnn", ["train.early_stopping={monitor: val_accuracy}",
                                        "train.schedule={name: plateau, monitor: val_loss}"]).recipe
    stop, plateau = training_callbacks(watched, auxiliary=True)[::-1]
    assert stop.monitor == "val_head_accuracy"  # the main output's name with auxiliary classifiers
    assert plateau.monitor == "val_loss"
    gan = load_recipe("mnist-dcgan", ["train.early_stopping={monitor: g_loss}"]).recipe
    assert training_callbacks(gan)[0].monitor == "g_loss"


def test_review_edge_cases_are_clear_errors(tmp_path):
    from dlrecipes.data.splits import FractionSplits, split_indices
    from dlrecipes.models.common import auxiliary_weights
    from dlrecipes.train.transfer import is_head

    with pytest.raises(RecipeError, match="not for a GAN"):
        load_recipe("mnist-dcgan", ["model.normalize=standardize"])
    with pytest.raises(RecipeError, match="use_ema"):
        load_recipe("mnist-dcgan", ["train.optimizer.use_ema=true"])
    inception = load_recipe("mnist-dnn", ["model={arch: inception, width: 0.25, auxiliary: true, normalize: center}"]).recipe
    model = build_model(inception, Signature((32, 32, 3), "uint8", 10))
    assert set(auxiliary_weights(model)) == {"aux1", "aux2"}  # kept through the normalization wrapper
    assert is_head(model.get_layer("googlenet_small").get_layer("aux1_head_dense"))
    with pytest.raises(RecipeError, match="test split is empty"):
        split_indices([0, 0, 1], FractionSplits(validation=0.0, test=0.2))
    binary = tmp_path / "latin1.tsv"
    binary.write_bytes("ham\tcaf\xe9\n".encode("latin-1"))
    from dlrecipes.data import get_source
    from dlrecipes.loader import validate

    data = validate({"name": "t", "description": "t", "task": {"type": "binary"},
                     "data": {"source": "text", "path": str(binary)}, "model": {"arch": "rnn", "text": {}}},
                    source="test").data
    with pytest.raises(RecipeError, match="UTF-8"):
        get_source(data, tasks.get("multiclass")).train_signature()
