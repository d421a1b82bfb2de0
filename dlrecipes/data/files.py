"""Finding the user's data files.

A relative `path` in a recipe is looked up under, first match wins: `data.data_dir` (or
`--data-dir`), the `DLRECIPES_DATA_DIR` environment variable, the current directory. So a
recipe names a file the same way on every machine and each machine says where its data is.
"""

from __future__ import annotations

import os
from pathlib import Path

from dlrecipes.errors import DataUnavailableError


def search_roots(data_dir: str | None) -> list[Path]:
    roots = [data_dir, os.environ.get("DLRECIPES_DATA_DIR"), "."]
    return [Path(root).expanduser() for root in roots if root]


def find_file(path: str, data_dir: str | None, *, where: str = "data.path", get_it: str | None = None) -> Path:
    """The file a recipe names, or a DataUnavailableError that says where it looked."""
    candidate = Path(path).expanduser()
    looked = [candidate] if candidate.is_absolute() else [root / candidate for root in search_roots(data_dir)]
    for full in looked:
        if full.exists():
            return full.resolve()
    fix = "pass --data-dir DIR or set DLRECIPES_DATA_DIR=DIR to the folder that holds it"
    if get_it:
        fix = f"{fix}; {get_it}"
    raise DataUnavailableError(
        f"data file '{path}' not found (looked in: {', '.join(str(p) for p in looked)}).",
        where=where,
        fix=fix,
    )


def is_present(path: str, data_dir: str | None) -> bool:
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        return candidate.exists()
    return any((root / candidate).exists() for root in search_roots(data_dir))
