"""The recipe schema: its sections as pydantic classes, and the JSON Schema made from them.

A recipe is YAML with a name, a one-line description, an optional stated target and four
sections: `task`, `data`, `model`, `train` (and `runtime`), and optionally the `search` space
of `dlrecipes tune` (`dlrecipes.search`). The `data` and `model` sections are
whatever the chosen source and architecture declare (see `dlrecipes.data` and
`dlrecipes.models`), so a new architecture brings its own options without touching this file.

This module declares shapes, types and ranges only. Checks that relate one section to another
(the task's head, a watched metric, the architecture's inputs against the data's) are in
`dlrecipes.checks`; reading files and `--set` overrides are in `dlrecipes.loader`. It imports
no training code: the train and runtime options are in `dlrecipes.options`.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, PositiveInt, field_validator

import dlrecipes.data  # noqa: F401  (registers the sources)
import dlrecipes.models  # noqa: F401  (registers the architectures)
from dlrecipes import tasks
from dlrecipes.data.registry import source_options
from dlrecipes.models.registry import _MODELS
from dlrecipes.options import (
    AugmentStep,
    EarlyStoppingOptions,
    FineTuneOptions,
    InitOptions,
    OptimizerOptions,
    RegularizerOptions,
    RuntimeOptions,
    SOFT_LABELS,
    ScheduleOptions,
    TensorBoardOptions,
)
from dlrecipes.schema import Section, Seed
from dlrecipes.search import MAX_DIMENSIONS, SearchSpace

# --- schema -----------------------------------------------------------------------------


class TaskSection(Section):
    type: Literal[tasks.TASK_NAMES] = Field(..., description="The problem type; it decides head, loss and metrics.")
    labels: Literal[tasks.LABELS] | None = Field(
        None, description="Label encoding; the task's default (integer for classification) when omitted."
    )
    activation: Literal[tasks.ACTIVATIONS] | None = Field(
        None, description="Output activation. Only restates the task table; a contradiction is an error."
    )
    loss: Literal[tasks.LOSSES] | None = Field(
        None, description="Loss. Only restates the task table; a contradiction is an error."
    )

    @property
    def problem(self) -> tasks.Task:
        """The task object: head, loss, metrics, targets and checks of this problem type."""
        return tasks.get(self.type)

    @property
    def label_encoding(self) -> str:
        return self.labels or self.problem.label_encodings[0]


class TargetSection(Section):
    metric: str = Field(..., description="A metric of the task (accuracy, auc, mae), on the test split.")
    value: float = Field(..., description="The value the recipe is expected to reach (at most, for errors and losses).")
    epochs: PositiveInt | None = Field(None, description="Within this many epochs (the recipe's own by default).")

    def reached(self, value: float) -> bool:
        return value <= self.value if tasks.lower_is_better(self.metric) else value >= self.value

    def __str__(self) -> str:
        return f"{self.metric} {'<=' if tasks.lower_is_better(self.metric) else '>='} {self.value}"


class TrainSection(Section):
    epochs: int = Field(10, ge=1, le=100_000)
    batch_size: int = Field(128, ge=1, le=1 << 20)
    optimizer: OptimizerOptions = OptimizerOptions()
    schedule: ScheduleOptions = ScheduleOptions()
    seed: Seed = Field(0, description="Seeds Python, NumPy and TensorFlow, and the shuffling (below 2**32, NumPy's limit).")
    shuffle_buffer: int = Field(10_000, ge=1, description="Examples held by the training shuffle buffer.")
    cache: bool = Field(True, description="Cache the decoded dataset in memory after the first epoch.")
    init: InitOptions = Field(InitOptions(), description="Initializers of the kernels (all, or per layer type).")
    regularizer: RegularizerOptions = Field(RegularizerOptions(), description="L1 / L2 penalties on every kernel.")
    label_smoothing: float = Field(
        0.0, ge=0.0, lt=1.0, description="Classification: targets move this far from 0/1 towards uniform."
    )
    early_stopping: EarlyStoppingOptions | None = Field(None, description="Stop when `monitor` stops improving.")
    augment: list[AugmentStep] = Field([], max_length=64, description="Image augmentations, in order, on training batches only.")
    class_weight: Literal["none", "balanced"] = Field(
        "none", description="balanced: weigh each class's examples by n / (classes x count), for imbalanced labels."
    )
    snapshots: bool = Field(
        False, description="cosine_restarts: save the model at the end of every cycle (a snapshot ensemble)."
    )
    fine_tune: FineTuneOptions | None = Field(
        None, description="After `epochs`, unfreeze every layer and train this many more epochs at a low rate."
    )
    tensorboard: TensorBoardOptions = Field(
        TensorBoardOptions(), description="RUN/tensorboard/: every epoch's history as TensorBoard events; weight histograms if asked."
    )

    @property
    def soft_targets(self) -> bool:
        """Label smoothing, mixup or cutmix: targets become distributions, not class ids."""
        return bool(self.label_smoothing) or any(step.name in SOFT_LABELS for step in self.augment)


def _union(options: list[type[Section]], discriminator: str):
    if len(options) == 1:
        return options[0]
    return Annotated[Union[tuple(options)], Field(discriminator=discriminator)]


DataSection = _union(source_options(), "source")
ModelSection = _union([entry.options for entry in _MODELS.values()], "arch")


class Recipe(Section):
    name: str = Field(..., pattern=r"^[a-z0-9][a-z0-9._-]*$", description="Defaults to the file name.")
    description: str = Field(..., min_length=1, description="One line: what this recipe trains.")
    task: TaskSection
    data: DataSection
    model: ModelSection
    train: TrainSection = TrainSection()
    runtime: RuntimeOptions = Field(RuntimeOptions(), description="Devices, distribution, precision, XLA.")
    target: TargetSection | None = Field(None, description="What the recipe reaches on the test split.")
    # Not part of what trains: left out of every dump (a run's recipe.yaml, a trial's).
    search: SearchSpace = Field(
        {}, exclude=True, max_length=MAX_DIMENSIONS,
        description="`dlrecipes tune`: dotted recipe keys and their ranges, e.g. "
                    "train.optimizer.learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}.",
    )

    @field_validator("train")
    @classmethod
    def _snapshots_need_restarts(cls, train):
        if train.snapshots and train.schedule.name != "cosine_restarts":
            raise ValueError(
                "snapshots are taken at the ends of cosine cycles; set train.schedule.name: cosine_restarts"
            )
        if train.snapshots and not train.schedule.cycle_ends(train.epochs):
            raise ValueError(
                f"no cosine cycle ends within {train.epochs} epochs (the first takes "
                f"{train.schedule.first_decay_epochs}), so no snapshot would be taken: shorten "
                "schedule.first_decay_epochs or train more epochs"
            )
        return train


def json_schema() -> dict:
    schema = Recipe.model_json_schema()
    schema["title"] = "dlrecipes recipe"
    return schema
