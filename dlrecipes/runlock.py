"""Who trains a run: one process at a time, named in `RUN/lock`.

A training, or a resume, holds an exclusive `flock` on `RUN/lock` for as long as it runs,
and writes its PID, host and process start time into the file. The kernel drops the lock
when the process ends, however it ends (SIGKILL included), so:

- a second `train --resume` of a run that is still training finds the lock held and is
  refused before it reads or changes anything;
- a lock left behind by a dead process is free, and the next resume takes it over (and
  says whose it was).

`runs` only reads the file - it never takes the lock, so listing cannot get in a
training's way - and asks whether the PID it names is still that process
(`owner_alive`). Locks on a network file system are only as good as its `flock`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from dlrecipes.errors import EXIT_BUSY, RecipeError

NAME = "lock"
RECORD_BYTES = 511  # the owner's JSON, padded with spaces


def process_started(pid: int) -> str | None:
    """When process `pid` started, in the kernel's clock ticks since boot (Linux), so a
    PID reused by a later process is not taken for the owner; None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count from its end.
    return stat.rsplit(")", 1)[1].split()[19]


def this_process() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "process_started": process_started(os.getpid())}


def read_owner(run: Path) -> dict | None:
    """The owner recorded in RUN/lock; None when there is none or it cannot be read."""
    try:
        owner = json.loads((run / NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) and isinstance(owner.get("pid"), int) else None


def owner_alive(owner: dict) -> bool | None:
    """Whether the process named in `owner` still runs: None when it is on another host."""
    if owner.get("host") != socket.gethostname():
        return None
    pid = owner["pid"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, owned by another user
    started = owner.get("process_started")
    return started is None or process_started(pid) in (None, started)


def describe(owner: dict | None) -> str:
    if not owner:
        return "an unknown process"
    return f"process {owner.get('pid')} on {owner.get('host')}"


@dataclass
class Lock:
    """An exclusive hold on a run; `previous` is the dead owner it took over from, if any."""

    path: Path
    fd: int
    previous: dict | None = None

    def moved(self, run: Path) -> None:
        """The run folder was renamed (a new run put in place): the lock goes with it."""
        self.path = run / NAME

    def release(self) -> None:
        """Remove the lock file, then let go. Removing it first means nobody can be left
        holding the lock of a file that is no longer the run's (see `acquire`)."""
        if self.fd < 0:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self.fd)
        self.fd = -1


def acquire(run: Path) -> Lock:
    """Own `run`, or raise a RecipeError (exit 75, "try again later") naming the owner."""
    path = run / NAME
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise RecipeError(
                f"cannot open the lock of run '{run.name}': {error.strerror}.",
                where=str(path),
                fix="check that the run folder can be written",
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            owner = read_owner(run)
            raise RecipeError(
                f"run '{run.name}' is being trained by {describe(owner)}"
                + (f" (since {owner['since']})" if owner and owner.get("since") else "") + ".",
                where=str(path),
                fix="wait for it to finish (`dlrecipes runs` shows its status), or stop that process first",
                exit_code=EXIT_BUSY,
            ) from None
        # The previous owner may have removed the file between our open and our lock: then
        # we hold a lock on a file that is no longer the run's, and must start again.
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    previous = read_owner(run)
    if previous and previous.get("host") != socket.gethostname():
        # Held by no process here; but a file system whose locks do not reach across
        # machines cannot say whether that host's process still trains it.
        os.close(fd)
        raise RecipeError(
            f"run '{run.name}' was last trained by {describe(previous)}, another machine, and "
            "whether that process still runs cannot be checked from here.",
            where=str(path),
            fix=f"if it is no longer running there, remove {path} and try again",
            exit_code=EXIT_BUSY,
        )
    from dlrecipes.runs import utc_now

    # One write of a fixed size over the whole file: a reader sees the old owner or the
    # new one, never an empty or half-written file (as truncating first would show).
    record = json.dumps({**this_process(), "since": utc_now()}).encode().ljust(RECORD_BYTES) + b"\n"
    try:
        os.pwrite(fd, record, 0)
        os.ftruncate(fd, len(record))
    except OSError:  # a full disk: the caller reports it
        os.close(fd)
        raise
    return Lock(path, fd, previous)
