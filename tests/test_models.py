"""Builders: the exact MLP of our notes, both APIs, and the registry."""

import keras
import numpy as np
import pytest

from dlrecipes.data import Signature
from dlrecipes.errors import RecipeError
from dlrecipes.models import build_model, get_model, list_models
from dlrecipes.loader import load_recipe

MNIST = Signature(input_shape=(28, 28, 1), input_dtype="uint8", num_outputs=10)


def test_mnist_dnn_is_the_mlp_of_our_notes():
    model = build_model(load_recipe("mnist-dnn").recipe, MNIST)
    assert isinstance(model, keras.Sequential)
    assert model.count_params() == 235_146
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Flatten", "Dense", "ReLU", "Dense", "ReLU", "Dense", "Softmax"]
    assert [layer.units for layer in model.layers if isinstance(layer, keras.layers.Dense)] == [256, 128, 10]


@pytest.mark.parametrize("recipe", ["mnist-dnn", "mnist-cnn", "fashion-mnist-cnn"])
def test_sequential_and_functional_are_the_same_network(recipe):
    sequential = build_model(load_recipe(recipe).recipe, MNIST)
    functional = build_model(load_recipe(recipe, ["model.api=functional"]).recipe, MNIST)
    assert isinstance(sequential, keras.Sequential)
    assert not isinstance(functional, keras.Sequential)
    assert sequential.count_params() == functional.count_params()
    functional.set_weights(sequential.get_weights())
    x = np.random.default_rng(0).random((4, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(sequential(x, training=False), functional(x, training=False), atol=1e-6)


def test_cnn_layers_follow_the_blocks():
    model = build_model(load_recipe("fashion-mnist-cnn", ["model.blocks=[[16, 16], [32]]"]).recipe, MNIST)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [16, 16, 32]
    assert sum(isinstance(layer, keras.layers.MaxPooling2D) for layer in model.layers) == 2
    assert all(c.use_bias for c in convs)
    assert model.output_shape == (None, 10)
    with_bn = build_model(load_recipe("fashion-mnist-cnn", ["model.batch_norm=true"]).recipe, MNIST)
    convs = [layer for layer in with_bn.layers if isinstance(layer, keras.layers.Conv2D)]
    assert all(not c.use_bias for c in convs)  # batch norm's beta replaces the bias
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in with_bn.layers) == 2


def test_registry_lists_and_refuses_unknown_names():
    assert {"dnn", "cnn"} <= set(list_models())
    assert list_models("c*") == ["cnn"]
    with pytest.raises(RecipeError, match="Did you mean 'dnn'"):
        get_model("dnm")


def test_binary_head_has_one_unit():
    from dlrecipes import checks

    with pytest.raises(RecipeError, match="needs a dataset with 2 classes"):
        load_recipe("mnist-dnn", ["task.type=binary", "target=null"])
    recipe = load_recipe("mnist-dnn", ["task.type=binary", "target=null", "data.classes=['3', '8']"]).recipe
    model = build_model(recipe, Signature((28, 28, 1), "uint8", 2))
    assert model.output_shape == (None, 1)
    assert any("needs a dataset with 2 classes" in p.message for p in checks.signature_problems(recipe, MNIST))
