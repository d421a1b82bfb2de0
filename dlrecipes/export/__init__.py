"""Export a complete run for other runtimes: SavedModel (TF Serving), ONNX, LiteRT, Keras.

Layout under `--out` (default `exports/`), one folder per model name:

    exports/mnist-dnn/1/               SavedModel, TF Serving's numbered versions
    exports/mnist-dnn/onnx/            model.onnx + metadata.json
    exports/mnist-dnn/litert/          model.tflite + metadata.json (float32)
    exports/mnist-dnn/litert-int8/     model.tflite quantized (also litert-float16)
    exports/mnist-dnn/keras/           model.keras + metadata.json

TF Serving reads only the numbered folders, so the others can sit beside them. Every
format asked is checked before anything is written (missing packages, layers a format
cannot hold, a quantization it does not have, the training data int8 calibrates on, a
`--name` that is no single folder name, a format's folder held by something that is not
an earlier export of it), and each export is written whole or not at all
(`writing.write_folder`). A re-export replaces an earlier export of the format, and only that.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from dataclasses import dataclass
from pathlib import Path

from dlrecipes import interrupts, runs
from dlrecipes.errors import DataUnavailableError, RecipeError, cut, did_you_mean
from dlrecipes.export import metadata
from dlrecipes.export.formats import FORMATS, Format, format_of_file, get_format, register_format
from dlrecipes.export.writing import check_replaceable, write_folder
from dlrecipes.writable import require_writable_dir

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("formats", "metadata", "serving", "writing", "opening"):
        importlib.import_module(f"{__name__}.{_module.name}")

EXTRA = "pip install 'dlrecipes[export]'"
MAX_NAME_BYTES = 255  # a folder name's limit on every file system we run on (NAME_MAX)


@dataclass
class Written:
    format: str
    quantization: str | None
    path: Path  # the export's folder
    replaced: bool = False


def chosen_formats(names: list[str]) -> tuple[list[Format], bool]:
    """The formats `--format` names (`all`: every one), and whether `all` was asked. Names are
    case-insensitive, and one value may list several: `--format litert,onnx`."""
    asked = [piece.strip().lower() for name in (names or ["savedmodel"]) for piece in name.split(",")]
    if "" in asked:
        listed = next(name for name in names if "" in [piece.strip() for piece in name.split(",")])
        raise RecipeError(f"--format '{cut(listed)}' has an empty name in it.", where="--format",
                          fix="name the formats separated by commas (--format litert,onnx), or repeat --format")
    if "all" in asked:
        return list(FORMATS.values()), True
    return [get_format(name) for name in dict.fromkeys(asked)], False


def chosen_quantization(quantization: str | None, chosen: list[Format]) -> str | None:
    """`--quantize` as a format knows it (case-insensitive), refused when no chosen format has it."""
    if quantization is None:
        return None
    known = sorted({q for fmt in FORMATS.values() for q in fmt.quantizations})
    wanted = quantization.strip().lower()
    if wanted not in known:
        raise RecipeError(f"unknown quantization '{cut(quantization)}'.{did_you_mean(wanted, known)}", where="--quantize",
                          fix=f"choose from {', '.join(known)}, or leave --quantize out")
    if not any(wanted in f.quantizations for f in chosen):
        able = [f.name for f in FORMATS.values() if wanted in f.quantizations]
        raise RecipeError(f"--quantize {wanted} is for {', '.join(able)}; "
                          f"{', '.join(f.name for f in chosen)} cannot quantize.", where="--quantize",
                          fix=f"add --format {able[0]}")
    return wanted


def folder_name(fmt: Format, quantization: str | None) -> str:
    return fmt.name if quantization is None else f"{fmt.name}-{quantization}"


def check_name(name: str) -> None:
    """Refuse a `--name` that is not one folder's name: it is joined to --out, so a separator,
    `..` or an absolute path would write elsewhere."""
    why = None
    if not name.strip():
        why = "it is empty"
    elif os.path.isabs(name):
        why = "it is an absolute path; the model folder is one name, made under --out"
    elif name in (".", ".."):
        why = f"'{name}' names a folder that is already there (--out itself, or its parent)"
    elif "/" in name or (os.altsep and os.altsep in name) or os.sep in name:
        why = "it holds a path separator; the model folder is one name, made under --out"
    elif not name.isprintable():
        why = "it holds a character that is not printable (a line break, a tab, NUL)"
    elif len(os.fsencode(name)) > MAX_NAME_BYTES:
        why = f"it is longer than the {MAX_NAME_BYTES} bytes a folder name may have"
    if why is not None:
        shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in cut(name))
        raise RecipeError(f"--name '{shown}' cannot be a model folder's name: {why}.", where="--name",
                          fix="give a plain name such as mnist-dnn (it becomes <out>/<name>/), or leave --name out "
                              "for the recipe's name")


def export_run(run: Path, out_dir: Path, formats: list[str] | None = None, quantization: str | None = None,
               version: int | None = None, name: str | None = None, notes: list[str] | None = None,
               data_dir: str | None = None) -> list[Written]:
    """Export `run` to each format; `notes` collects what was skipped (with `all`) and why.
    `data_dir` is where the training data is, if not where the run read it (int8 calibrates on it)."""
    notes = notes if notes is not None else []
    chosen, everything = chosen_formats(formats or [])
    quantization = chosen_quantization(quantization, chosen)
    _check_options(chosen, version, name)
    # Checked before the model is loaded (and TensorFlow imported): a place we cannot
    # write, a taken version, a name held by something that is no export, should fail at once.
    model_dir = out_dir / (name or runs.info(run)["recipe"])
    require_writable_dir(out_dir, option="--out", what="export folder")
    require_writable_dir(model_dir, option="--out" if name is None else "--name", what="model folder")
    targets = _targets(chosen, quantization, version, model_dir, check_folders=not everything)

    from dlrecipes.export.serving import Served

    served = Served.load(run, data_dir=data_dir)
    problems = {fmt.name: fmt.problems(served, quant) for fmt, quant, _ in targets}
    refused = {name: found for name, found in problems.items() if found}
    if refused and not everything:
        able = [fmt.name if fmt.name not in refused or quantization is None
                else f"{fmt.name} without --quantize {quantization}"
                for fmt in FORMATS.values() if not fmt.problems(served, None)]
        why = " ".join(f"{name}: {'; '.join(found)}." for name, found in refused.items())
        raise RecipeError(f"cannot export '{run.name}' to {', '.join(refused)}. {why}", where="--format",
                          fix=f"export to {', '.join(able)}" if able else "this model exports to no format")
    targets = [(fmt, quant, final) for fmt, quant, final in targets if not refused.get(fmt.name)]
    for fmt, quant, final in targets:
        if everything and fmt.suffix is not None:  # only now known to be written
            check_replaceable(final, fmt.file_name, fmt.name, _label(fmt, quant))
        if fmt.needs_training_data(served, quant):
            _require_training_data(served, _label(fmt, quant))
    notes += [f"skipped {name}: {'; '.join(found)}" for name, found in refused.items()]
    written = []
    for fmt, quant, final in targets:
        replaced = write_folder(final, lambda folder: _fill(fmt, served, folder, quant), replace=fmt.suffix is not None)
        written.append(Written(fmt.name, quant, final, replaced))
    return written


def _check_options(chosen: list[Format], version: int | None, name: str | None) -> None:
    """--version, --name and the packages the formats need, before anything is read."""
    from dlrecipes.export import savedmodel

    if version is not None:
        if not any(fmt.suffix is None for fmt in chosen):
            raise RecipeError(f"--version numbers a SavedModel's folder, and savedmodel is not among the formats "
                              f"({', '.join(f.name for f in chosen)}).", where="--version",
                              fix="add --format savedmodel, or leave --version out")
        savedmodel.check_version(version)
    if name is not None:
        check_name(name)
    missing = {f.name: f.missing_packages() for f in chosen if f.missing_packages()}
    if missing:
        what = "; ".join(f"{fmt} needs {', '.join(pkgs)}" for fmt, pkgs in missing.items())
        raise RecipeError(f"{what}, which {'is' if len(missing) == 1 else 'are'} not installed.",
                          where="--format", fix=f"install the export extra: {EXTRA}")


def _targets(chosen: list[Format], quantization: str | None, version: int | None, model_dir: Path, *,
             check_folders: bool) -> list[tuple]:
    """(format, its quantization, the folder it goes to) for each format: a SavedModel's free
    version, or (`check_folders`) a folder that is free or holds an earlier export of that
    format. `all` checks the folders once it knows which formats the model goes to."""
    from dlrecipes.export import savedmodel

    targets = []
    for fmt in chosen:
        quant = quantization if quantization in fmt.quantizations else None
        if fmt.suffix is None:
            number = version or savedmodel.next_version(model_dir)
            savedmodel.check_free(model_dir / str(number), number)
            targets.append((fmt, quant, model_dir / str(number)))
        else:
            final = model_dir / folder_name(fmt, quant)
            if check_folders:
                check_replaceable(final, fmt.file_name, fmt.name, _label(fmt, quant))
            targets.append((fmt, quant, final))
    return targets


def _label(fmt: Format, quantization: str | None) -> str:
    return fmt.name + (f" ({quantization})" if quantization else "")


def _require_training_data(served, label: str) -> None:
    """The training split, read now: a format that calibrates on it (int8) should fail before
    anything is written, not after the other formats are."""
    try:
        served.training_split  # noqa: B018 - loaded here, kept for the calibration
    except DataUnavailableError as error:
        raise DataUnavailableError(
            f"{label} calibrates on the run's training data, which is not here: {error.what}",
            where=error.where,
            fix=f"{error.fix}; or export without --quantize" if error.fix else "export without --quantize") from None


def _fill(fmt: Format, served, folder: Path, quantization: str | None) -> None:
    if fmt.suffix is not None:  # a SavedModel writer makes its own folder
        folder.mkdir()
    fmt.write(served, folder, quantization)
    interrupts.check()  # a Ctrl-C that TensorFlow swallowed while converting stops the export here
    files = sorted(p.name for p in folder.iterdir())
    meta = metadata.build(served, fmt.name, quantization, encoded_images=fmt.encoded_images,
                          class_outputs=fmt.class_outputs, files=files)
    text = metadata.dumps(meta)
    if fmt.file_name is not None:
        fmt.embed(folder / fmt.file_name, text)
    metadata.write(folder, meta)


__all__ = ["FORMATS", "Format", "Written", "export_run", "format_of_file", "get_format", "register_format"]
