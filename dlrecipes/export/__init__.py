"""Export a complete run for other runtimes: SavedModel (TF Serving), ONNX, LiteRT, Keras.

Layout under `--out` (default `exports/`), one folder per model name:

    exports/mnist-dnn/1/               SavedModel, TF Serving's numbered versions
    exports/mnist-dnn/onnx/            model.onnx + metadata.json
    exports/mnist-dnn/litert/          model.tflite + metadata.json (float32)
    exports/mnist-dnn/litert-int8/     model.tflite quantized (also litert-float16)
    exports/mnist-dnn/keras/           model.keras + metadata.json

TF Serving reads only the numbered folders, so the others can sit beside them. Every
format asked is checked before anything is written (missing packages, layers a format
cannot hold, a quantization it does not have), and each export is written whole or not
at all (`writing.write_folder`).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path

from dlrecipes import runs
from dlrecipes.errors import RecipeError
from dlrecipes.export import metadata
from dlrecipes.export.formats import FORMATS, Format, format_of_file, get_format, register_format
from dlrecipes.export.writing import write_folder
from dlrecipes.writable import require_writable_dir

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("formats", "metadata", "serving", "writing", "opening"):
        importlib.import_module(f"{__name__}.{_module.name}")

EXTRA = "pip install 'dlrecipes[export]'"


@dataclass
class Written:
    format: str
    quantization: str | None
    path: Path  # the export's folder
    replaced: bool = False


def chosen_formats(names: list[str]) -> tuple[list[Format], bool]:
    """The formats `--format` names (`all`: every one), and whether `all` was asked."""
    names = names or ["savedmodel"]
    if "all" in names:
        return list(FORMATS.values()), True
    return [get_format(name) for name in dict.fromkeys(names)], False


def folder_name(fmt: Format, quantization: str | None) -> str:
    return fmt.name if quantization is None else f"{fmt.name}-{quantization}"


def export_run(run: Path, out_dir: Path, formats: list[str] | None = None, quantization: str | None = None,
               version: int | None = None, name: str | None = None, notes: list[str] | None = None) -> list[Written]:
    """Export `run` to each format; `notes` collects what was skipped (with `all`) and why."""
    from dlrecipes.export import savedmodel

    notes = notes if notes is not None else []
    chosen, everything = chosen_formats(formats or [])
    if quantization is not None and not any(quantization in f.quantizations for f in chosen):
        able = [f.name for f in FORMATS.values() if quantization in f.quantizations]
        raise RecipeError(f"--quantize {quantization} is for {', '.join(able) or 'no format'}; "
                          f"{', '.join(f.name for f in chosen)} cannot quantize.", where="--quantize",
                          fix=f"add --format {able[0]}" if able else "leave --quantize out")
    missing = {f.name: f.missing_packages() for f in chosen if f.missing_packages()}
    if missing:
        what = "; ".join(f"{fmt} needs {', '.join(pkgs)}" for fmt, pkgs in missing.items())
        raise RecipeError(f"{what}, which {'is' if len(missing) == 1 else 'are'} not installed.",
                          where="--format", fix=f"install the export extra: {EXTRA}")

    # Checked before the model is loaded (and TensorFlow imported): a place we cannot
    # write, or a taken version, should fail at once.
    model_dir = out_dir / (name or runs.info(run)["recipe"])
    require_writable_dir(out_dir, option="--out", what="export folder")
    require_writable_dir(model_dir, option="--out", what="model folder")
    targets = []
    for fmt in chosen:
        quant = quantization if quantization in fmt.quantizations else None
        if fmt.suffix is None:
            number = version or savedmodel.next_version(model_dir)
            savedmodel.check_free(model_dir / str(number), number)
            targets.append((fmt, quant, model_dir / str(number)))
        else:
            targets.append((fmt, quant, model_dir / folder_name(fmt, quant)))

    from dlrecipes.export.serving import Served

    served = Served.load(run)
    problems = {fmt.name: fmt.problems(served, quant) for fmt, quant, _ in targets}
    refused = {name: found for name, found in problems.items() if found}
    if refused and not everything:
        able = [fmt.name if fmt.name not in refused or quantization is None
                else f"{fmt.name} without --quantize {quantization}"
                for fmt in FORMATS.values() if not fmt.problems(served, None)]
        why = " ".join(f"{name}: {'; '.join(found)}." for name, found in refused.items())
        raise RecipeError(f"cannot export '{run.name}' to {', '.join(refused)}. {why}", where="--format",
                          fix=f"export to {', '.join(able)}" if able else "this model exports to no format")
    written = []
    for fmt, quant, final in targets:
        if refused.get(fmt.name):
            notes.append(f"skipped {fmt.name}: {'; '.join(refused[fmt.name])}")
            continue
        replaced = write_folder(final, lambda folder: _fill(fmt, served, folder, quant), replace=fmt.suffix is not None)
        written.append(Written(fmt.name, quant, final, replaced))
    return written


def _fill(fmt: Format, served, folder: Path, quantization: str | None) -> None:
    if fmt.suffix is not None:  # a SavedModel writer makes its own folder
        folder.mkdir()
    fmt.write(served, folder, quantization)
    files = sorted(p.name for p in folder.iterdir())
    meta = metadata.build(served, fmt.name, quantization, encoded_images=fmt.encoded_images,
                          class_outputs=fmt.class_outputs, files=files)
    text = metadata.dumps(meta)
    if fmt.file_name is not None:
        fmt.embed(folder / fmt.file_name, text)
    metadata.write(folder, meta)


__all__ = ["FORMATS", "Format", "Written", "export_run", "format_of_file", "get_format", "register_format"]
