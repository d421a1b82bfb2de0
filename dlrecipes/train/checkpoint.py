"""Checkpoints after every epoch, and resuming from them.

`RUN/checkpoint/` holds what continuing needs after epoch K:

- `epoch-K.keras`: the model's weights and the optimizer's state - its moments and its
  step count, which is also where the learning-rate schedule reads the step;
- `epoch-K.json`: the epochs done, the history so far, the training seconds, and the state
  of every random generator inside the model (dropout's, a GAN's latent sampler's),
  which Keras does not save with the weights;
- `latest.json`: which epoch's files are the checkpoint, with their sha256.

Saving writes epoch K's files under temporary names, renames them into place, and only
then replaces `latest.json` (a rename too); epoch K-1's files are removed last. So a kill,
a full disk or a Ctrl-C at any moment leaves `latest.json` naming complete files, and
resume verifies their checksums before it trusts them: a damaged checkpoint is refused,
never silently trained on. Everything else in the folder is a leftover that `clean` removes.

The weights go through `model.save`, which builds the archive in memory and writes it
with Python's zipfile: a full disk is an OSError, where HDF5 writing the file itself
crashed the process when the disk filled.

The data order needs no saving: each epoch shuffles with its own seed (`seed`, epoch), so a
resumed run sees exactly the batches the uninterrupted run would have. With the same
seed, a run interrupted after epoch k and resumed ends with the weights of a run that was
never interrupted. (Augmentations draw from the layers' own generators, which restart on
resume, so a resumed run with `train.augment` sees different augmentations.)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dlrecipes import runs
from dlrecipes.errors import RecipeError

FOLDER = "checkpoint"
MANIFEST = "latest.json"


def seed_states(model) -> list:
    """The state of every random generator inside `model`, in a stable order."""
    import keras

    return [keras.ops.convert_to_numpy(v).tolist() for v in model.variables if "seed_generator_state" in v.path]


def restore_seed_states(model, states: list) -> None:
    variables = [v for v in model.variables if "seed_generator_state" in v.path]
    for variable, value in zip(variables, states, strict=True):
        variable.assign(value)


def save(run: Path, model, state: dict) -> None:
    """Write epoch K's checkpoint, then point `latest.json` at it (see the module's doc)."""
    folder = run / FOLDER
    folder.mkdir(exist_ok=True)
    epoch = state["epochs_done"]
    weights, progress = f"epoch-{epoch}.keras", f"epoch-{epoch}.json"
    tmp = folder / f".{weights}.{os.getpid()}.tmp.keras"  # Keras insists on the .keras suffix
    try:
        model.save(tmp)
        runs.fsync_file(tmp)
        os.replace(tmp, folder / weights)
    finally:
        tmp.unlink(missing_ok=True)
    runs.write_json(folder / progress, {**state, "seed_states": seed_states(model)})
    manifest = {
        "epochs_done": epoch, "weights": weights, "state": progress,
        "sha256": {name: runs.sha256(folder / name) for name in (weights, progress)},
    }
    runs.write_json(folder / MANIFEST, manifest)
    clean(run)


def clean(run: Path) -> None:
    """Remove what no checkpoint refers to: temporary files of interrupted saves, the
    folders of the layout before `latest.json`, and - only while `latest.json` can be read,
    so that a damaged manifest never costs the files it named - older epochs' files."""
    folder = run / FOLDER
    if folder.is_dir():
        content = manifest(run)
        keep = {MANIFEST, *(content["sha256"] if content else ())}
        for entry in folder.iterdir():
            if ".tmp" in entry.name or (content is not None and entry.name not in keep):
                runs.remove(entry)
    for entry in run.glob(f".{FOLDER}.*"):
        runs.remove(entry)


def manifest(run: Path) -> dict | None:
    """`latest.json`, or None when there is no (readable) checkpoint."""
    content, problem = runs.try_read_json(run / FOLDER / MANIFEST)
    if problem is not None or not isinstance(content.get("sha256"), dict):
        return None
    return content


def epochs_done(run: Path) -> int | None:
    """The epochs the run's checkpoint holds; None without one."""
    content = manifest(run)
    value = content.get("epochs_done") if content else None
    return value if isinstance(value, int) else None


def read_state(run: Path) -> dict:
    """The checkpoint's state, its files verified against their recorded checksums.

    Refused (RecipeError) when there is no checkpoint or it is damaged; the message says
    what can be done instead.
    """
    folder = run / FOLDER
    again = runs.train_again_command(run)
    path = folder / MANIFEST
    if not path.exists():
        if any(folder.glob("epoch-*")):  # the files are there, what names them is not
            raise RecipeError(
                f"run '{run.name}' has a damaged checkpoint: {MANIFEST}, which names its files, is missing.",
                where=str(path),
                fix=f"restore {MANIFEST} if you have a copy; otherwise train again: {again}",
            )
        raise RecipeError(
            f"run '{run.name}' has no checkpoint to resume from (it stopped before its first epoch ended).",
            where=str(folder),
            fix=f"train it again: {again}",
        )
    content, problem = runs.try_read_json(path)
    files = content.get("sha256")
    weights, progress = content.get("weights"), content.get("state")
    plain = all(isinstance(name, str) and name == Path(name).name for name in (weights, progress))
    if problem is None and not (plain and isinstance(files, dict) and isinstance(content.get("epochs_done"), int)
                                and {weights, progress} == set(files)):
        problem = f"{MANIFEST}: not a checkpoint manifest"
    if problem is not None:
        raise RecipeError(
            f"run '{run.name}' has a damaged checkpoint ({problem}).", where=str(path),
            fix=f"restore {MANIFEST} if you have a copy; otherwise train again: {again}",
        )
    for name, recorded in files.items():
        file = folder / name
        try:
            actual = runs.sha256(file)
        except OSError as error:
            actual, why = None, error.strerror or type(error).__name__
        else:
            why = "its contents changed since it was saved (sha256 differs)"
        if actual != recorded:
            raise RecipeError(
                f"run '{run.name}' has a damaged checkpoint: {name}: {why}.",
                where=str(file),
                fix=f"restore the file if you have a copy; otherwise train again: {again}",
            )
    state, problem = runs.try_read_json(folder / progress)
    if problem is not None or not {"epochs_done", "history", "train_seconds", "seed_states"} <= set(state):
        raise RecipeError(
            f"run '{run.name}' has a damaged checkpoint ({problem or progress + ': fields missing'}).",
            where=str(folder / progress),
            fix=f"train it again: {again}",
        )
    return {**state, "weights_file": weights}


def restore(run: Path, model, state: dict) -> None:
    """Load the checkpoint's weights, optimizer state and generator states into `model`."""
    if hasattr(model, "build_optimizers"):  # a GAN: one optimizer per network
        model.build_optimizers()
    elif model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(run / FOLDER / state["weights_file"])
    restore_seed_states(model, state["seed_states"])


def remove(run: Path) -> None:
    shutil.rmtree(run / FOLDER, ignore_errors=True)
