"""Export a run as a SavedModel that TensorFlow Serving loads.

Layout: `<out>/<model name>/<version>/`, version an integer, as TF Serving expects. The
`serving_default` signature takes the raw inputs the dataset stores (uint8 images for
tfds image datasets, strings for text): the recipe's preprocessing is traced into the
graph, so clients send what they have. A GAN exports its generator (latent vectors in). The export is written under a temporary name and renamed into
place, so a version folder is either complete or absent; a failed export leaves nothing
behind, not even the folders it created.

A version is a folder holding `saved_model.pb`. Anything else in the model folder (a
stray file `3`, a half-copied folder) is no version: it does not count when numbering,
and the default export skips its name rather than fail.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dlrecipes import runs
from dlrecipes.data import source_of
from dlrecipes.errors import EXIT_FAILURE, RecipeError, is_disk_full, shown_path
from dlrecipes.writable import require_writable_dir

INPUT_NAME = "inputs"


def is_saved_model(path: Path) -> bool:
    return path.is_dir() and (path / "saved_model.pb").is_file()


def versions(model_dir: Path) -> list[int]:
    """The versions exported to `model_dir`: integer-named folders holding a saved model."""
    if not model_dir.is_dir():
        return []
    # isascii: "３" is a digit to str.isdigit, but TF Serving reads only ASCII numbers.
    return sorted(int(p.name) for p in model_dir.iterdir()
                  if p.name.isascii() and p.name.isdigit() and is_saved_model(p))


def next_version(model_dir: Path) -> int:
    """One above the highest version; a name taken by something else is skipped."""
    version = max(versions(model_dir), default=0) + 1
    while os.path.lexists(model_dir / str(version)):
        version += 1
    return version


def export_run(run: Path, out_dir: Path, version: int | None = None, name: str | None = None) -> Path:
    # Checked before the model is loaded (and TensorFlow imported): a place we cannot
    # write, or a taken version, should fail at once.
    model_dir = out_dir / (name or runs.info(run)["recipe"])
    require_writable_dir(out_dir, option="--out", what="export folder")
    require_writable_dir(model_dir, option="--out", what="model folder")
    version = version or next_version(model_dir)
    final = model_dir / str(version)
    _check_free(final, version)

    import keras
    import tensorflow as tf

    recipe, signature, model = runs.load_trained(run)
    source = source_of(recipe)
    output_name = recipe.task.problem.output_name

    if recipe.task.problem.generative:
        # A GAN serves its generator: latent vectors in, images in [0, 1] out.
        spec = tf.TensorSpec((None, model.latent_dim), "float32", name=INPUT_NAME)

        def serve(inputs):
            return {output_name: model(inputs, training=False)}
    else:
        spec = tf.TensorSpec((None, *signature.input_shape), signature.input_dtype, name=INPUT_NAME)
        if signature.columns:  # a table: one input per column, raw values
            spec = {name: tf.TensorSpec((None,), "float32" if kind == "numeric" else "string", name=name)
                    for name, kind in signature.columns.items()}

        decode = None
        if hasattr(source, "serving_input"):  # e.g. encoded image files in, decoded in the graph
            spec, decode = source.serving_input()

        def serve(inputs):
            if decode is not None:
                inputs = decode(inputs)
            return {output_name: model(source.preprocess(inputs), training=False)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", serve, input_signature=[spec])
    _write(archive, model_dir, final, version)
    return final


def _check_free(final: Path, version: int) -> None:
    """Refuse an explicit --version whose name is taken, saying by what."""
    if not os.path.lexists(final):
        return
    fix = f"omit --version to write the next free version ({next_version(final.parent)}), or choose another one"
    if is_saved_model(final):
        raise RecipeError(f"version {version} of '{final.parent.name}' already exists.", where=str(final), fix=fix)
    kind = "a folder without saved_model.pb" if final.is_dir() else "a file" if final.is_file() else "something else"
    raise RecipeError(
        f"cannot export version {version} of '{final.parent.name}': '{shown_path(str(final))}' is {kind}, "
        "not a saved model.",
        where=str(final), fix=f"{fix}; or move it away if it is not needed",
    )


def _write(archive, model_dir: Path, final: Path, version: int) -> None:
    """Write under a temporary name and rename; on any failure remove the temporary folder
    and the folders this export created, and name a full disk as such."""
    created = [p for p in (model_dir, *model_dir.parents) if not os.path.lexists(p)]
    tmp = model_dir / f".tmp-{version}-{os.getpid()}"
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
        archive.write_out(str(tmp), verbose=False)
        os.replace(tmp, final)
    except BaseException as error:  # Ctrl-C too: a half-written export must not stay
        shutil.rmtree(tmp, ignore_errors=True)
        for folder in created:  # deepest first; only if still empty
            try:
                folder.rmdir()
            except OSError:
                break
        if isinstance(error, Exception) and is_disk_full(error):
            raise RecipeError(
                "no space left on device while exporting.",
                where=str(final),
                fix="free space on that device, or export elsewhere with --out",
                exit_code=EXIT_FAILURE,
            ) from error
        raise
