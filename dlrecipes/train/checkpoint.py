"""Checkpoints after every epoch, and resuming from them.

`RUN/checkpoint/` holds what continuing needs, written after each epoch into a temporary
folder and renamed into place (a checkpoint is whole or absent):

- `weights.weights.h5`: the model's weights and the optimizer's state - its moments and
  its step count, which is also where the learning-rate schedule reads the step;
- `state.json`: the epochs done, the history so far, the training seconds, and the state
  of every random generator inside the model (dropout's, a GAN's latent sampler's),
  which Keras does not save with the weights.

The data order needs no saving: each epoch shuffles with its own seed (`seed`, epoch), so a
resumed run sees exactly the batches the uninterrupted run would have. With the same
seed, a run interrupted after epoch k and resumed ends with the weights of a run that was
never interrupted. (Augmentations draw from the layers' own generators, which restart on
resume, so a resumed run with `train.augment` sees different augmentations.)
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from dlrecipes.errors import RecipeError

FOLDER = "checkpoint"
WEIGHTS = "weights.weights.h5"
STATE = "state.json"


def seed_states(model) -> list:
    """The state of every random generator inside `model`, in a stable order."""
    import keras

    return [keras.ops.convert_to_numpy(v).tolist() for v in model.variables if "seed_generator_state" in v.path]


def restore_seed_states(model, states: list) -> None:
    variables = [v for v in model.variables if "seed_generator_state" in v.path]
    for variable, value in zip(variables, states, strict=True):
        variable.assign(value)


def save(run: Path, model, state: dict) -> None:
    """Write the checkpoint atomically: a new folder, then a rename over the old one."""
    tmp = run / f".{FOLDER}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    model.save_weights(tmp / WEIGHTS)
    (tmp / STATE).write_text(json.dumps({**state, "seed_states": seed_states(model)}))
    final = run / FOLDER
    old = run / f".{FOLDER}.old-{os.getpid()}"
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    if old.exists():
        shutil.rmtree(old)


def read_state(run: Path) -> dict:
    path = run / FOLDER / STATE
    if not path.is_file():
        raise RecipeError(
            f"run '{run.name}' has no checkpoint to resume from (it stopped before its first epoch ended).",
            where=str(run / FOLDER),
            fix=f"train it again: dlrecipes train {run / 'recipe.yaml'}",
        )
    from dlrecipes.runs import try_read_json

    state, problem = try_read_json(path)
    if problem is not None:  # save() renames whole folders into place, so only a hand edit or a disk fault
        raise RecipeError(
            f"run '{run.name}' has a damaged checkpoint ({problem}).",
            where=str(path),
            fix=f"train it again: dlrecipes train {run / 'recipe.yaml'}",
        )
    return state


def restore(run: Path, model, state: dict) -> None:
    """Load the checkpoint's weights, optimizer state and generator states into `model`."""
    if hasattr(model, "build_optimizers"):  # a GAN: one optimizer per network
        model.build_optimizers()
    elif model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(run / FOLDER / WEIGHTS)
    restore_seed_states(model, state["seed_states"])


def remove(run: Path) -> None:
    shutil.rmtree(run / FOLDER, ignore_errors=True)
