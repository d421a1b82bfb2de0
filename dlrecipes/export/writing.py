"""Writing an export so that it is either complete or absent.

Each export is filled in a temporary folder beside its final place and renamed into it; on
any failure (a full disk, a converter error, Ctrl-C) the temporary folder goes, and so do
the folders this export created. Replacing an earlier export of a single-file format swaps
the folders, so a reader sees the old export or the new one, never a mix; what is replaced
must be an earlier export (`check_replaceable`), never a user's folder or file by that name.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Callable

from dlrecipes import interrupts
from dlrecipes.errors import EXIT_FAILURE, RecipeError, is_disk_full, shown_path
from dlrecipes.export.metadata import FILE_NAME as METADATA

SHOWN_ENTRIES = 3  # entries of a folder named in a refusal


def write_folder(final: Path, fill: Callable[[Path], None], *, replace: bool = False) -> bool:
    """Write a temporary folder with `fill(folder)` (which creates it), then move it to `final`. With `replace`
    an existing `final` is swapped out and removed; without it `final` must be free.
    True when something was replaced."""
    model_dir = final.parent
    created = [p for p in (model_dir, *model_dir.parents) if not os.path.lexists(p)]
    tmp = model_dir / f".tmp-{final.name}-{os.getpid()}"
    old = model_dir / f".old-{final.name}-{os.getpid()}"
    replaced = False
    try:
        model_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        fill(tmp)  # creates it: a SavedModel writer wants to make its own folder
        # The commit point: a signal TensorFlow swallowed (raised inside a callback, printed
        # and dropped) still stops the export before it appears.
        interrupts.check()
        if replace and os.path.lexists(final):
            os.replace(final, old)
            replaced = True
        os.replace(tmp, final)
    except BaseException as error:  # Ctrl-C too: a half-written export must not stay
        shutil.rmtree(tmp, ignore_errors=True)
        if replaced and not os.path.lexists(final):
            os.replace(old, final)  # the earlier export stays as it was
        for folder in created:  # deepest first; only if still empty
            try:
                folder.rmdir()
            except OSError:
                break
        if isinstance(error, Exception) and interrupts.received() is not None:
            # Ctrl-C inside TensorFlow or Keras can come out as another error (a TypeError from
            # a layer's call, a SystemError from C code): it is the interrupt all the same.
            raise KeyboardInterrupt from error
        if isinstance(error, Exception) and is_disk_full(error):
            raise RecipeError(
                "no space left on device while exporting.",
                where=str(final),
                fix="free space on that device, or export elsewhere with --out",
                exit_code=EXIT_FAILURE,
            ) from error
        raise
    if replaced:
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
    return replaced


def check_replaceable(final: Path, file_name: str, fmt: str, label: str) -> None:
    """Refuse to export over `final` unless it is free or holds an earlier export of `fmt`:
    a real folder of exactly `metadata.json` (saying that format) and `file_name`. Anything
    else by that name - a user's folder, a file, a link - is refused, saying what it is."""
    if not os.path.lexists(final):
        return
    kind = _not_an_export(final, file_name, fmt)
    if kind is not None:
        raise RecipeError(
            f"cannot export {label} to '{shown_path(str(final))}': it is {kind}, not an earlier {label} export "
            "(a re-export replaces only that).",
            where=str(final),
            fix="move it away if it is not needed, or export elsewhere with --out or --name")


def _not_an_export(path: Path, file_name: str, fmt: str) -> str | None:
    """What `path` is, in words, when it is not an export of `fmt`; None when it is one."""
    if os.path.islink(path):
        return "a symbolic link"
    if not path.is_dir():
        return "a file" if path.is_file() else "something other than a folder"
    try:
        entries = sorted(p.name for p in path.iterdir())
    except OSError as error:
        return f"a folder that cannot be listed ({error.strerror or error})"
    others = [e for e in entries if e not in (METADATA, file_name)]
    if others:
        more = len(others) - SHOWN_ENTRIES
        return f"a folder holding {', '.join(others[:SHOWN_ENTRIES])}" + (f" and {more} more" if more > 0 else "")
    if not entries:
        return "an empty folder"
    if len(entries) < 2:
        return f"a folder without {({METADATA, file_name} - set(entries)).pop()}"
    if _format_of(path / METADATA) != fmt:
        return f"a folder whose {METADATA} is not that of a {fmt} export"
    return None


def _format_of(path: Path) -> str | None:
    try:
        meta = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return meta.get("format") if isinstance(meta, dict) and "dlrecipes_export" in meta else None
