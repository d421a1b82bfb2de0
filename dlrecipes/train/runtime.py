"""Where and how a recipe runs: devices, distribution strategy, precision, XLA.

These settings change speed, not the recipe's meaning, so they live in their own
`runtime:` section and have command-line flags (`--strategy`, `--mixed-precision`,
`--xla`). The run records what was actually used in `run.json`.

Distribution is TensorFlow's own (`tf.distribute`): the model, optimizer and metrics are
built inside `strategy.scope()`, each batch is split across the replicas, so the global
batch is `train.batch_size` x replicas, and the learning rate is scaled by the same
factor (the linear scaling rule of Goyal et al. 2017, "Accurate, Large Minibatch SGD")
unless `runtime.scale_learning_rate: false`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from dlrecipes.errors import RecipeError
from dlrecipes.options import MULTI_WORKER_UNSUPPORTED, RuntimeOptions


@dataclass
class Runtime:
    """What the run actually uses, recorded in run.json."""

    strategy: object
    strategy_name: str
    replicas: int
    precision: str
    deterministic: bool = False
    notes: list[str] = field(default_factory=list)

    def record(self) -> dict:
        return {
            "strategy": self.strategy_name,
            "replicas": self.replicas,
            "precision": self.precision,
            "deterministic": self.deterministic,
            "notes": self.notes,
        }


def cluster_workers() -> int:
    """Number of workers TF_CONFIG describes (1 without TF_CONFIG)."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return 1
    try:
        cluster = json.loads(raw).get("cluster", {})
    except ValueError:
        raise RecipeError(
            "TF_CONFIG is not valid JSON.",
            where="environment variable TF_CONFIG",
            fix='set it like {"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}',
        ) from None
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def setup(options: RuntimeOptions) -> Runtime:
    """Configure devices and precision and create the distribution strategy.

    Runs before any TensorFlow op is created: GPU memory growth can only be set before
    the GPUs are first used.
    """
    import keras
    import tensorflow as tf

    notes: list[str] = []
    workers = cluster_workers()
    name = options.strategy
    if name == "auto" and workers > 1:  # `multi-worker` itself is refused by the schema
        raise RecipeError(
            MULTI_WORKER_UNSUPPORTED + ".",
            where="TF_CONFIG",
            fix="train on one machine (--strategy mirrored uses all its GPUs), and unset TF_CONFIG",
        )

    gpus = tf.config.list_physical_devices("GPU")
    if options.memory_growth:
        for gpu in gpus:
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:
                pass  # already initialised (a second training in one process)

    if name == "mirrored" or (name == "auto" and len(gpus) > 1):
        strategy = tf.distribute.MirroredStrategy()
        name = "mirrored"
        if not gpus:
            notes.append("mirrored strategy without GPUs runs one replica on the CPU")
    elif name == "one-device":
        strategy = tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    else:
        strategy = tf.distribute.get_strategy()
        name = "default"

    precision = "float32"
    if options.mixed_precision:
        if gpus:
            precision = "mixed_float16"
        else:
            precision = "mixed_bfloat16"
            notes.append("no GPU: mixed precision uses bfloat16 on the CPU, which is usually slower than float32")
    keras.mixed_precision.set_global_policy(precision)
    if options.deterministic:
        # Ops pick deterministic kernels (or refuse to run); tf.data runs its maps in order.
        tf.config.experimental.enable_op_determinism()

    return Runtime(
        strategy=strategy,
        strategy_name=name,
        replicas=strategy.num_replicas_in_sync,
        precision=precision,
        deterministic=options.deterministic,
        notes=notes,
    )
