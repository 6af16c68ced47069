"""Who is alive, told by kernel file locks rather than PIDs.

A process that executes a run holds ``<run>/.lock`` for as long as it runs; an engine holds
``<home>/.engine.lock`` for as long as it serves. The kernel drops a lock when its holder dies,
however it dies, so after a crash or a container restart (where the new server may well have
the old one's PID, 1 in Docker) a run nobody holds is known to be interrupted, and queued runs
can be queued again when no other engine serves the same home.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class FileLock:
    """An exclusive, non-blocking flock on ``path``; released by ``release`` or by process death."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> bool:
        """True if this process now holds the lock; False if another process does."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> "FileLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def run_lock(run_dir: Path) -> FileLock:
    return FileLock(Path(run_dir) / ".lock")


def is_held(path: Path) -> bool:
    """Whether some live process holds the lock at ``path`` (False if the file is missing)."""
    if not Path(path).exists():
        return False
    probe = FileLock(path)
    if probe.acquire():
        probe.release()
        return False
    return True
