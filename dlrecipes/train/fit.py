"""Train a recipe: data -> model -> fit -> run directory.

Everything that can be wrong with the input (the dataset, its splits, the head) is checked
before the run directory exists, so bad input never leaves a run behind. Once training has
started, a failure or Ctrl-C marks the run `failed` / `interrupted`, never `complete`.
"""

from __future__ import annotations

import dataclasses
import math
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import yaml
from rich.console import Console

from dlrecipes import runs, tasks
from dlrecipes.data import get_source
from dlrecipes.data.augment import augmenter, build_layers
from dlrecipes.data.pipeline import batched, label_transform


@dataclasses.dataclass
class Prepared:
    """A recipe made concrete: its data pipelines, the model and the training settings."""

    recipe: object
    source: object
    signature: object
    datasets: dict  # role -> batched tf.data.Dataset
    steps_per_epoch: int | None
    train_examples: int | None
    batch_size: int  # global: train.batch_size per replica
    train_inputs: object = None  # the training split's model inputs, batched, for `adapt`


def label_encoding(recipe) -> str:
    """The labels the loss sees: one-hot when label smoothing or mixup / cutmix make them soft."""
    from dlrecipes.data.augment import soft_labels

    if recipe.task.type == "multiclass" and (recipe.train.label_smoothing or soft_labels(recipe.train.augment)):
        return "one_hot"
    return recipe.task.label_encoding


def prepare_data(recipe, roles=("train", "validation", "test"), replicas: int = 1) -> Prepared:
    """Load the recipe's splits and wrap them in the input pipeline.

    Batches are global: `train.batch_size` examples per replica.
    """
    batch_size = recipe.train.batch_size * replicas
    source = get_source(recipe.data)
    raw = source.load()
    signature = source.train_signature()
    targets = label_transform(recipe.task.type, label_encoding(recipe), signature.num_outputs)
    augment = None
    if recipe.train.augment:
        augment = augmenter(build_layers(recipe.train.augment, tuple(signature.input_shape), recipe.train.seed))
    datasets = {
        role: batched(
            ds,
            preprocess=source.preprocess,
            targets=targets,
            batch_size=batch_size,
            training=role == "train",
            seed=recipe.train.seed,
            shuffle_buffer=recipe.train.shuffle_buffer,
            cache=recipe.train.cache,
            augment=augment,
        )
        for role, ds in raw.items()
        if role in roles
    }
    steps = n = None
    if "train" in raw:
        n = int(raw["train"].cardinality())
        n = n if n > 0 else None
        steps = math.ceil(n / batch_size) if n else None
    train_inputs = None
    if "train" in raw:
        train_inputs = raw["train"].map(lambda x, y: x).batch(1024).map(source.preprocess)
    return Prepared(recipe, source, signature, datasets, steps, n, batch_size, train_inputs)


def adapt_preprocessing(model, inputs) -> list[str]:
    """Fit the model's data-dependent layers (a vocabulary, a mean and variance) on `inputs`.

    Called with the training split only: statistics from validation or test data would leak
    them into training. The layers must read the model's inputs directly. Returns the names
    of the layers adapted.
    """
    import keras

    adapted = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.TextVectorization) or (
            isinstance(layer, keras.layers.Normalization) and layer.input_mean is None
        ):
            layer.adapt(inputs)
            adapted.append(layer.name)
    return adapted


def compile_model(
    model, recipe, steps_per_epoch: int | None, replicas: int = 1, constant_rate: float | None = None
) -> None:
    """Compile with the recipe's optimizer and schedule and the task's loss and metrics.

    A model with auxiliary outputs gets the task's loss on each, weighted as the builder
    says, and the metrics on the main output only. `constant_rate` replaces the schedule
    (fine-tuning's second phase).
    """
    from dlrecipes.models.common import MAIN_OUTPUT, auxiliary_weights
    from dlrecipes.train.optimizers import build_optimizer
    from dlrecipes.train.schedules import build_schedule

    train = recipe.train
    peak = train.optimizer.learning_rate if constant_rate is None else constant_rate
    if recipe.runtime.scale_learning_rate:
        peak *= replicas  # linear scaling rule: the global batch grew by this factor
    learning_rate = peak
    if constant_rate is None:
        learning_rate = build_schedule(train.schedule, peak, steps_per_epoch or 1, train.epochs)
    loss = tasks.loss_object(recipe.task.type, label_encoding(recipe), train.label_smoothing)
    metrics = tasks.metric_objects(recipe.task.type, label_encoding(recipe))
    loss_weights = None
    auxiliary = auxiliary_weights(model)
    if auxiliary:
        loss_weights = {MAIN_OUTPUT: 1.0, **auxiliary}
        loss = {key: loss for key in loss_weights}
        metrics = {MAIN_OUTPUT: metrics}
    model.compile(
        optimizer=build_optimizer(train.optimizer, learning_rate),
        loss=loss,
        loss_weights=loss_weights,
        metrics=metrics,
        jit_compile=recipe.runtime.jit_compile,
        steps_per_execution=recipe.runtime.steps_per_execution,
    )


def environment() -> dict:
    import tensorflow as tf

    versions = {"python": platform.python_version()}
    for package in ("dlrecipes", "tensorflow", "keras", "tensorflow-datasets", "numpy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    devices = [f"{d.device_type}:{d.name}" for d in tf.config.list_physical_devices()]
    return {"versions": versions, "platform": platform.platform(), "devices": devices, "argv": sys.argv}


def train(recipe, *, runs_dir: Path, console: Console | None = None) -> Path:
    """Train `recipe` into a new run directory under `runs_dir`; returns the run's path."""
    import keras

    from dlrecipes.models import build_model
    from dlrecipes.models.common import auxiliary_weights, inference_model
    from dlrecipes.train import runtime as runtime_lib
    from dlrecipes.train.callbacks import RichProgress, RunHistory
    from dlrecipes.train.initializers import apply_initializers
    from dlrecipes.train.regularizers import apply_regularizers

    console = console or Console(stderr=True)
    runtime = runtime_lib.setup(recipe.runtime)
    keras.utils.set_random_seed(recipe.train.seed)
    data = prepare_data(recipe, replicas=runtime.replicas)
    with runtime.strategy.scope():
        model = build_model(recipe, data.signature)
        adapt_preprocessing(model, data.train_inputs)
        apply_initializers(model, recipe.train.init, recipe.train.seed)
        apply_regularizers(model, recipe.train.regularizer)
        transferred = start_from(model, recipe, runs_dir)
        compile_model(model, recipe, data.steps_per_epoch, runtime.replicas)
    extra_callbacks = training_callbacks(recipe, has_validation="validation" in data.datasets)

    run = runs.create(runs_dir, recipe.name)
    runs.update(
        run, seed=recipe.train.seed, epochs=recipe.train.epochs,
        runtime={**runtime.record(), "jit_compile": model.jit_compile,
                 "steps_per_execution": recipe.runtime.steps_per_execution,
                 "global_batch_size": data.batch_size},
        **transferred,
    )
    for note in runtime.notes:
        console.print(f"[yellow]note:[/] {note}")
    try:
        runs.write_atomic(run / "recipe.yaml", yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False))
        runs.write_json(run / "signature.json", dataclasses.asdict(data.signature))
        runs.write_json(run / "env.json", environment())
        console.print(f"[bold]{recipe.name}[/]: {recipe.description} -> {run}")
        history = RunHistory(run, data.train_examples)
        fit_data = {role: with_targets_for(model, ds) for role, ds in data.datasets.items()}
        fine_tune = recipe.train.fine_tune
        total_epochs = recipe.train.epochs + (fine_tune.epochs if fine_tune else 0)
        callbacks = [*extra_callbacks, RichProgress(total_epochs, data.steps_per_epoch, console), history]
        started = time.perf_counter()
        model.fit(
            fit_data["train"],
            validation_data=fit_data.get("validation"),
            epochs=recipe.train.epochs,
            shuffle=False,  # the pipeline shuffles; Keras would only warn it cannot
            verbose=0,
            callbacks=callbacks,
        )
        if fine_tune:
            # Second phase: every layer trainable, a low constant rate; compiling again is
            # what makes the new trainable flags take effect.
            from dlrecipes.train.transfer import unfreeze

            unfreeze(model)
            with runtime.strategy.scope():
                compile_model(model, recipe, data.steps_per_epoch, runtime.replicas, constant_rate=fine_tune.learning_rate)
            model.fit(
                fit_data["train"], validation_data=fit_data.get("validation"), shuffle=False, verbose=0,
                initial_epoch=len(history.rows), epochs=len(history.rows) + fine_tune.epochs, callbacks=callbacks,
            )
        train_seconds = time.perf_counter() - started
        if auxiliary_weights(model):
            with runtime.strategy.scope():
                model = inference_model(model)
                compile_model(model, recipe, data.steps_per_epoch, runtime.replicas)
                # Built, so the saved optimizer matches the one load_model recreates.
                model.optimizer.build(model.trainable_variables)
        test = model.evaluate(data.datasets["test"], verbose=0, return_dict=True)
        save_results(run, recipe, model, history.rows, test)
        runs.update(run, status=runs.COMPLETE, finished=runs.utc_now(), train_seconds=round(train_seconds, 2))
    except KeyboardInterrupt:
        runs.update(run, status="interrupted", finished=runs.utc_now())
        console.print(f"run {run} marked interrupted")
        raise
    except BaseException as err:
        runs.update(run, status="failed", finished=runs.utc_now(), error=f"{type(err).__name__}: {err}")
        raise
    return run


def start_from(model, recipe, runs_dir: Path) -> dict:
    """Copy a trained run's weights (`model.init_from`) and freeze layers (`model.freeze`).

    Returns what run.json records about it.
    """
    from dlrecipes.train.transfer import freeze, load_weights_from

    record = {}
    if recipe.model.init_from:
        source = runs.find_run(recipe.model.init_from, runs_dir)
        record["init_from"] = {"run": str(source), "layers": load_weights_from(model, source)}
    if recipe.model.freeze:
        record["frozen"] = freeze(model, recipe.model.freeze)
    return record


def training_callbacks(recipe, has_validation: bool) -> list:
    """The schedule's and early stopping's callbacks; checked before any run exists."""
    from dlrecipes.errors import RecipeError
    from dlrecipes.train.early_stopping import early_stopping_callback
    from dlrecipes.train.schedules import schedule_callbacks

    train = recipe.train
    watched = []
    if train.schedule.name == "plateau":
        watched.append(("train.schedule.monitor", train.schedule.monitor))
    if train.early_stopping:
        watched.append(("train.early_stopping.monitor", train.early_stopping.monitor))
    for where, monitor in watched:
        if monitor.startswith("val_") and not has_validation:
            raise RecipeError(
                f"{where} is '{monitor}', but the recipe has no validation split to compute it on.",
                where=where,
                fix="add a validation split to data (e.g. splits.validation) or watch a training quantity",
            )
    callbacks = schedule_callbacks(train.schedule)
    if train.early_stopping:
        callbacks.append(early_stopping_callback(train.early_stopping))
    return callbacks


def with_targets_for(model, dataset):
    """The dataset with its labels repeated for each output of a multi-output model."""
    from dlrecipes.models.common import MAIN_OUTPUT, auxiliary_weights

    keys = [MAIN_OUTPUT, *auxiliary_weights(model)]
    if len(keys) == 1:
        return dataset
    return dataset.map(lambda x, y: (x, {key: y for key in keys}))


def save_results(run: Path, recipe, model, history: list[dict], test: dict) -> None:
    """Write model.keras, metrics.json and curves.png into the run, each atomically."""
    from dlrecipes.plots import plot_curves

    last = history[-1]
    timing = ("epoch", "epoch_seconds", "examples_per_second")
    metrics = {
        "train": {k: v for k, v in last.items() if k not in timing and not k.startswith("val_")},
        "validation": {k[4:]: v for k, v in last.items() if k.startswith("val_")} or None,
        "test": {k: float(v) for k, v in test.items()},
        "epochs": len(history),
        "weights_sha256": weights_fingerprint(model),
    }
    model.save(run / ".model.tmp.keras")  # Keras insists on the .keras suffix
    (run / ".model.tmp.keras").replace(run / "model.keras")
    runs.write_json(run / "metrics.json", metrics)
    plot_curves(history, tasks.curves(recipe.task.type), run / "curves.png", recipe.name)
    if recipe.task.type == "adversarial":
        from dlrecipes.sample import write_samples

        write_samples(model, run / "samples.png", n=64, seed=recipe.train.seed)


def weights_fingerprint(model) -> str:
    """sha256 of all weights, in order: equal fingerprints mean bit-identical models."""
    import hashlib

    import numpy as np

    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()


def evaluate(run: Path) -> dict:
    """Test-split metrics of a run's saved model, computed afresh."""
    recipe, _, model = runs.load_trained(run)
    data = prepare_data(recipe, roles=("test",))
    compile_model(model, recipe, data.steps_per_epoch)
    results = model.evaluate(data.datasets["test"], verbose=0, return_dict=True)
    return {k: float(v) for k, v in results.items()}
