"""Where and how a recipe runs: devices, distribution strategy, precision, XLA.

These settings change speed, not the recipe's meaning, so they live in their own
`runtime:` section and have command-line flags (`--strategy`, `--mixed-precision`,
`--xla`). The run records what was actually used in `run.json`.

Distribution is TensorFlow's own (`tf.distribute`): the model, optimizer and metrics are
built inside `strategy.scope()`, each batch is split across the replicas, so the global
batch is `train.batch_size` x replicas, and the learning rate is scaled by the same
factor (the linear scaling rule of Goyal et al. 2017, "Accurate, Large Minibatch SGD")
unless `runtime.scale_learning_rate: false`.

Several machines: each runs the same `dlrecipes train` with its own `TF_CONFIG` (the cluster
and its own task, TensorFlow's convention) and `MultiWorkerMirroredStrategy` keeps them in
step, batch by batch. Only the chief (task `chief`, else `worker` 0) writes the run; the
others train into a temporary folder they delete (`train.fit.train`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from dlrecipes.errors import RecipeError
from dlrecipes.options import RuntimeOptions


@dataclass
class Runtime:
    """What the run actually uses, recorded in run.json."""

    strategy: object
    strategy_name: str
    replicas: int
    precision: str
    deterministic: bool = False
    notes: list[str] = field(default_factory=list)
    steps_per_execution: int = 1
    jit_compile: "bool | str" = "auto"
    cluster: "Cluster | None" = None  # under multi-worker

    @property
    def chief(self) -> bool:
        """Whether this process writes the run (always, but for a multi-worker non-chief)."""
        return self.cluster is None or self.cluster.chief

    def input(self, ds):
        """`ds` ready for the strategy: under multi-worker, every global batch is split
        across the workers (AutoShardPolicy.DATA). The default (AUTO) would shard by file
        first, and a tfds split held in one file gives every worker the same examples."""
        if self.cluster is None:
            return ds
        import tensorflow as tf

        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return ds.with_options(options)

    def record(self) -> dict:
        return {
            "strategy": self.strategy_name,
            "replicas": self.replicas,
            "precision": self.precision,
            "deterministic": self.deterministic,
            "notes": self.notes,
            **({"cluster": self.cluster.record()} if self.cluster else {}),
        }


@dataclass(frozen=True)
class Cluster:
    """The cluster TF_CONFIG describes, and this process's task in it."""

    workers: int  # chief included
    task_type: str
    task_index: int
    has_chief: bool = False  # a `chief` task is listed (else worker 0 is the chief)

    @property
    def chief(self) -> bool:
        return self.task_type == "chief" or (self.task_type == "worker" and self.task_index == 0 and not self.has_chief)

    @property
    def task(self) -> str:
        return f"{self.task_type}:{self.task_index}"

    def record(self) -> dict:
        return {"workers": self.workers, "task": self.task, "chief": self.chief}


_TF_CONFIG_EXAMPLE = (
    'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}\''
)


def cluster_from_environment() -> Cluster | None:
    """The cluster of TF_CONFIG, or None without TF_CONFIG."""
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None

    def wrong(what: str) -> RecipeError:
        return RecipeError(f"TF_CONFIG {what}.", where="environment variable TF_CONFIG",
                           fix=f"set it as TensorFlow expects, e.g. {_TF_CONFIG_EXAMPLE} (index 1 on host2)")

    try:
        config = json.loads(raw)
    except ValueError:
        raise wrong("is not valid JSON") from None
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict):
        raise wrong("has no 'cluster' object")
    cluster = config["cluster"]
    for role in ("chief", "worker"):
        if not isinstance(cluster.get(role, []), list):
            raise wrong(f"'cluster.{role}' is not a list of host:port addresses")
    task = config.get("task") or {}
    task_type, task_index = task.get("type"), task.get("index", 0)
    if task_type not in ("chief", "worker") or not isinstance(task_index, int):
        raise wrong("'task' must be {\"type\": \"worker\" or \"chief\", \"index\": N}")
    if task_index < 0 or task_index >= len(cluster.get(task_type, [])):
        raise wrong(f"'task' names {task_type} {task_index}, which 'cluster.{task_type}' does not list")
    workers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
    return Cluster(workers=workers, task_type=task_type, task_index=task_index, has_chief=bool(cluster.get("chief")))


def multi_worker_cluster(options: RuntimeOptions) -> Cluster | None:
    """The cluster this process trains in under multi-worker (`strategy: multi-worker`, or
    `auto` with several workers in TF_CONFIG); None when it trains alone."""
    cluster = cluster_from_environment()
    if options.strategy == "multi-worker" and cluster is None:
        raise RecipeError(
            "--strategy multi-worker needs TF_CONFIG, which says where the workers are.",
            where="environment variable TF_CONFIG",
            fix=f"run the same command on every host, each with its own task: {_TF_CONFIG_EXAMPLE} "
            "(README: Several machines)",
        )
    if options.strategy == "multi-worker" or (options.strategy == "auto" and cluster is not None and cluster.workers > 1):
        return cluster
    return None


def setup(options: RuntimeOptions) -> Runtime:
    """Configure devices and precision and create the distribution strategy.

    Runs before any TensorFlow op is created: GPU memory growth can only be set before
    the GPUs are first used.
    """
    import keras
    import tensorflow as tf

    notes: list[str] = []
    cluster = multi_worker_cluster(options)
    name = "multi-worker" if cluster else options.strategy
    steps_per_execution, jit_compile = options.steps_per_execution, options.jit_compile

    gpus = tf.config.list_physical_devices("GPU")
    if options.memory_growth:
        for gpu in gpus:
            try:
                tf.config.experimental.set_memory_growth(gpu, True)
            except RuntimeError:
                pass  # already initialised (a second training in one process)

    if name == "multi-worker":
        from dlrecipes.train import multiworker

        multiworker.apply()
        # It waits for every worker of the cluster to start, for as long as that takes.
        from rich.console import Console

        Console(stderr=True).print(f"{cluster.task}: waiting for the {cluster.workers} workers of TF_CONFIG's cluster",
                                   highlight=False)
        # Created before any other op: collectives are configured at the program's start.
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        notes.append(f"multi-worker: {cluster.task} of {cluster.workers} workers"
                     + (", the chief: it writes the run" if cluster.chief else ""))
        if steps_per_execution > 1:
            notes.append(f"multi-worker runs 1 batch per compiled call, not {steps_per_execution} "
                         "(Keras' multi-step loop cannot hold collectives)")
            steps_per_execution = 1
        if jit_compile is True and not gpus:
            notes.append("multi-worker on CPUs runs without XLA (XLA has no CPU collectives)")
            jit_compile = False
    elif name == "mirrored" or (name == "auto" and len(gpus) > 1):
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
        steps_per_execution=steps_per_execution,
        jit_compile=jit_compile,
        cluster=cluster,
    )
