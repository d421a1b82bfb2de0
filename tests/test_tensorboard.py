"""RUN/tensorboard/: every run's history as TensorBoard events, read back by TensorBoard itself."""

import csv

import numpy as np

from conftest import invoke

# A GAN small enough to train an epoch in seconds: narrow networks, 256 images.
TINY_GAN = ["--epochs", "2", "--set", "data.splits.train=train[:256]", "--set", "data.splits.test=test[:128]",
            "--set", "model.filters=8", "--set", "model.generator_filters=[16,8,8]", "--set", "model.latent_dim=16"]


def history(run) -> list[dict]:
    with open(run / "history.csv", newline="") as file:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(file)]


def events(folder):
    """TensorBoard's own reader on one event folder: {tag: [(step, value), ...]}, and each
    tag's plugin (scalars, histograms)."""
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"tensors": 0})  # 0: keep every event
    accumulator.Reload()
    tags = accumulator.Tags()["tensors"]  # TF2's summaries are tensors with a plugin's metadata
    values = {tag: [(e.step, tf.make_ndarray(e.tensor_proto)) for e in accumulator.Tensors(tag)] for tag in tags}
    plugins = {tag: accumulator.SummaryMetadata(tag).plugin_data.plugin_name for tag in tags}
    return values, plugins


def assert_matches_history(run, rows):
    """Every number of history.csv is in the events, at its epoch, to float32 precision."""
    train, plugins = events(run / "tensorboard" / "train")
    validation, _ = events(run / "tensorboard" / "validation") if any("val_loss" in r for r in rows) else ({}, {})
    for key in rows[0]:
        if key == "epoch":
            continue
        logged = validation if key.startswith("val_") else train
        tag = key.removeprefix("val_")
        tag = tag if tag.startswith("epoch_") else f"epoch_{tag}"
        assert [step for step, _ in logged[tag]] == [int(r["epoch"]) for r in rows], key  # each epoch once
        np.testing.assert_array_equal([float(v) for _, v in logged[tag]], np.float32([r[key] for r in rows]), key)
    return train, plugins


def test_every_run_logs_its_history_for_tensorboard(trained_run):
    from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer

    rows = history(trained_run)
    assert len(rows) == 2 and "val_loss" in rows[0]
    train, plugins = assert_matches_history(trained_run, rows)
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate", "epoch_seconds"} <= set(train)
    assert train["epoch_learning_rate"][0][1] > 0  # the rate epoch 1 started with: the recipe's
    validation, _ = events(trained_run / "tensorboard" / "validation")
    assert set(validation) == {"epoch_loss", "epoch_accuracy"}
    assert set(plugins.values()) == {"scalars"}  # no histograms unless asked
    # `tensorboard --logdir runs` names each run by its folder.
    multiplexer = EventMultiplexer().AddRunsFromDirectory(str(trained_run.parent))
    assert {f"{trained_run.name}/tensorboard/train", f"{trained_run.name}/tensorboard/validation"} <= set(multiplexer.Runs())


def test_a_gan_logs_both_losses_and_histograms_when_asked(tmp_path):
    import keras

    runs = tmp_path / "runs"
    result = invoke("train", "mnist-dcgan", *TINY_GAN, "--set", "train.tensorboard.histograms=true", "--runs-dir", str(runs))
    assert result.returncode == 0, result.stderr
    (run,) = list(runs.iterdir())
    rows = history(run)
    train, plugins = assert_matches_history(run, rows)
    assert {"epoch_d_loss", "epoch_g_loss", "epoch_learning_rate"} <= set(train)
    assert not (run / "tensorboard" / "validation").exists()  # the recipe has no validation split
    histograms = {tag for tag, plugin in plugins.items() if plugin == "histograms"}
    model = keras.models.load_model(run / "model.keras", compile=False)
    for network in (model.generator, model.discriminator):
        for weight in network.weights:
            # Tags are the weights' paths in the GAN; a network loaded alone drops its own name.
            tag = weight.path if weight.path.startswith(f"{network.name}/") else f"{network.name}/{weight.path}"
            assert tag in histograms, tag
            (step1, first), (step2, last) = train[tag]
            assert (step1, step2) == (1, 2)
            # Buckets of [left, right, count]: they count every element of the weight.
            assert first[:, 2].sum() == np.prod(weight.shape)
            # The last histogram is of the saved weights.
            values = keras.ops.convert_to_numpy(weight)
            assert last[0, 0] <= values.min() and values.max() <= last[-1, 1]
