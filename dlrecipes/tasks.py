"""The task table: from the problem type to the output layer, the loss and the metrics.

This is the single source of truth for how a model ends. Builders never choose their own
head; they call `head_layers` and append what it returns.

| task       | output layer        | loss                                       | metrics        |
|------------|---------------------|--------------------------------------------|----------------|
| binary     | 1 unit, sigmoid     | binary cross-entropy                       | accuracy, AUC  |
| multiclass | N units, softmax    | sparse categorical CE (integer labels),    | accuracy       |
|            |                     | categorical CE (one-hot labels)            |                |
| multilabel | N units, sigmoid    | binary cross-entropy                       | accuracy, AUC  |
| regression | N units, linear     | mean squared error                         | MAE            |
| adversarial| discriminator:      | binary cross-entropy, real (1) vs          | d_loss, g_loss |
|            | 1 unit, sigmoid     | generated (0); labels unused               |                |

A recipe may restate the activation or the loss (to be explicit, or by mistake); a value
that contradicts the table is refused by `check_head` with the right pairing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    name: str
    activation: str  # of the output layer
    losses: dict[str, str]  # label encoding -> loss
    metrics: tuple[str, ...]
    single_unit: bool  # one output unit whatever the dataset says
    output_name: str  # the output's key in an exported model's signature
    pairing: str  # the right pairing, in words, for error messages

    def loss(self, labels: str) -> str:
        return self.losses[labels]


TASKS: dict[str, Task] = {
    "binary": Task(
        name="binary",
        activation="sigmoid",
        losses={"integer": "binary_crossentropy"},
        metrics=("accuracy", "auc"),
        single_unit=True,
        output_name="probabilities",
        pairing="binary classification uses 1 output unit with sigmoid and binary_crossentropy",
    ),
    "multiclass": Task(
        name="multiclass",
        activation="softmax",
        losses={
            "integer": "sparse_categorical_crossentropy",
            "one_hot": "categorical_crossentropy",
        },
        metrics=("accuracy",),
        single_unit=False,
        output_name="probabilities",
        pairing=(
            "multi-class classification uses N output units with softmax and "
            "sparse_categorical_crossentropy (integer labels) or categorical_crossentropy "
            "(one-hot labels)"
        ),
    ),
    "multilabel": Task(
        name="multilabel",
        activation="sigmoid",
        losses={"multi_hot": "binary_crossentropy"},
        metrics=("accuracy", "auc"),
        single_unit=False,
        output_name="probabilities",
        pairing="multi-label classification uses N output units with sigmoid and binary_crossentropy",
    ),
    "regression": Task(
        name="regression",
        activation="linear",
        losses={"values": "mean_squared_error"},
        metrics=("mae",),
        single_unit=False,
        output_name="predictions",
        pairing="regression uses a linear output layer (no activation) and mean_squared_error",
    ),
    # A GAN: the discriminator is a binary classifier of real vs generated images, so it
    # takes the binary head; the dataset's own labels play no part.
    "adversarial": Task(
        name="adversarial",
        activation="sigmoid",
        losses={"unused": "binary_crossentropy"},
        metrics=("d_loss", "g_loss"),
        single_unit=True,
        output_name="images",
        pairing=(
            "adversarial training (a GAN) gives the discriminator 1 output unit with sigmoid "
            "and binary_crossentropy, real vs generated"
        ),
    ),
}

TASK_NAMES = tuple(TASKS)
ACTIVATIONS = ("sigmoid", "softmax", "linear")
LOSSES = tuple(sorted({loss for task in TASKS.values() for loss in task.losses.values()}))
# Label encodings each task accepts; the first is the default.
LABEL_ENCODINGS = {name: tuple(task.losses) for name, task in TASKS.items()}


def check_head(
    task_name: str, labels: str, activation: str | None, loss: str | None
) -> list[str]:
    """Problems with a recipe's restated head; an empty list when it agrees with the table."""
    task = TASKS[task_name]
    problems = []
    if labels not in task.losses:
        allowed = ", ".join(task.losses)
        problems.append(
            f"labels '{labels}' do not fit a {task_name} task (allowed: {allowed}); {task.pairing}."
        )
        return problems
    if activation is not None and activation != task.activation:
        hint = ""
        if task_name == "multiclass" and activation == "sigmoid":
            hint = " (independent sigmoid outputs, one per label, are task type 'multilabel')"
        problems.append(
            f"activation '{activation}' contradicts task '{task_name}': {task.pairing}{hint}."
        )
    if loss is not None and loss != task.loss(labels):
        problems.append(f"loss '{loss}' contradicts task '{task_name}': {task.pairing}.")
    return problems


def check_outputs(task_name: str, num_outputs: int) -> str | None:
    """A problem when the dataset's number of classes does not fit the task, else None."""
    if task_name == "binary" and num_outputs > 2:
        return (
            f"task 'binary' needs a dataset with 2 classes, this one has {num_outputs}: "
            "use task type 'multiclass' (softmax) for one label out of N, "
            "or 'multilabel' (sigmoid per class) for several labels at once"
        )
    if task_name == "adversarial":
        return None  # the labels are not used
    if task_name in ("multiclass", "multilabel") and num_outputs < 2:
        return f"task '{task_name}' needs at least 2 classes, the dataset has {num_outputs}"
    return None


def output_units(task_name: str, num_outputs: int) -> int:
    """Units of the output layer: 1 for binary, else N from the dataset's metadata."""
    return 1 if TASKS[task_name].single_unit else num_outputs


class Head(list):
    """The output layers of a task, in order: builders append them after their network.

    A list, so `[*body, *head]` and `for layer in head` read as before; `named(name)`
    gives a fresh copy for a second classifier (GoogLeNet's auxiliary heads).
    """

    def __init__(self, task_name: str, num_outputs: int, name: str = "head"):
        super().__init__(_output_layers(task_name, num_outputs, name))
        self.task_name, self.num_outputs = task_name, num_outputs

    def named(self, name: str) -> "Head":
        return Head(self.task_name, self.num_outputs, name)


def head_layers(task_name: str, num_outputs: int, name: str = "head") -> Head:
    """The output layers for a task: a Dense layer and, unless linear, its activation."""
    return Head(task_name, num_outputs, name)


def _output_layers(task_name: str, num_outputs: int, name: str) -> list:
    """The activation is a separate layer (as in the Keras Sequential examples) and is kept in
    float32, so a model trained under mixed precision still returns float32 probabilities.
    """
    import keras

    task = TASKS[task_name]
    layers = [keras.layers.Dense(output_units(task_name, num_outputs), name=f"{name}_dense")]
    if task.activation == "softmax":
        layers.append(keras.layers.Softmax(name=f"{name}_softmax", dtype="float32"))
    elif task.activation == "sigmoid":
        layers.append(keras.layers.Activation("sigmoid", name=f"{name}_sigmoid", dtype="float32"))
    else:
        layers.append(keras.layers.Activation("linear", name=f"{name}_linear", dtype="float32"))
    return layers


def loss_object(task_name: str, labels: str, label_smoothing: float = 0.0):
    """The Keras loss for a task and label encoding, optionally with smoothed targets."""
    import keras

    name = TASKS[task_name].loss(labels)
    if not label_smoothing:
        return keras.losses.get(name)
    if name == "categorical_crossentropy":
        return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
    if name == "binary_crossentropy":
        return keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing)
    raise ValueError(f"{name} has no label smoothing; multiclass smoothing needs one-hot labels")


def metric_objects(task_name: str, labels: str) -> list:
    """The default metrics of a task, named so that logs read `accuracy`, `auc`, `mae`."""
    import keras

    if task_name == "multiclass":
        accuracy = (
            keras.metrics.SparseCategoricalAccuracy(name="accuracy")
            if labels == "integer"
            else keras.metrics.CategoricalAccuracy(name="accuracy")
        )
        return [accuracy]
    if task_name == "binary":
        return [keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")]
    if task_name == "multilabel":
        return [
            keras.metrics.BinaryAccuracy(name="accuracy"),
            keras.metrics.AUC(name="auc", multi_label=True),
        ]
    if task_name == "adversarial":
        return []  # the GAN model tracks d_loss and g_loss itself
    return [keras.metrics.MeanAbsoluteError(name="mae")]


def main_metric(task_name: str) -> str:
    """The metric that recipes state their target in and that curves.png plots."""
    return TASKS[task_name].metrics[0]


def lower_is_better(metric: str) -> bool:
    """Losses and errors improve downwards; accuracy and AUC upwards."""
    return metric.removeprefix("val_").endswith(("loss", "mae", "mse", "error"))


def curves(task_name: str) -> tuple[str, str]:
    """The two quantities curves.png plots per epoch."""
    if task_name == "adversarial":
        return ("d_loss", "g_loss")
    return ("loss", main_metric(task_name))
