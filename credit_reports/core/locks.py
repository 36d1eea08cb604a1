"""Process locks: one exclusive, non-blocking ``flock`` on a file that holds its holder's pid.

The kernel drops an flock when its process dies, so a killed fetch or run never leaves a stale lock. The
store takes one per environment folder (one fetch at a time), the runner one per data folder (one run at
a time); each turns :class:`LockHeld` into its own one-line error.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

try:  # advisory locks are POSIX; elsewhere two concurrent processes are simply not guarded against
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["LockHeld", "acquire", "release"]


class LockHeld(Exception):
    """Another process holds the lock on ``path``; ``holder`` is the pid it wrote ("" when unknown)."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{path} is locked by pid {holder or 'unknown'}")
        self.path = path
        self.holder = holder


def acquire(path: Path) -> int | None:
    """Lock ``path`` (created when missing), write our pid into it and return its descriptor.

    Raises :class:`LockHeld` at once when another process holds it (never waits); OSErrors opening or
    writing the file propagate for the caller to name. None where the platform has no flock.
    """
    if fcntl is None:  # pragma: no cover
        return None
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        os.close(fd)
        raise LockHeld(path, holder) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def release(fd: int | None) -> None:
    """Empty the pid and release a lock :func:`acquire` took (None: nothing to do)."""
    if fd is None:
        return
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
