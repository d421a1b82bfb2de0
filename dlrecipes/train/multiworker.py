"""Keras 3's `model.fit` under `tf.distribute.MultiWorkerMirroredStrategy`: two overrides.

Keras 3.15's TensorFlow trainer fails under the multi-worker strategy in two places
(keras-team/keras#20585, open through 3.15.1):

1. `TensorFlowTrainer._maybe_symbolic_build` takes the first batch of a pass over the data
   and reduces it across all workers (`strategy.reduce("MEAN", batch)`) only to learn its
   shapes and dtypes; the collective strategy refuses. The override reads the shapes and
   dtypes from the dataset's element spec, with no collective and no pass over the data:
   taking the local replica's batch instead got past the refusal, but that dropped pass
   over a cached split (`train.cache`) made `evaluate` read it wrongly, at random (test
   accuracy 0.6156, 0.6171, 0.6527 in three runs of the same weights).
2. The module function `reduce_per_replica` averages the per-replica metric results with
   `strategy.reduce("MEAN", v, axis=0)`, which fails for scalars ("Invalid reduction
   dimension 0 for input with 0 dimensions"). The override reduces scalars with
   `axis=None`, everything else as before.

Both overrides change nothing unless the strategy is a multi-worker one, and they are
installed only when a recipe runs under it (`apply`). Keras is pinned below its next minor
version (pyproject.toml); `check` compares the replaced functions' source with the source
these overrides were written against and refuses to train, naming the upstream issue, if a
newer Keras changed them. Verified on 2026-12-01 with TF 2.21 and Keras 3.15.1: two workers
end with identical weights, within 3e-8 of one worker's with the same global batch, and
the same validation and test metrics (tests/test_multiworker.py).

Not overridden, so refused instead: several batches per compiled call. Keras' multi-step
function guards every step after the first with a `tf.cond`, and collectives inside a
`tf.cond` fail ("You must feed a value for placeholder tensor"), so multi-worker runs
use one batch per call (`runtime.setup` says so in the run's notes).
"""

from __future__ import annotations

import hashlib
import inspect

from dlrecipes.errors import RecipeError

UPSTREAM = "https://github.com/keras-team/keras/issues/20585"

# sha256 (first 16 hex digits) of inspect.getsource of each replaced function, in the
# Keras versions these overrides were checked against (3.15.0 and 3.15.1).
CHECKED_SOURCE = {
    "TensorFlowTrainer._maybe_symbolic_build": "92a504f5eba9b29f",
    "reduce_per_replica": "2e7d54b1e6edc29a",
}

_original: dict = {}


def _trainer_module():
    from keras.src.backend.tensorflow import trainer

    return trainer


def _fingerprint(function) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]


def check() -> None:
    """Refuse, naming the upstream issue, when this Keras changed a function overridden here."""
    import keras

    trainer = _trainer_module()
    functions = {
        "TensorFlowTrainer._maybe_symbolic_build": _original.get("build", trainer.TensorFlowTrainer._maybe_symbolic_build),
        "reduce_per_replica": _original.get("reduce", trainer.reduce_per_replica),
    }
    changed = [name for name, function in functions.items() if _fingerprint(function) != CHECKED_SOURCE[name]]
    if changed:
        raise RecipeError(
            f"multi-worker training needs overrides of Keras internals ({', '.join(changed)}), "
            f"and Keras {keras.__version__} changed them since they were written (for 3.15).",
            where=f"dlrecipes/train/multiworker.py; upstream: {UPSTREAM}",
            fix="install the Keras version pyproject.toml pins (pip install 'keras>=3.15,<3.16'); if the upstream "
            "issue is fixed in this Keras, remove the overrides",
        )


def _maybe_symbolic_build(self, iterator=None, data_batch=None):
    trainer = _trainer_module()
    if not trainer._collective_all_reduce_multi_worker(self._distribute_strategy):
        return _original["build"](self, iterator=iterator, data_batch=data_batch)
    if iterator is not None:
        # The shapes and dtypes of a batch, from the dataset's element spec: no pass over
        # the data (a pass begun and dropped here made a cached split read wrongly).
        data_batch = iterator.data_adapter.get_tf_dataset().element_spec
    with self.distribute_strategy.scope():
        self._symbolic_build(data_batch=data_batch)


def _reduce_per_replica(values, strategy, reduction):
    trainer = _trainer_module()
    if not (trainer._collective_all_reduce_multi_worker(strategy) and reduction in ("auto", "mean")):
        return _original["reduce"](values, strategy, reduction)
    from keras.src import tree

    def mean(v):
        return strategy.reduce("MEAN", v, axis=None if v.shape.rank == 0 else 0)

    return tree.map_structure(mean, values)


def apply() -> None:
    """Install both overrides (once), after checking that Keras is the one they fit."""
    check()
    if _original:
        return
    trainer = _trainer_module()
    _original["build"] = trainer.TensorFlowTrainer._maybe_symbolic_build
    _original["reduce"] = trainer.reduce_per_replica
    trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    trainer.reduce_per_replica = _reduce_per_replica  # looked up by name inside trainer.py


class LostWorker(RecipeError):
    """A worker of the cluster stopped (killed, crashed, its host gone): the others cannot
    go on, since every step waits for all of them. TensorFlow notices a worker that stopped
    sending heartbeats within seconds. The process leaves without the interpreter's teardown
    (`leave_at_once`): with a worker gone, TensorFlow's collective threads can keep the
    exit waiting forever."""

    leave_at_once = True


def lost_worker(error: BaseException) -> str | None:
    """What TensorFlow says about the lost worker when `error` is a collective op that
    failed because a worker of the cluster is gone, else None."""
    import tensorflow as tf

    if not isinstance(error, tf.errors.OpError):
        return None
    message = error.message or ""
    if "Collective ops is aborted" not in message and "unhealthy" not in message and "heartbeat" not in message:
        return None
    lines = [line.strip() for line in message.splitlines()]
    stopped = [line for line in lines if line.startswith("/job:")]
    if stopped:
        return f"{', '.join(stopped)} stopped sending heartbeats"
    reason = next((line for line in lines if "aborted" in line or "unhealthy" in line), lines[0] if lines else "")
    return reason[:300]
