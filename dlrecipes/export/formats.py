"""Export formats registered by name (`dlrecipes export --format NAME`).

A format is a `Format` subclass decorated with `@register_format`, in its own module of
this package: it says what it cannot hold (checked before anything is written), writes a
`Served` run into a folder, and opens what it wrote for `predict`. Adding a format is one
module; `export/__init__.py` imports every module of the package.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar

from dlrecipes.errors import RecipeError


@dataclass
class Engine:
    """A model opened for `predict`: called with numpy arrays keyed by the metadata's input
    names, it returns numpy arrays keyed by output name. `inputs` (name -> (shape, dtype))
    and `outputs` (name -> shape) are what the model itself declares, None for a dimension it
    leaves open ("string" for text dtypes); None where the runtime does not say. `predict`
    checks the export's metadata against them before it reads any input."""

    call: Callable[[dict], dict]
    inputs: dict[str, tuple[tuple, str]] | None = None
    outputs: dict[str, tuple] | None = None

    def __call__(self, inputs: dict) -> dict:
        return self.call(inputs)


class Format:
    name: ClassVar[str]
    suffix: ClassVar[str | None]  # of the model file inside the export folder; None: the folder is the model
    summary: ClassVar[str]  # one line for --help and the README
    quantizations: ClassVar[tuple[str, ...]] = ()
    # Modules the format needs beyond the core dependencies (the `export` extra).
    packages: ClassVar[tuple[str, ...]] = ()
    # Whether image sources take encoded files in this format, and whether a classifier's
    # `classes` / `scores` outputs are in it (see `Served.function`).
    encoded_images: ClassVar[bool] = False
    class_outputs: ClassVar[bool] = False

    @property
    def file_name(self) -> str | None:
        return None if self.suffix is None else f"model{self.suffix}"

    def missing_packages(self) -> list[str]:
        return [name for name in self.packages if importlib.util.find_spec(name) is None]

    def problems(self, served, quantization: str | None) -> list[str]:
        """Why `served` cannot go to this format: each layer or input it cannot hold, in
        words. Checked for every format asked before anything is written."""
        return []

    def needs_training_data(self, served, quantization: str | None) -> bool:
        """Whether writing reads the run's training examples (LiteRT's int8 calibration):
        then they are read before anything is written, so a missing dataset fails first."""
        return False

    def write(self, served, folder: Path, quantization: str | None) -> None:
        """Write the model into `folder`: an empty temporary folder, or for a folder format
        (suffix None) the path the folder is to be made at."""
        raise NotImplementedError

    def embed(self, model_file: Path, text: str) -> None:
        """Store the metadata's JSON text inside the model file, where the format has room."""

    def embedded(self, model_file: Path) -> str | None:
        """The metadata text stored by `embed`, or None."""
        return None

    def open(self, path: Path) -> Engine:
        """The model at `path` (its folder, or its file) as a function of numpy inputs."""
        raise NotImplementedError


FORMATS: dict[str, Format] = {}


def register_format(cls: type[Format]) -> type[Format]:
    if cls.name in FORMATS:
        raise ValueError(f"export format '{cls.name}' is registered twice")
    FORMATS[cls.name] = cls()
    return cls


def get_format(name: str) -> Format:
    if name not in FORMATS:
        from dlrecipes.errors import did_you_mean

        raise RecipeError(f"unknown export format '{name}'.{did_you_mean(name, [*FORMATS, 'all'])}", where="--format",
                          fix=f"choose from {', '.join([*FORMATS, 'all'])}")
    return FORMATS[name]


def format_of_file(path: Path) -> Format | None:
    """The format whose model file `path` is, by its suffix (`.onnx`, `.tflite`, `.keras`)."""
    for fmt in FORMATS.values():
        if fmt.suffix is not None and path.suffix.lower() == fmt.suffix:
            return fmt
    return None
