"""Ctrl-C and SIGTERM stop a command at whatever moment they come, and are never lost.

Python turns SIGINT into a KeyboardInterrupt between two bytecodes of the main thread,
which may be inside a garbage-collector callback or a `__del__`: there the exception is
printed ("Exception ignored in ...") and swallowed, and a training would go on to finish.
So the handler also records the signal, and a training checks the record after every
step (`check`) and before it calls a run complete. SIGTERM, which `kill`, systemd and
batch schedulers send, is handled the same way; the exit code is 128 + the signal's number
(130 for Ctrl-C, 143 for SIGTERM). A second signal while the first is being handled ends
the process at once with the same code: every file a run holds is written atomically, so
leaving mid-way loses nothing that was complete.
"""

from __future__ import annotations

import os
import signal
import sys

_received: int | None = None  # the first signal's number, once one came
_deferred = False  # record a signal without raising: `check` raises it later


def install() -> None:
    """Route SIGINT and SIGTERM here (the CLI calls this before importing anything heavy).

    A signal the process was started ignoring (`nohup`, a shell's background job) stays
    ignored, as Python itself leaves it."""
    for number in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(number) is not signal.SIG_IGN:
            signal.signal(number, _handler)
    sys.unraisablehook = _unraisable


def _unraisable(unraisable) -> None:
    """Print what Python could not raise, except our own interrupt: it was recorded and will
    be raised by `check` (a traceback from a garbage-collector callback would only confuse)."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt) and _received is not None:
        return
    sys.__unraisablehook__(unraisable)


def _handler(number, frame) -> None:
    global _received
    if _received is not None:
        os.write(2, b"interrupted again: exiting now\n")
        os._exit(128 + _received)
    _received = number
    if not _deferred:
        raise KeyboardInterrupt


def defer(on: bool = True) -> None:
    """From `defer()` to `defer(False)`, a signal is recorded but not raised: the next
    `check` raises it. Spans the steps between a run's creation and the handlers that mark
    it interrupted, so that a Ctrl-C in between cannot leave it 'running'."""
    global _deferred
    _deferred = on


def received() -> int | None:
    return _received


def check() -> None:
    """Raise KeyboardInterrupt if a signal came, even one whose exception was swallowed."""
    if _received is not None:
        raise KeyboardInterrupt


def exit_code(default: int = 130) -> int:
    return 128 + _received if _received is not None else default


def leave(code: int) -> None:
    """End an interrupted process without the interpreter's teardown.

    After an interrupt TensorFlow's own threads may still be running (a data pipeline, an
    op in flight), and tearing the interpreter down under them has crashed (exit 139
    instead of 130). The run's files are complete and the kernel drops the run's lock, so
    nothing is lost by leaving directly.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
