"""The DCGAN: its two networks, the adversarial loop, `sample`, and the generator's export."""

import json
import subprocess
import sys
import textwrap

import pytest

from conftest import invoke
from dlrecipes.data import Signature
from dlrecipes.errors import RecipeError
from dlrecipes.models import build_model
from dlrecipes.loader import load_recipe

MNIST = Signature((28, 28, 1), "uint8", 10)


def test_dcgan_networks_follow_the_paper_and_the_task_table():
    import keras

    model = build_model(load_recipe("mnist-dcgan").recipe, MNIST)
    assert model.generator.input_shape == (None, 100)
    assert model.generator.output_shape == (None, 28, 28, 1)
    assert model.discriminator.input_shape == (None, 28, 28, 1)
    # The discriminator ends in the adversarial task's head: one sigmoid unit.
    assert model.discriminator.output_shape == (None, 1)
    assert model.discriminator.layers[-1].get_config()["activation"] == "sigmoid"
    # Radford et al.: strided convolutions, no pooling; LeakyReLU in D, ReLU in G.
    layers = model.generator.layers + model.discriminator.layers
    assert not any(isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)) for layer in layers)
    assert any(isinstance(layer, keras.layers.LeakyReLU) for layer in model.discriminator.layers)
    assert any(isinstance(layer, keras.layers.ReLU) for layer in model.generator.layers)


def test_dcgan_options_shape_both_networks():
    import keras

    def kinds(network):
        return [type(layer).__name__ for layer in network.layers]

    # The recipe: a stride-1 transposed convolution before the two stride-2 ones, 5x5
    # kernels, and dropout instead of batch norm in the discriminator.
    model = build_model(load_recipe("mnist-dcgan").recipe, MNIST)
    shapes = [model.generator.get_layer(name).output.shape[1:] for name in ("reshape", "up1", "up2", "up3")]
    assert shapes == [(7, 7, 128), (7, 7, 64), (14, 14, 32), (28, 28, 1)]
    assert model.generator.get_layer("up2").kernel.shape == (5, 5, 32, 64)
    assert "BatchNormalization" not in kinds(model.discriminator)
    assert kinds(model.discriminator)[:6] == ["Conv2D", "LeakyReLU", "Dropout", "Conv2D", "LeakyReLU", "Dropout"]
    # The defaults are the paper's shape: two stride-2 layers, batch norm in D, one dropout.
    model = build_model(load_recipe("mnist-dcgan", [
        "model.generator_filters=null", "model.kernel_size=4", "model.discriminator_batch_norm=true",
        "model.dropout_each_conv=false"]).recipe, MNIST)
    assert model.generator.get_layer("up1").output.shape[1:] == (14, 14, 64)
    assert kinds(model.discriminator).count("BatchNormalization") == 1
    assert kinds(model.discriminator).count("Dropout") == 1
    assert model.count_params() == 923_714
    assert isinstance(model.discriminator.get_layer("dropout"), keras.layers.Dropout)


def test_adversarial_task_refuses_a_contradicting_head():
    with pytest.raises(RecipeError, match="1 output unit with sigmoid and binary_crossentropy"):
        load_recipe("mnist-dcgan", ["task.activation=softmax"])
    from dlrecipes.checks import signature_problems

    (problem,) = signature_problems(load_recipe("mnist-dcgan").recipe, Signature((30, 30, 1), "uint8", 10))
    assert problem.path == ("model", "arch") and "height and width divide by 4" in problem.message


EXPORT_CHECK = textwrap.dedent("""
    import json, sys
    import numpy as np, tensorflow as tf
    serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
    images = serve(inputs=tf.random.normal((5, 100)))["images"].numpy()
    print(json.dumps({"shape": list(images.shape), "min": float(images.min()), "max": float(images.max())}))
""")


def test_adversarial_loop_trains_both_networks_and_sample_writes_a_png(tmp_path, trained_run):
    import matplotlib.image
    import numpy as np

    runs = tmp_path / "runs"
    result = invoke("train", "mnist-dcgan", "--epochs", "2", "--set", "data.splits.train=train[:1024]",
                 "--set", "data.splits.test=test[:256]", "--runs-dir", str(runs))
    assert result.returncode == 0, result.stderr
    (run,) = list(runs.iterdir())
    metrics = json.loads((run / "metrics.json").read_text())
    for split in ("train", "test"):
        losses = [metrics[split]["d_loss"], metrics[split]["g_loss"]]
        assert all(np.isfinite(v) and v > 0 for v in losses)
    history = (run / "history.csv").read_text().splitlines()
    assert {"d_loss", "g_loss"} <= set(history[0].split(",")) and len(history) == 3
    assert (run / "samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # written after training

    out = tmp_path / "grid.png"
    sampled = invoke("sample", str(run), "-n", "16", "--seed", "3", "--out", str(out))
    assert sampled.returncode == 0, sampled.stderr
    grid = matplotlib.image.imread(out)
    assert grid.shape[:2] == (4 * (4 * 30 + 2), 4 * (4 * 30 + 2))  # 4x4 digits, 2 px gaps, x4 upscaled
    assert grid[..., 0].std() > 0.05  # drawn, not blank
    again = tmp_path / "again.png"
    assert invoke("sample", str(run), "-n", "16", "--seed", "3", "--out", str(again)).returncode == 0
    assert again.read_bytes() == out.read_bytes()  # same seed, same grid

    refused = invoke("sample", str(trained_run))
    assert refused.returncode == 2 and "GAN" in refused.stderr
    no_predict = invoke("predict", str(run), str(out))
    assert no_predict.returncode == 2 and "dlrecipes sample" in no_predict.stderr

    exported = invoke("export", str(run), "--out", str(tmp_path / "exports"))
    assert exported.returncode == 0, exported.stderr
    check = subprocess.run([sys.executable, "-c", EXPORT_CHECK, str(tmp_path / "exports" / "mnist-dcgan" / "1")],
                           capture_output=True, text=True, timeout=180)
    assert check.returncode == 0, check.stderr
    report = json.loads(check.stdout.strip().splitlines()[-1])
    assert report["shape"] == [5, 28, 28, 1] and 0.0 <= report["min"] <= report["max"] <= 1.0


def test_one_adversarial_step_updates_both_networks():
    import keras
    import numpy as np

    from dlrecipes.train.fit import compile_model

    recipe = load_recipe("mnist-dcgan", ["runtime.steps_per_execution=1"]).recipe
    keras.utils.set_random_seed(0)
    model = build_model(recipe, MNIST)
    compile_model(model, recipe, steps_per_epoch=1)
    networks = (model.generator, model.discriminator)
    before = [[keras.ops.convert_to_numpy(w).copy() for w in net.trainable_weights] for net in networks]
    images = np.random.default_rng(0).random((16, 28, 28, 1)).astype("float32")
    logs = model.train_on_batch(images, np.zeros(16), return_dict=True)
    assert set(logs) == {"d_loss", "g_loss"}
    for network, old in zip(networks, before):
        changed = [not np.array_equal(keras.ops.convert_to_numpy(w), o) for w, o in zip(network.trainable_weights, old)]
        assert all(changed), f"{network.name}: some weights did not move"


def test_a_checkpoint_restores_both_optimizers(tmp_path):
    import keras
    import numpy as np

    from dlrecipes.train import checkpoint
    from dlrecipes.train.fit import compile_model

    recipe = load_recipe("mnist-dcgan", ["runtime.steps_per_execution=1"]).recipe
    images = np.random.default_rng(0).random((16, 28, 28, 1)).astype("float32")
    keras.utils.set_random_seed(0)
    model = build_model(recipe, MNIST)
    compile_model(model, recipe, steps_per_epoch=1)
    model.train_on_batch(images, np.zeros(16))
    checkpoint.save(tmp_path, model, {"epochs_done": 1, "history": [], "train_seconds": 0.0})

    fresh = build_model(recipe, MNIST)
    compile_model(fresh, recipe, steps_per_epoch=1)
    checkpoint.restore(tmp_path, fresh, checkpoint.read_state(tmp_path))
    for old, new in ((model.optimizer, fresh.optimizer), (model.g_optimizer, fresh.g_optimizer)):
        assert int(new.iterations.numpy()) == 1
        for a, b in zip(old.variables, new.variables, strict=True):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
