"""The problem types: from the task to the output layer, the loss, the metrics and the checks.

Each problem type is one class here, and this is the only module that knows the names:
everything else asks the recipe's task object (`tasks.get(recipe.task.type)`) what to do -
which head to append, which loss and metrics to compile, what the training logs, how labels
become targets, how a prediction reads, and what a recipe may not ask of it. A new problem
type is one more class.

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

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a recipe: the key path it is at, and what to do about it."""

    path: tuple
    message: str


class Task:
    """A problem type. Subclasses set the class attributes and override what differs."""

    name: ClassVar[str]
    activation: ClassVar[str]  # of the output layer
    losses: ClassVar[dict[str, str]]  # label encoding -> loss; the first is the default
    metrics: ClassVar[tuple[str, ...]]
    output_name: ClassVar[str] = "probabilities"  # the output's key in an exported model
    pairing: ClassVar[str]  # the right pairing, in words, for error messages
    single_unit: ClassVar[bool] = False  # one output unit whatever the dataset says
    has_classes: ClassVar[bool] = True  # labels name classes (data.classes, label smoothing)
    one_label_per_example: ClassVar[bool] = True  # a label is one class id (balance, class weights)
    generative: ClassVar[bool] = False  # the model draws samples rather than predicting labels
    # Its validation metrics judge a model, so k-fold cross-validation can compare them.
    cross_validates: ClassVar[bool] = True
    label_kinds: ClassVar[tuple[str, ...] | None] = ("class_ids",)  # what a label may be (Signature.labels)
    # The kind of evaluation report `evaluate` writes (a key of reports.KINDS); None: no report.
    report: ClassVar[str | None] = None

    # --- the head and the loss ------------------------------------------------------------

    @property
    def label_encodings(self) -> tuple[str, ...]:
        return tuple(self.losses)

    def loss(self, labels: str) -> str:
        return self.losses[labels]

    def units(self, num_outputs: int) -> int:
        """Units of the output layer: 1 for binary, else N from the dataset's metadata."""
        return 1 if self.single_unit else num_outputs

    def head(self, num_outputs: int, name: str = "head") -> "Head":
        return Head(self, num_outputs, name)

    def loss_object(self, labels: str, label_smoothing: float = 0.0):
        """The Keras loss for a label encoding, optionally with smoothed targets."""
        import keras

        name = self.loss(labels)
        if not label_smoothing:
            return keras.losses.get(name)
        if name == "categorical_crossentropy":
            return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
        if name == "binary_crossentropy":
            return keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing)
        raise ValueError(f"{name} has no label smoothing; multiclass smoothing needs one-hot labels")

    def metric_objects(self, labels: str) -> list:
        """The task's metrics, named so that logs read `accuracy`, `auc`, `mae`."""
        raise NotImplementedError

    def training_labels(self, labels: str, soft: bool) -> str:
        """The encoding the loss sees; `soft`: label smoothing or mixup / cutmix blend targets."""
        return labels

    def targets(self, labels: str, num_outputs: int) -> Callable:
        """How a raw label tensor becomes the target of the loss: float, shaped as the output."""
        import tensorflow as tf

        def transform(y):
            y = tf.cast(y, tf.float32)
            # Targets take the shape of the output, (batch, units), so the loss never broadcasts.
            return tf.reshape(y, (-1, 1)) if y.shape.rank == 1 else y

        return transform

    # --- what training logs and plots -------------------------------------------------------

    @property
    def main_metric(self) -> str:
        """The metric recipes state their target in and curves.png plots."""
        return self.metrics[0]

    @property
    def logged(self) -> tuple[str, ...]:
        """The quantities each epoch logs (and early stopping or a plateau may watch)."""
        return ("loss", *self.metrics)

    @property
    def curves(self) -> tuple[str, str]:
        return ("loss", self.main_metric)

    # --- predictions --------------------------------------------------------------------

    def prediction(self, scores, class_names: list[str], top: int) -> dict:
        """One model output as `predict` shows it: the top classes and their probabilities."""
        import numpy as np

        scores = self.class_scores(np.asarray(scores, dtype="float64"))
        order = np.argsort(-scores, kind="stable")[:top]
        return {"label": class_names[order[0]], "probability": float(scores[order[0]]),
                "top": [{"label": class_names[i], "class": int(i), "probability": float(scores[i])} for i in order]}

    def class_scores(self, outputs):
        """A score per class from the model's output row (NumPy or TensorFlow): the output itself."""
        return outputs

    # --- what an export's outputs say -----------------------------------------------------

    def output_meaning(self, class_names: list[str] | None) -> str:
        """The model's output in words, for an export's metadata and the README."""
        return "the probability of each class, in the order of `classes`; they sum to 1"

    def serving_outputs(self, outputs, class_names: list[str]) -> dict:
        """Outputs a server returns besides the model's: `classes`, every class name ranked by
        its score (highest first), and `scores`, those scores. TensorFlow ops, so they are
        part of the exported graph. Nothing for a task without classes."""
        if not self.has_classes:
            return {}
        import tensorflow as tf

        scores = self.class_scores(outputs)
        ranked = tf.math.top_k(scores, k=len(class_names))
        return {"classes": tf.gather(tf.constant(class_names), ranked.indices), "scores": ranked.values}

    def serving_output_notes(self, class_names: list[str] | None) -> list[dict]:
        if not self.has_classes:
            return []
        n = len(class_names or [])
        return [{"name": "classes", "shape": [None, n], "dtype": "string",
                 "means": "every class name, ranked by score, highest first"},
                {"name": "scores", "shape": [None, n], "dtype": "float32",
                 "means": "the score of each name in `classes`"}]

    # --- checks -----------------------------------------------------------------------------

    def check_head(self, labels: str, activation: str | None, loss: str | None) -> list[str]:
        """Problems with a recipe's restated head; an empty list when it agrees with the table."""
        if labels not in self.losses:
            allowed = ", ".join(self.losses)
            return [f"labels '{labels}' do not fit a {self.name} task (allowed: {allowed}); {self.pairing}."]
        problems = []
        if activation is not None and activation != self.activation:
            problems.append(f"activation '{activation}' contradicts task '{self.name}': {self.pairing}{self._hint(activation)}.")
        if loss is not None and loss != self.loss(labels):
            other = [encoding for encoding, name in self.losses.items() if name == loss]
            if other:  # the right loss for this task, with another label encoding
                problems.append(f"loss '{loss}' is for {other[0]} labels; with labels '{labels}' task "
                                f"'{self.name}' uses '{self.loss(labels)}' (set task.labels: {other[0]}, "
                                "or leave task.loss out).")
            else:
                problems.append(f"loss '{loss}' contradicts task '{self.name}': {self.pairing}.")
        return problems

    def _hint(self, activation: str) -> str:
        return ""

    def check_outputs(self, num_outputs: int) -> str | None:
        """A problem when the dataset's number of classes does not fit the task, else None."""
        if self.has_classes and num_outputs < 2:
            return f"task '{self.name}' needs at least 2 classes, the dataset has {num_outputs}"
        return None

    def check_recipe(self, recipe) -> list[Problem]:
        """What this task cannot do with the recipe's other sections (no data needed)."""
        problems = [Problem(("task", key), message) for key, message in self._head_problems(recipe.task)]
        train = recipe.train
        if train.label_smoothing and not self.has_classes:
            problems.append(Problem(("train", "label_smoothing"),
                                    f"label_smoothing smooths class labels; task '{self.name}' has none (set it to 0)"))
        if train.class_weight != "none" and not self.one_label_per_example:
            problems.append(Problem(("train", "class_weight"),
                                    f"class_weight weighs classes; task '{self.name}' has none (set it to none)"))
        if recipe.target is not None and recipe.target.metric not in self.metrics:
            from dlrecipes.errors import did_you_mean

            problems.append(Problem(("target", "metric"), (
                f"metric '{recipe.target.metric}' is not reported for task '{self.name}' "
                f"(allowed: {', '.join(self.metrics)}).{did_you_mean(recipe.target.metric, self.metrics)}"
            )))
        return problems

    def _head_problems(self, section) -> list[tuple[str, str]]:
        labels = section.labels or self.label_encodings[0]
        if section.labels is not None and labels not in self.losses:
            return [("labels", self.check_head(labels, None, None)[0])]
        found = [("activation", p) for p in self.check_head(labels, section.activation, None)]
        return found + [("loss", p) for p in self.check_head(labels, None, section.loss)]


class Binary(Task):
    name = "binary"
    report = "binary"
    activation = "sigmoid"
    losses = {"integer": "binary_crossentropy"}
    metrics = ("accuracy", "auc")
    single_unit = True
    pairing = "binary classification uses 1 output unit with sigmoid and binary_crossentropy"

    def metric_objects(self, labels: str) -> list:
        import keras

        return [keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")]

    def check_outputs(self, num_outputs: int) -> str | None:
        if num_outputs != 2:
            return (
                f"task 'binary' needs a dataset with 2 classes, this one has {num_outputs}: "
                "use task type 'multiclass' (softmax) for one label out of N, "
                "or 'multilabel' (sigmoid per class) for several labels at once, "
                "or keep two classes with data.classes"
            )
        return None

    def class_scores(self, outputs):
        """The one sigmoid unit is the probability of the second class (the positive one,
        label 1); the first class's is 1 - p."""
        p = outputs[..., 0:1]
        if type(outputs).__module__.startswith("numpy"):
            import numpy as np

            return np.concatenate([1 - p, p], axis=-1)
        import tensorflow as tf

        return tf.concat([1 - p, p], axis=-1)

    def output_meaning(self, class_names: list[str] | None) -> str:
        negative, positive = class_names
        return f"the probability of class '{positive}' (label 1); the probability of '{negative}' is 1 - p"


class Multiclass(Task):
    name = "multiclass"
    report = "classification"
    activation = "softmax"
    losses = {"integer": "sparse_categorical_crossentropy", "one_hot": "categorical_crossentropy"}
    metrics = ("accuracy",)
    pairing = (
        "multi-class classification uses N output units with softmax and "
        "sparse_categorical_crossentropy (integer labels) or categorical_crossentropy "
        "(one-hot labels)"
    )

    def metric_objects(self, labels: str) -> list:
        import keras

        if labels == "integer":
            return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        return [keras.metrics.CategoricalAccuracy(name="accuracy")]

    def training_labels(self, labels: str, soft: bool) -> str:
        # Soft targets are a distribution over the classes, so the loss needs one-hot labels.
        return "one_hot" if soft else labels

    def targets(self, labels: str, num_outputs: int) -> Callable:
        import tensorflow as tf

        def transform(y):
            if labels == "one_hot" and y.shape.rank == 1:
                return tf.one_hot(tf.cast(y, tf.int32), num_outputs)
            return y

        return transform

    def check_recipe(self, recipe) -> list[Problem]:
        problems = super().check_recipe(recipe)
        section = recipe.task
        if recipe.train.soft_targets and (section.labels == "integer" or section.loss == self.losses["integer"]):
            key = "labels" if section.labels == "integer" else "loss"
            problems.append(Problem(("task", key), (
                "label smoothing, mixup and cutmix make soft targets, which need one-hot labels and "
                "categorical_crossentropy; leave task.labels and task.loss out (they follow), or set "
                "labels: one_hot")))
        return problems

    def _hint(self, activation: str) -> str:
        if activation == "sigmoid":
            return " (independent sigmoid outputs, one per label, are task type 'multilabel')"
        return ""


class Multilabel(Task):
    name = "multilabel"
    report = "multilabel"
    activation = "sigmoid"
    losses = {"multi_hot": "binary_crossentropy"}
    metrics = ("accuracy", "auc")
    one_label_per_example = False
    label_kinds = ("multi_hot",)
    pairing = "multi-label classification uses N output units with sigmoid and binary_crossentropy"

    def metric_objects(self, labels: str) -> list:
        import keras

        return [keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc", multi_label=True)]

    def prediction(self, scores, class_names: list[str], top: int) -> dict:
        shown = super().prediction(scores, class_names, top)
        shown["labels"] = [name for name, p in zip(class_names, scores) if p >= 0.5]
        return shown

    def output_meaning(self, class_names: list[str] | None) -> str:
        return "the probability of each label, in the order of `classes`, each on its own (a label applies at p >= 0.5)"


class Regression(Task):
    name = "regression"
    report = "regression"
    activation = "linear"
    losses = {"values": "mean_squared_error"}
    metrics = ("mae",)
    output_name = "predictions"
    has_classes = False
    one_label_per_example = False
    label_kinds = ("values", "class_ids")  # class ids are numbers too
    pairing = "regression uses a linear output layer (no activation) and mean_squared_error"

    def metric_objects(self, labels: str) -> list:
        import keras

        return [keras.metrics.MeanAbsoluteError(name="mae")]

    def prediction(self, scores, class_names: list[str], top: int) -> dict:
        return {"predictions": [float(v) for v in scores]}

    def output_meaning(self, class_names: list[str] | None) -> str:
        return "the predicted value of each target, on the targets' own scale"


class Adversarial(Task):
    """A GAN: the discriminator is a binary classifier of real vs generated images, so it
    takes the binary head; the dataset's own labels play no part."""

    name = "adversarial"
    activation = "sigmoid"
    losses = {"unused": "binary_crossentropy"}
    metrics = ("d_loss", "g_loss")
    output_name = "images"
    single_unit = True
    has_classes = False
    one_label_per_example = False
    generative = True
    cross_validates = False  # d_loss and g_loss on held-out images do not score the samples
    label_kinds = None  # the labels are not used
    pairing = (
        "adversarial training (a GAN) gives the discriminator 1 output unit with sigmoid "
        "and binary_crossentropy, real vs generated"
    )

    def metric_objects(self, labels: str) -> list:
        return []  # the GAN model tracks d_loss and g_loss itself

    @property
    def logged(self) -> tuple[str, ...]:
        return self.metrics  # no single loss: one per network

    @property
    def curves(self) -> tuple[str, str]:
        return ("d_loss", "g_loss")

    def check_outputs(self, num_outputs: int) -> str | None:
        return None  # the labels are not used

    def check_recipe(self, recipe) -> list[Problem]:
        problems = super().check_recipe(recipe)
        if recipe.train.optimizer.use_ema:
            problems.append(Problem(("train", "optimizer", "use_ema"),
                                    "use_ema averages one network's weights; a GAN trains two (set it to false)"))
        if recipe.model.freeze:
            problems.append(Problem(("model", "freeze"),
                                    "model.freeze keeps a classifier's layers fixed; a GAN's generator and "
                                    "discriminator must both train (remove model.freeze)"))
        if recipe.train.fine_tune:
            problems.append(Problem(("train", "fine_tune"),
                                    "fine_tune unfreezes a frozen classifier; a GAN has nothing frozen (remove it)"))
        if recipe.model.normalize != "none":
            problems.append(Problem(("model", "normalize"),
                                    "model.normalize is not for a GAN: its generator must draw images on the "
                                    "data's own scale (remove model.normalize)"))
        return problems

    def prediction(self, scores, class_names: list[str], top: int) -> dict:
        raise TypeError("a GAN generates images; it does not predict")

    def output_meaning(self, class_names: list[str] | None) -> str:
        return "generated images, pixels in [0, 1]"


TASKS: dict[str, Task] = {task.name: task for task in (Binary(), Multiclass(), Multilabel(), Regression(), Adversarial())}
TASK_NAMES = tuple(TASKS)
ACTIVATIONS = ("sigmoid", "softmax", "linear")
LOSSES = tuple(sorted({loss for task in TASKS.values() for loss in task.losses.values()}))
LABELS = tuple(dict.fromkeys(labels for task in TASKS.values() for labels in task.losses))


def get(name: str) -> Task:
    """The task object of a recipe's `task.type` (validated by the schema already)."""
    return TASKS[name]


def lower_is_better(metric: str) -> bool:
    """Losses and errors improve downwards; accuracy and AUC upwards."""
    return metric.removeprefix("val_").endswith(("loss", "mae", "mse", "error"))


class Head(list):
    """The output layers of a task, in order: builders append them after their network.

    A list, so `[*body, *head]` and `for layer in head` read as before; `named(name)`
    gives a fresh copy for a second classifier (GoogLeNet's auxiliary heads).
    """

    def __init__(self, task: Task, num_outputs: int, name: str = "head"):
        super().__init__(_output_layers(task, num_outputs, name))
        self.task, self.num_outputs = task, num_outputs

    def named(self, name: str) -> "Head":
        return Head(self.task, self.num_outputs, name)


def _output_layers(task: Task, num_outputs: int, name: str) -> list:
    """The activation is a separate layer (as in the Keras Sequential examples) and is kept in
    float32, so a model trained under mixed precision still returns float32 probabilities.
    """
    import keras

    layers = [keras.layers.Dense(task.units(num_outputs), name=f"{name}_dense")]
    if task.activation == "softmax":
        layers.append(keras.layers.Softmax(name=f"{name}_softmax", dtype="float32"))
    else:
        layers.append(keras.layers.Activation(task.activation, name=f"{name}_{task.activation}", dtype="float32"))
    return layers
