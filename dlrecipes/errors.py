"""The one error type users see.

Every failure caused by the user's input (a recipe, a flag, a file, a dataset) is raised as
a `RecipeError` carrying what went wrong, where, and how to fix it. The CLI prints it as one
message and exits with `exit_code`; it never shows a traceback for these.
"""

from __future__ import annotations

import difflib
import errno
import os
from collections.abc import Iterable

# Exit codes, documented in the README.
EXIT_OK = 0
EXIT_FAILURE = 1  # training or export failed for a reason that is not the input's fault
EXIT_BAD_INPUT = 2  # recipe, flag, file or run reference is wrong
EXIT_DATA_UNAVAILABLE = 3  # the dataset is not on this machine and cannot be downloaded
EXIT_BUSY = 75  # the run is being trained by another process: try again later (sysexits' EX_TEMPFAIL)
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT); SIGTERM exits 143 (128 + SIGTERM)

MAX_WORD = 100  # longest word `closest` tries to match


class RecipeError(Exception):
    """A problem with the user's input, reported as what / where / how to fix."""

    def __init__(
        self,
        what: str,
        *,
        where: str | None = None,
        fix: str | None = None,
        details: list[str] | None = None,
        exit_code: int = EXIT_BAD_INPUT,
    ):
        super().__init__(what)
        self.what = what
        self.details = details or []
        self.where = where
        self.fix = fix
        self.exit_code = exit_code

    def __str__(self) -> str:
        lines = [self.what] + [f"  {detail}" for detail in self.details]
        if self.where:
            lines.append(f"  where: {self.where}")
        if self.fix:
            lines.append(f"  fix:   {self.fix}")
        return "\n".join(lines)


class DataUnavailableError(RecipeError):
    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None):
        super().__init__(what, where=where, fix=fix, exit_code=EXIT_DATA_UNAVAILABLE)


DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
DISK_FULL_WORDS = ("no space left on device", "disk quota exceeded")


def is_disk_full(error: BaseException) -> bool:
    """Whether `error`, or an error it was raised from, says the disk (or the quota) is full.

    Python's writes raise OSError with errno ENOSPC or EDQUOT. TensorFlow's C++ file
    writers raise `tf.errors.*` instead, with the system's message in the text; they are
    recognised by their module, so this never imports TensorFlow.
    """
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
            return True
        from_tensorflow = type(error).__module__.split(".")[0] in ("tensorflow", "keras")
        if from_tensorflow and any(words in str(error).lower() for words in DISK_FULL_WORDS):
            return True
        error = error.__cause__ or error.__context__
    return False


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The most similar choice to a probably misspelt `word`, or None.

    A word far longer than any name is no misspelling of one, and comparing a 1 MB value
    with each choice would take seconds: such words get no suggestion.
    """
    if len(word) > MAX_WORD:
        return None
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return matches[0] if matches else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' Did you mean 'x'?' when a close choice exists, else ''."""
    match = closest(word, choices)
    return f" Did you mean '{match}'?" if match else ""


# --- showing the user's text in a message ---------------------------------------------------

MAX_SHOWN = 80  # characters of a value, key or path echoed in a message


def cut(text: str, width: int = MAX_SHOWN) -> str:
    """`text` cut to `width` characters: a message echoes a 1 MB value as its start."""
    return text if len(text) <= width else text[: width - 1] + "…"


def quoted(text: object) -> str:
    return f"'{cut(str(text))}'"


def shown(value: object) -> str:
    return cut(repr(value))


def shown_path(ref: str) -> str:
    """The absolute path for a message; never resolves symlinks (a loop would raise)."""
    try:
        return cut(os.path.abspath(ref), 4 * MAX_SHOWN)
    except (OSError, ValueError):
        return cut(ref, 4 * MAX_SHOWN)
