"""Writing an export so that it is either complete or absent.

Each export is filled in a temporary folder beside its final place and renamed into it; on
any failure (a full disk, a converter error, Ctrl-C) the temporary folder goes, and so do
the folders this export created. Replacing an earlier export of a single-file format swaps
the folders, so a reader sees the old export or the new one, never a mix.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

from dlrecipes.errors import EXIT_FAILURE, RecipeError, is_disk_full


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
