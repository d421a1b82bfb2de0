"""Can we write there? Asked before any work, so a bad place costs a second, not a training.

A runs folder on a read-only disk, an `--out` that runs through a file, a name too long for
the file system: each would otherwise be found when the first file is written - after the
data is loaded, or after the model is traced for export - and reported as a bare OSError.
These checks find them first and say what, where and how to fix.

The only honest test is to write: we run as root in containers and CI, where
`os.access` answers yes even on a read-only mount. So a probe file is created and deleted
in the nearest folder that exists; nothing else is created (a folder that does not exist
yet is left to the command that fills it). No TensorFlow here: this must stay cheap.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from dlrecipes.errors import EXIT_BAD_INPUT, EXIT_FAILURE, RecipeError, is_disk_full, shown_path

# A flag's environment variable, named in the fix where the place may come from it.
ENV_OF = {"--runs-dir": "DLRECIPES_RUNS_DIR"}

# Why nothing can be created in a folder, by errno, in the words of a sentence.
WHY = {
    errno.EROFS: "'{place}' is on a read-only file system",
    errno.EACCES: "no permission to create files in '{place}'",
    errno.EPERM: "no permission to create files in '{place}'",
    errno.ENOSPC: "no space left on the device of '{place}'",
    errno.EDQUOT: "disk quota exceeded on '{place}'",
}
# Our writers write `.<name>.<pid>.tmp.png` beside the file and rename it: room for that.
TMP_NAME_ROOM = 24


def require_writable_dir(path: Path, *, option: str, what: str = "folder") -> None:
    """Refuse, as a RecipeError naming `path` and `option`, a folder we could not write in.

    `path` may not exist yet: then its nearest existing ancestor must be a folder in which
    entries can be created. `what` names the folder in the message ("runs folder");
    `option` is the flag that chose it ("--runs-dir"), or words for a place no flag names.
    """
    env = ENV_OF.get(option)
    if option.startswith("-"):
        elsewhere = f"point {option}" + (f" (or {env})" if env else "") + " at a folder you can write"
    else:  # a place named by the user's earlier choice ("the run folder"), not by a flag
        elsewhere = f"make '{shown_path(str(path))}' writable, or move it where you can write"
    _check_folder(Path(path), subject=f"the {what} '{shown_path(str(path))}'", option=option,
                  elsewhere=elsewhere)


def require_writable_file(path: Path, *, option: str, suffix: str | None = None) -> None:
    """Refuse a file we could not (re)write: a wrong suffix, a folder by that name, a name
    too long, or a folder that is missing or cannot be written in.

    The folder must exist: our writers write a temporary file beside the target and rename
    it, and do not create folders.
    """
    path = Path(path)
    subject = f"'{shown_path(str(path))}'"
    if suffix is not None and path.suffix.lower() != suffix.lower():
        raise RecipeError(f"{subject} does not end in {suffix}.", where=option, fix=f"name a {suffix} file with {option}")
    folder = path.parent
    elsewhere = f"name a file in a folder you can write with {option}"
    _check_folder(folder, subject=subject, option=option, elsewhere=elsewhere)
    mode = _mode(folder)
    if mode is None:
        raise RecipeError(f"cannot write {subject}: folder '{shown_path(str(folder))}' does not exist.",
                          where=option, fix=f"create the folder first, or {elsewhere}")
    if len(os.fsencode(path.name)) > _name_max(folder) - TMP_NAME_ROOM:
        raise RecipeError(f"cannot write {subject}: its name is too long for the file system "
                          f"({_name_max(folder) - TMP_NAME_ROOM} bytes at most here).",
                          where=option, fix=f"name a shorter file with {option}")
    mode = _mode(path)
    if mode is not None and stat.S_ISDIR(mode):
        raise RecipeError(f"{subject} is a folder; {option} names a file to write.", where=option,
                          fix=f"name a file (in that folder or elsewhere) with {option}")


def _check_folder(path: Path, *, subject: str, option: str, elsewhere: str) -> None:
    """The rule of `require_writable_dir`; `subject` is what the message says cannot be written."""

    def refuse(why: str, fix: str = elsewhere, exit_code: int = EXIT_BAD_INPUT):
        raise RecipeError(f"cannot write {subject}: {why}.", where=option, fix=fix, exit_code=exit_code)

    existing = None
    for candidate in (path, *path.absolute().parents):
        try:
            mode = os.stat(candidate).st_mode
        except (FileNotFoundError, NotADirectoryError):
            # Not there, or under a file: the walk up finds that file and says so.
            if os.path.lexists(candidate):
                refuse(f"'{shown_path(str(candidate))}' is a broken symbolic link")
            continue
        except OSError as error:  # a name too long, a symlink loop, a folder we may not enter
            at = "" if candidate == path else f" ('{shown_path(str(candidate))}')"
            refuse(_plain(error) + at)
        if not stat.S_ISDIR(mode):
            kind = "a file" if stat.S_ISREG(mode) else "a special file"
            refuse(f"'{shown_path(str(candidate))}' is {kind}, not a folder")
        existing = Path(candidate)
        break
    assert existing is not None, "the root folder always exists"

    name_max = _name_max(existing)
    for name in path.absolute().parts[len(existing.absolute().parts):]:  # the folders still to create
        if len(os.fsencode(name)) > name_max:
            refuse(f"the name '{name[:40]}…' is longer than the {name_max} bytes the file system allows")
    try:
        fd, probe = tempfile.mkstemp(prefix=".dlrecipes-probe-", dir=existing)
    except OSError as error:
        place = shown_path(str(existing))
        why = WHY.get(error.errno, "cannot create a file in '{place}': " + _plain(error)).format(place=place)
        if is_disk_full(error):
            refuse(why, fix=f"free space on that device, or {elsewhere}", exit_code=EXIT_FAILURE)
        refuse(why)
    os.close(fd)
    os.unlink(probe)


def _mode(path: Path) -> int | None:
    """`path`'s st_mode, or None where it does not exist (never raises: the folder was checked)."""
    try:
        return os.stat(path).st_mode
    except OSError:
        return None


def _plain(error: OSError) -> str:
    """errno's strerror as words in a sentence: 'file name too long'."""
    text = error.strerror or str(error)
    return text[:1].lower() + text[1:]


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255  # every file system we run on allows at least this


def free_space(path: Path) -> str:
    """The free space of the disk that holds `path` (or its nearest existing folder), for a
    message: '0.1 MiB', or '?' where it cannot be asked."""
    import shutil

    for candidate in (Path(path), *Path(path).absolute().parents):
        try:
            return f"{shutil.disk_usage(candidate).free / 2**20:.1f} MiB"
        except FileNotFoundError:
            continue
        except OSError:
            break
    return "?"


def disk_full(what: str, place: Path, fix: str) -> RecipeError:
    """The error a command raises when the disk filled while it wrote `what` into `place`:
    which place, its disk's free space, what to do (exit 1: nothing was wrong with the input)."""
    return RecipeError(f"no space left on device: {what} could not be written.",
                       where=f"{place} ({free_space(place)} free)", fix=fix, exit_code=EXIT_FAILURE)
