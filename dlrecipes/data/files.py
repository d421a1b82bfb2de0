"""Finding the user's data files, and reading CSV files with errors that name the line.

A relative `path` in a recipe is looked up under, first match wins: `data.data_dir` (or
`--data-dir`), the `DLRECIPES_DATA_DIR` environment variable, the current directory. So a
recipe names a file the same way on every machine and each machine says where its data is.
"""

from __future__ import annotations

import os
from pathlib import Path

from dlrecipes.errors import DataUnavailableError, RecipeError


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


def csv_records(path: Path, where: str):
    """(line, fields) of each record of a CSV file, `line` being where the record starts.

    What the csv module cannot read becomes a RecipeError naming the file and the line: a
    cell over `csv.field_size_limit()` characters (most often an opening quote never closed,
    which reads the rest of the file as one cell), or bytes that are not UTF-8. The line is
    counted by the reader, so blank lines and quoted line breaks keep the numbers right. A
    byte-order mark (Excel's "CSV UTF-8" starts the file with one) is no part of the first cell.
    """
    import csv

    line = 1
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            while True:
                line = reader.line_num + 1
                try:
                    fields = next(reader)
                except StopIteration:
                    return
                except csv.Error as err:
                    raise _csv_error(path, line, err, where) from None
                yield line, fields
    except UnicodeDecodeError as err:
        raise RecipeError(f"cannot read {path} as a UTF-8 CSV file: line {line} is not UTF-8 ({err.reason}).",
                          where=f"{path}, line {line} ({where})", fix="save the file as UTF-8") from None
    except IsADirectoryError:
        raise RecipeError(f"{path} is a folder, not a CSV file.", where=where) from None


def _csv_error(path: Path, line: int, err, where: str) -> RecipeError:
    import csv

    if "field larger than field limit" in str(err):
        return RecipeError(
            f"line {line} of {path}: a cell is longer than the csv module's limit of "
            f"{csv.field_size_limit():,} characters ({err}).",
            where=f"{path}, line {line} ({where})",
            fix='an opening quote (") that is never closed makes the rest of the file one cell: close or remove it; '
                "a cell really that long is text, not a table value",
        )
    return RecipeError(f"line {line} of {path} is not valid CSV: {err}.", where=f"{path}, line {line} ({where})",
                       fix="fix the quoting on that line")
