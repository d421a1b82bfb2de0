"""The tfds source and the input pipeline, on the real prepared MNIST."""

import socket

import numpy as np
import tensorflow as tf

from dlrecipes.data import source_of
from dlrecipes import tasks
from dlrecipes.data.pipeline import epoch_stream
from dlrecipes.data.tfds import network_reachable
from dlrecipes.loader import load_recipe


def test_signature_from_json_agrees_with_tfds():
    mnist = source_of(load_recipe("mnist-cnn").recipe)
    assert mnist.signature() == mnist.train_signature()  # unnamed classes: "0".."9" in both
    source = source_of(load_recipe("fashion-mnist-cnn").recipe)
    from_json = source.signature()
    from_tfds = source.train_signature()
    assert from_json.input_shape == from_tfds.input_shape == (28, 28, 1)
    assert from_json.input_dtype == from_tfds.input_dtype == "uint8"
    assert from_json.num_outputs == from_tfds.num_outputs == 10
    assert from_json.class_names == from_tfds.class_names
    assert from_json.class_names[0] == "T-shirt/top"
    assert from_json.split_sizes == {"train": 60_000, "test": 10_000}


def test_known_metadata_agrees_with_tfds():
    """`list` and `describe` use KNOWN before the data is downloaded; it must not drift."""
    from dlrecipes.data.tfds import KNOWN

    for name in ("mnist-cnn", "fashion-mnist-cnn"):
        source = source_of(load_recipe(name).recipe)
        assert KNOWN[source.options.name] == source.train_signature()


def test_pipeline_scales_pixels_and_batches():
    recipe = load_recipe("mnist-dnn", ["data.splits.train=train[:300]"]).recipe
    source = source_of(recipe)
    raw = source.load()
    assert raw["train"].element_spec[0].dtype == tf.uint8  # raw until the pipeline
    ds = epoch_stream(
        raw["train"], first_epoch=0, steps_per_epoch=3, preprocess=source.preprocess,
        targets=tasks.get("multiclass").targets("integer", 10), batch_size=128, seed=0, shuffle_buffer=300, cache=True,
    ).dataset
    sizes, seen = [], []
    for x, y in ds:
        assert x.dtype == tf.float32 and x.shape[1:] == (28, 28, 1)
        assert float(tf.reduce_min(x)) >= 0.0 and float(tf.reduce_max(x)) <= 1.0
        sizes.append(int(x.shape[0]))
        seen.extend(y.numpy().tolist())
    assert sizes == [128, 128, 44]
    assert max(seen) <= 9 and len(set(seen)) == 10


def test_one_hot_and_binary_targets():
    one_hot = tasks.get("multiclass").targets("one_hot", 10)(tf.constant([3, 0]))
    np.testing.assert_array_equal(one_hot.numpy().argmax(1), [3, 0])
    assert one_hot.shape == (2, 10)
    binary = tasks.get("binary").targets("integer", 2)(tf.constant([1, 0]))
    assert binary.shape == (2, 1) and binary.dtype == tf.float32


def test_network_probe_gives_up_on_an_unreachable_address(monkeypatch):
    monkeypatch.delenv("DLRECIPES_OFFLINE")
    with socket.socket() as s:  # a loopback port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert network_reachable(("127.0.0.1", port)) is False
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert network_reachable(server.getsockname()) is True


def test_offline_switch_skips_the_probe(monkeypatch):
    monkeypatch.setenv("DLRECIPES_OFFLINE", "1")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert network_reachable(server.getsockname()) is False
