"""The option classes of the recipe's `train:` and `runtime:` sections.

They live here, beside the schema, and not in the modules that carry them out: the schema
(`dlrecipes.recipe`) imports this module and nothing of the implementation, and each
implementation (`train/optimizers.py`, `train/schedules.py`, `data/augment.py`, ...) imports
its options from here, as Model Garden's configs never import their tasks.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator

from dlrecipes.schema import Section


# --- Optimizers (`train.optimizer`).

OPTIMIZERS = {
    "sgd": "SGD",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
    "adadelta": "Adadelta",
    "adam": "Adam",
    "adamw": "AdamW",
    "nadam": "Nadam",
    "lion": "Lion",
}
WITH_BETAS = ("adam", "adamw", "nadam", "lion")


class OptimizerOptions(Section):
    name: Literal[tuple(OPTIMIZERS)] = "adam"
    learning_rate: PositiveFloat = Field(
        1e-3, description="Initial (peak, with warmup) learning rate; a schedule changes it from here."
    )
    momentum: float = Field(0.0, ge=0.0, lt=1.0, description="SGD and RMSprop only.")
    nesterov: bool = Field(False, description="Nesterov momentum; SGD only.")
    weight_decay: float | None = Field(
        None, ge=0.0, description="Decoupled weight decay (as in AdamW), applied by the optimizer."
    )
    beta_1: float | None = Field(None, gt=0.0, lt=1.0, description="Adam, AdamW, Nadam, Lion: decay of the first-moment average (Keras default 0.9).")
    beta_2: float | None = Field(None, gt=0.0, lt=1.0, description="Adam, AdamW, Nadam, Lion: decay of the second-moment average.")
    use_ema: bool = Field(False, description="Keep an exponential moving average of the weights; the run ends with it.")
    ema_momentum: float = Field(0.99, gt=0.0, lt=1.0, description="use_ema: weight of the old average at each update.")
    clipnorm: PositiveFloat | None = Field(None, description="Clip each gradient to this L2 norm.")
    clipvalue: PositiveFloat | None = Field(None, description="Clip each gradient element to +-this.")

    @model_validator(mode="after")
    def _momentum_needs_sgd_or_rmsprop(self):
        if self.momentum and self.name not in ("sgd", "rmsprop"):
            raise ValueError(f"momentum is an option of sgd and rmsprop, not of {self.name} (Adam-like "
                             "optimizers keep their own moments: beta_1)")
        if self.nesterov and self.name != "sgd":
            raise ValueError(f"nesterov is an option of sgd, not of {self.name}")
        return self

    @model_validator(mode="after")
    def _one_clipping(self):
        if self.clipnorm is not None and self.clipvalue is not None:
            raise ValueError("set clipnorm or clipvalue, not both (Keras clips by one rule)")
        return self

    @model_validator(mode="after")
    def _betas_need_adam_family(self):
        if (self.beta_1 is not None or self.beta_2 is not None) and self.name not in WITH_BETAS:
            raise ValueError(f"beta_1 / beta_2 are options of {', '.join(WITH_BETAS)}, not of {self.name}")
        return self


# --- Learning-rate schedules (`train.schedule`).

class ScheduleOptions(Section):
    name: Literal["constant", "cosine", "cosine_restarts", "step", "exponential", "inverse_time", "plateau"] = "constant"
    warmup_epochs: float = Field(0.0, ge=0.0, description="cosine: linear warmup from 0, in epochs.")
    alpha: float = Field(0.0, ge=0.0, le=1.0, description="cosine, cosine_restarts: final rate as a fraction of the initial one.")
    first_decay_epochs: PositiveFloat = Field(10, description="cosine_restarts: length of the first cycle, in epochs.")
    t_mul: PositiveFloat = Field(2.0, description="cosine_restarts: each cycle is this many times longer than the last.")
    m_mul: PositiveFloat = Field(1.0, le=1.0, description="cosine_restarts: each restart begins this many times lower.")
    boundaries: list[PositiveInt] = Field([], description="step: where the rate is multiplied by factor.")
    unit: Literal["epochs", "steps"] = Field("epochs", description="step: what `boundaries` count.")
    factor: PositiveFloat = Field(0.1, lt=1.0, description="step, plateau: multiplier at each boundary / plateau.")
    decay_rate: PositiveFloat = Field(0.9, description="exponential: multiplier per epoch; inverse_time: the 1/t rate.")
    monitor: str = Field("val_loss", description="plateau: the logged quantity watched (lower is better for losses).")
    patience: int = Field(2, ge=0, description="plateau: epochs without improvement before the rate drops.")
    min_learning_rate: float = Field(0.0, ge=0.0, description="plateau: the rate never drops below this.")

    def cycle_ends(self, epochs: int) -> list[int]:
        """cosine_restarts: the epochs (counted from 1) at whose end a cycle ends, up to `epochs`."""
        ends, length, position = [], self.first_decay_epochs, 0.0
        while position + length <= epochs + 1e-9:
            position += length
            ends.append(int(round(position)) if abs(position - round(position)) < 1e-9 else int(position))
            length *= self.t_mul
        return ends

    @field_validator("boundaries")
    @classmethod
    def _increasing(cls, boundaries):
        if any(b >= c for b, c in zip(boundaries, boundaries[1:])):
            raise ValueError(f"boundaries must be strictly increasing, e.g. [30, 60]; given {boundaries}")
        return boundaries


# --- Weight initialisation (`train.init`).

Initializer = Literal[
    "glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "lecun_normal", "lecun_uniform",
    "random_normal", "random_uniform", "zeros",
]


class InitOptions(Section):
    kernel: Initializer | None = Field(None, description="Initializer of every kernel; the builders' own when omitted.")
    layers: dict[str, Initializer] = Field(
        {}, description="Per layer type (Keras class name, e.g. Dense, Conv2D), overriding `kernel`."
    )


# --- Penalties on the weights (`train.regularizer`).

class RegularizerOptions(Section):
    l1: float = Field(0.0, ge=0.0, description="Weight of sum(|w|) per kernel, added to the loss.")
    l2: float = Field(0.0, ge=0.0, description="Weight of sum(w^2) per kernel, added to the loss.")


# --- Early stopping (`train.early_stopping`).

class EarlyStoppingOptions(Section):
    monitor: str = Field("val_loss", description="Logged quantity watched, e.g. val_loss, val_accuracy.")
    patience: int = Field(3, ge=0, description="Epochs without improvement before stopping.")
    min_delta: float = Field(0.0, ge=0.0, description="Smallest change that counts as an improvement.")
    restore_best_weights: bool = Field(True, description="End with the best epoch's weights, not the last.")


# --- Fine-tuning's second phase (`train.fine_tune`).

ALL_BUT_HEAD = "all_but_head"


class FineTuneOptions(Section):
    epochs: PositiveInt = Field(..., description="Epochs of the second phase, every layer trainable.")
    learning_rate: PositiveFloat = Field(1e-4, description="Constant learning rate of the second phase (low).")


# --- TensorBoard event files (`train.tensorboard`).

class TensorBoardOptions(Section):
    """What RUN/tensorboard/ holds besides each epoch's losses, metrics and learning rate,
    which every run writes."""

    histograms: bool = Field(
        False, description="Also a histogram of every weight after each epoch (larger event files, slower epochs)."
    )


# --- Data augmentation (`train.augment`).

LAYERS = {
    "random_flip": "RandomFlip",
    "random_rotation": "RandomRotation",
    "random_translation": "RandomTranslation",
    "random_zoom": "RandomZoom",
    "random_crop": "RandomCrop",
    "random_erasing": "RandomErasing",
    "cutout": "RandomErasing",
    "mixup": "MixUp",
    "cutmix": "CutMix",
    "augmix": "AugMix",
    "rand_augment": "RandAugment",
}
# Steps that blend labels as well as images.
SOFT_LABELS = ("mixup", "cutmix")


# A factor is one number f (meaning -f..f) or a [low, high] pair, as Keras' layers take it.
Factor = Union[float, Annotated[list[float], Field(min_length=2, max_length=2)]]
# Shifts and zooms are fractions of the image: Keras refuses more than the whole of it.
Fraction = Union[Annotated[float, Field(ge=-1.0, le=1.0)],
                 Annotated[list[Annotated[float, Field(ge=-1.0, le=1.0)]], Field(min_length=2, max_length=2)]]
ZoomFraction = Union[Annotated[float, Field(gt=-1.0, le=1.0)],  # -1 would zoom out to nothing
                     Annotated[list[Annotated[float, Field(gt=-1.0, le=1.0)]], Field(min_length=2, max_length=2)]]
FillMode = Literal["reflect", "wrap", "constant", "nearest"]
Interpolation = Literal["nearest", "bilinear"]
ValueRange = Annotated[list[float], Field(min_length=2, max_length=2)]


class _Step(Section):
    """One augmentation: `name` picks the Keras layer, the other keys are its arguments
    (the ones a recipe may set; the layer's defaults otherwise)."""

    @property
    def arguments(self) -> dict[str, Any]:
        return self.model_dump(exclude={"name"}, exclude_unset=True)


class _Geometric(_Step):
    fill_mode: FillMode = Field("reflect", description="How points outside the image are filled.")
    interpolation: Interpolation = "bilinear"
    fill_value: float = Field(0.0, description="fill_mode constant: the value filled in.")


class RandomFlip(_Step):
    name: Literal["random_flip"]
    mode: Literal["horizontal", "vertical", "horizontal_and_vertical"] = "horizontal_and_vertical"


class RandomRotation(_Geometric):
    name: Literal["random_rotation"]
    factor: Factor = Field(..., description="Fraction of a full turn: 0.1 rotates by up to +-36 degrees.")


class RandomTranslation(_Geometric):
    name: Literal["random_translation"]
    height_factor: Fraction = Field(..., description="Fraction of the height shifted, e.g. 0.1.")
    width_factor: Fraction = Field(..., description="Fraction of the width shifted, e.g. 0.1.")


class RandomZoom(_Geometric):
    name: Literal["random_zoom"]
    height_factor: ZoomFraction = Field(..., description="Zoom range as a fraction: 0.1 zooms up to 10% in or out.")
    width_factor: ZoomFraction | None = Field(None, description="Defaults to height_factor (aspect kept).")


class RandomCrop(_Step):
    name: Literal["random_crop"]
    padding: int = Field(0, ge=0, le=1024, description="Zero-pad this many pixels, then crop back (ResNet on CIFAR).")
    height: PositiveInt | None = Field(None, description="Crop height; the image's by default.")
    width: PositiveInt | None = Field(None, description="Crop width; the image's by default.")


class RandomErasing(_Step):
    name: Literal["random_erasing", "cutout"]
    factor: float = Field(1.0, ge=0.0, le=1.0, description="Probability of erasing a patch from an image.")
    scale: ValueRange = Field([0.02, 0.33], description="Patch area as a fraction of the image, [low, high].")
    fill_value: float | None = Field(None, description="The patch's value (cutout: 0); random noise when omitted.")
    value_range: ValueRange = [0.0, 255.0]


class MixUp(_Step):
    name: Literal["mixup"]
    alpha: PositiveFloat = Field(0.2, description="Beta(alpha, alpha) draws the mixing weight.")


class CutMix(_Step):
    name: Literal["cutmix"]
    factor: PositiveFloat = Field(1.0, description="Beta(factor, factor) draws the pasted patch's area.")


class AugMix(_Step):
    name: Literal["augmix"]
    value_range: ValueRange = [0.0, 255.0]
    num_chains: PositiveInt = Field(3, le=32)
    chain_depth: PositiveInt = Field(3, le=32)
    factor: float = Field(0.3, ge=0.0, le=1.0, description="Strength of each operation.")
    alpha: PositiveFloat = 1.0
    all_ops: bool = True
    interpolation: Interpolation = "bilinear"


class RandAugment(_Step):
    name: Literal["rand_augment"]
    value_range: ValueRange = [0.0, 255.0]
    num_ops: PositiveInt = Field(2, le=32, description="Operations applied to each image.")
    factor: float = Field(0.5, ge=0.0, le=1.0, description="Strength of each operation.")
    interpolation: Interpolation = "bilinear"


_STEPS = (RandomFlip, RandomRotation, RandomTranslation, RandomZoom, RandomCrop, RandomErasing,
          MixUp, CutMix, AugMix, RandAugment)
AugmentStep = Annotated[Union[_STEPS], Field(discriminator="name")]


# --- Devices, distribution, precision, XLA (`runtime`).

class RuntimeOptions(Section):
    strategy: Literal["auto", "one-device", "mirrored", "multi-worker"] = Field(
        "auto",
        description=(
            "auto: multi-worker when TF_CONFIG lists several workers, Mirrored with several GPUs, "
            "else the default (one device). multi-worker: MultiWorkerMirroredStrategy over TF_CONFIG's cluster."
        ),
    )
    mixed_precision: bool = Field(
        False, description="mixed_float16 on GPU, mixed_bfloat16 on CPU; the output layer stays float32."
    )
    # Measured on the 2-core CPU machine (bench/throughput.py, README): XLA made the CNN's
    # training about 20x slower and the MLP's 1.9x faster with 128 batches per call, so
    # 'auto' keeps Keras' choice and the MLP recipes turn it on.
    jit_compile: Literal["auto"] | bool = Field(
        "auto", description="XLA compilation: true, false, or 'auto' (Keras' choice: on for GPUs, off for CPUs)."
    )
    steps_per_execution: PositiveInt = Field(
        8, description="Batches run per call into the compiled training function (less Python overhead)."
    )
    scale_learning_rate: bool = Field(
        True, description="Multiply the learning rate by the number of replicas (linear scaling rule)."
    )
    memory_growth: bool = Field(True, description="Let TensorFlow take GPU memory as needed, not all at start.")
    deterministic: bool = Field(
        False, description="TensorFlow's op determinism: the same seed gives bit-identical runs (slower on GPUs)."
    )
