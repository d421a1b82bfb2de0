"""The architecture zoo: faithful parameter counts, and every recipe takes a training step."""

import json
import math

import keras
import pytest

from conftest import recipes_with_data
from dlrecipes.data import Signature
from dlrecipes.errors import RecipeError
from dlrecipes.models import build_model
from dlrecipes.loader import all_recipes, load_recipe, validate

IMAGENET = Signature(input_shape=(224, 224, 3), input_dtype="uint8", num_outputs=1000)
CIFAR = Signature(input_shape=(32, 32, 3), input_dtype="uint8", num_outputs=10)


def recipe_with(model: dict):
    return validate(
        {"name": "t", "description": "t", "task": {"type": "multiclass"},
         "data": {"source": "tfds", "name": "mnist"}, "model": model},
        source="test",
    )


def test_vgg16_has_exactly_keras_applications_parameter_count():
    model = build_model(recipe_with({"arch": "vgg", "depth": 16}), IMAGENET)
    assert model.count_params() == 138_357_544 == keras.applications.VGG16(weights=None).count_params()
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 13 and convs[0].name == "block1_conv1"


@pytest.mark.parametrize("depth, convs", [(11, 8), (13, 10), (16, 13), (19, 16)])
def test_vgg_configurations_have_the_papers_weight_layers(depth, convs):
    model = build_model(recipe_with({"arch": "vgg", "depth": depth, "width": 0.25, "fc_units": 64}), CIFAR)
    assert sum(isinstance(layer, keras.layers.Conv2D) for layer in model.layers) == convs
    assert sum(isinstance(layer, keras.layers.Dense) for layer in model.layers) == 3  # depth = convs + 3


def test_resnet50_has_exactly_keras_applications_parameter_count():
    model = build_model(recipe_with({"arch": "resnet", "api": "functional", "family": "imagenet", "depth": 50}), IMAGENET)
    assert model.count_params() == 25_636_712 == keras.applications.ResNet50(weights=None).count_params()
    assert model.get_layer("conv2_block1_1_conv") is not None


@pytest.mark.parametrize("depth, low, high", [(20, 0.26e6, 0.28e6), (56, 0.84e6, 0.87e6), (110, 1.7e6, 1.75e6)])
def test_cifar_resnets_match_the_papers_sizes(depth, low, high):
    model = build_model(recipe_with({"arch": "resnet", "depth": depth}), CIFAR)
    assert low < model.count_params() < high
    # 6n+2 weight layers: the convolutions on the main path plus the classifier.
    main_path = [layer for layer in model.layers
                 if isinstance(layer, keras.layers.Conv2D) and not layer.name.endswith("_0_conv")]
    assert len(main_path) + 1 == depth


def test_resnet_v2_preactivation_builds():
    model = build_model(recipe_with({"arch": "resnet", "depth": 20, "version": 2}), CIFAR)
    assert model.get_layer("post_bn") is not None and model.output_shape == (None, 10)


def test_resnet_refuses_sequential_and_bad_depths():
    with pytest.raises(RecipeError, match="cannot be built as keras.Sequential"):
        recipe_with({"arch": "resnet", "api": "sequential"})
    with pytest.raises(RecipeError, match="6n\\+2"):
        recipe_with({"arch": "resnet", "depth": 21})
    with pytest.raises(RecipeError, match="18, 34, 50, 101 or 152"):
        recipe_with({"arch": "resnet", "family": "imagenet", "depth": 20})


def test_vgg_small_images_pass_all_five_stages():
    model = build_model(recipe_with({"arch": "vgg", "depth": 11, "width": 0.25, "fc_units": 32}),
                        Signature((28, 28, 1), "uint8", 10))
    assert model.get_layer("block5_pool").output.shape[1:3] == (1, 1)


LOCAL = recipes_with_data()
# Not on this machine: tfds datasets train on tfds' mock data below; recipes for the user's
# own files (image-folder-cnn) train on files their source's tests write.
NOT_LOCAL = sorted(n for n in all_recipes() if n not in LOCAL and load_recipe(n).recipe.data.source == "tfds")


def test_recipes_are_split_between_local_and_mock_data():
    assert "mnist-dnn" in LOCAL and "sms-spam-lstm" in LOCAL
    assert "cifar10-resnet20" in NOT_LOCAL and "imdb-bilstm" in NOT_LOCAL


@pytest.mark.parametrize("name", LOCAL)
def test_every_recipe_takes_a_training_step(name, zoo_run):
    recipe = load_recipe(name).recipe
    assert recipe.target is not None or recipe.task.type == "adversarial"  # a GAN's is a picture
    run = zoo_run(name)  # shared with test_export_parity, which exports these runs
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"] and all(math.isfinite(v) for v in metrics["test"].values())


def test_nin_ends_in_global_average_pooling_of_class_maps():
    model = build_model(load_recipe("mnist-nin").recipe, Signature((28, 28, 1), "uint8", 10))
    assert not any(isinstance(layer, keras.layers.Dense) for layer in model.layers)
    assert model.get_layer("mlpconv3_cccp2").filters == 10  # one map per class
    assert isinstance(model.layers[-2], keras.layers.GlobalAveragePooling2D)
    assert isinstance(model.layers[-1], keras.layers.Softmax)
    functional = build_model(load_recipe("mnist-nin", ["model.api=functional"]).recipe, Signature((28, 28, 1), "uint8", 10))
    assert functional.count_params() == model.count_params() == 91_930


def test_nin_block_typos_are_reported_inside_the_list():
    with pytest.raises(RecipeError, match=r"model.blocks\[0\].filtrs.*Did you mean 'filters'"):
        load_recipe("mnist-nin", ["model.blocks=[{filtrs: 3}]"])


def test_local_response_normalization_matches_tensorflow(tmp_path):
    import numpy as np
    import tensorflow as tf

    from dlrecipes.layers import LocalResponseNormalization

    x = np.random.default_rng(0).normal(size=(2, 5, 5, 16)).astype("float32") * 10
    ours = LocalResponseNormalization()(x)
    theirs = tf.nn.local_response_normalization(x, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5)

    model = build_model(load_recipe("mnist-alexnet").recipe, Signature((28, 28, 1), "uint8", 10))
    model.save(tmp_path / "m.keras")
    restored = keras.models.load_model(tmp_path / "m.keras")
    images = np.random.default_rng(1).random((3, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(restored(images), model(images), atol=1e-6)


def test_alexnet_imagenet_variant_is_the_single_tower_network():
    with pytest.raises(RecipeError, match="needs at least 67x67"):  # the paper's 227x227 shrinks by 32
        load_recipe("mnist-alexnet", ["model.variant=imagenet"])
    model = build_model(recipe_with({"arch": "alexnet", "variant": "imagenet"}), Signature((227, 227, 3), "uint8", 1000))
    assert model.count_params() == 62_378_344  # the one-tower AlexNet's ~62.4M
    assert model.get_layer("conv1").kernel.shape == (11, 11, 3, 96)
    assert model.get_layer("pool5").output.shape[1:] == (6, 6, 256)


def test_googlenet_follows_table_1():
    model = build_model(recipe_with({"arch": "inception", "variant": "imagenet"}), IMAGENET)
    assert 6.7e6 < model.count_params() < 7.1e6  # "about 6.8M" in the paper; 6,998,552 with biases
    assert model.get_layer("inception_3a_concat").output.shape[-1] == 64 + 128 + 32 + 32
    assert model.get_layer("inception_5b_concat").output.shape[1:] == (7, 7, 1024)
    inception_modules = [layer for layer in model.layers if layer.name.endswith("_concat")]
    assert len(inception_modules) == 9


def test_small_inception_and_sequential_refusal():
    model = build_model(recipe_with({"arch": "inception", "width": 0.25}), Signature((28, 28, 1), "uint8", 10))
    assert model.output_shape == (None, 10)
    with pytest.raises(RecipeError, match="cannot be built as keras.Sequential"):
        recipe_with({"arch": "inception", "api": "sequential"})


def test_auxiliary_classifiers_weigh_0_3_in_the_loss_and_leave_the_inference_model():
    import keras
    import numpy as np

    from dlrecipes.models.common import inference_model
    from dlrecipes.train.fit import compile_model

    recipe = recipe_with({"arch": "inception", "width": 0.25, "auxiliary": True, "dropout": 0.0})
    model = build_model(recipe, CIFAR)
    assert set(model.output) == {"head", "aux1", "aux2"}
    assert model.get_layer("aux1_pool").output.shape[1:3] == (4, 4)  # 16x16 after 4a, as 14x14 in the paper
    compile_model(model, recipe, steps_per_epoch=1)
    x = np.random.default_rng(0).integers(0, 255, (8, 32, 32, 3)).astype("float32") / 255
    y = np.arange(8) % 10
    logs = model.evaluate(x, {"head": y, "aux1": y, "aux2": y}, return_dict=True, verbose=0)
    probs = model.predict(x, verbose=0)
    ce = keras.losses.SparseCategoricalCrossentropy()
    expected = float(ce(y, probs["head"]) + 0.3 * ce(y, probs["aux1"]) + 0.3 * ce(y, probs["aux2"]))
    assert logs["loss"] == pytest.approx(expected, rel=1e-4)

    inference = inference_model(model)
    assert inference.output_shape == (None, 10)
    assert not any(layer.name.startswith("aux") for layer in inference.layers)
    np.testing.assert_allclose(inference.predict(x, verbose=0), probs["head"], atol=1e-6)


@pytest.mark.parametrize("name", NOT_LOCAL)
def test_recipes_without_local_data_train_on_tfds_mock_data(name, tmp_path, monkeypatch):
    """cifar10 and imdb_reviews are not on this machine: tfds' mock_data stands in for their download."""
    import io

    import tensorflow_datasets as tfds
    from rich.console import Console

    from dlrecipes.data import tfds as tfds_source
    from dlrecipes.train.fit import train

    # mock_data replaces the download itself; the probe would only find no network.
    monkeypatch.setattr(tfds_source, "network_reachable", lambda *args: True)
    recipe = load_recipe(name, ["train.epochs=1", "train.batch_size=16", "data.splits.train=train",
                                "data.splits.validation=null", "data.splits.test=test"]).recipe
    with tfds.testing.mock_data(num_examples=32):
        run = train(recipe, runs_dir=tmp_path, console=Console(file=io.StringIO()))
    metrics = json.loads((run / "metrics.json").read_text())
    assert math.isfinite(metrics["test"]["loss"])
    expected = tfds_source.KNOWN[recipe.data.name].input_shape
    assert json.loads((run / "signature.json").read_text())["input_shape"] == list(expected)
    history = (run / "history.csv").read_text().splitlines()[0].split(",")
    assert "accuracy" in history
    if name == "cifar10-inception":  # trained with its auxiliary classifiers, saved without
        assert {"aux1_loss", "aux2_loss"} <= set(history)
        import keras

        saved = keras.models.load_model(run / "model.keras")
        assert saved.output_shape == (None, 10)
        assert not any(layer.name.startswith("aux") for layer in saved.layers)
