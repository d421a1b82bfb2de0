"""The consoles the CLI and training print to: rich's in a terminal, whole lines elsewhere."""

from __future__ import annotations

from rich.console import Console

PIPED_WIDTH = 200  # a table's room in a log file or a pipe


def make(stderr: bool = False) -> Console:
    """A console on stdout or stderr. Not a terminal (a log file, CI, grep): no line is cut
    or wrapped at rich's 80 columns - a path or a command stays whole and can be copied -
    and tables get room for their columns. No emoji codes: a recipe's ":warning:" is
    printed as written."""
    console = Console(stderr=stderr, emoji=False)
    if not (console.is_terminal or console.is_jupyter):
        console.soft_wrap = True
        console.width = PIPED_WIDTH
    return console


def is_live(console: Console) -> bool:
    """Whether `console` redraws in place (a progress bar), rather than appending lines."""
    return console.is_interactive or console.is_jupyter
