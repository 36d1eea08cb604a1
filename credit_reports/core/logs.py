"""The command line's log on stderr, made for schedules: every line starts with a UTC timestamp.

A cron job or systemd unit appends stderr to a file, so each line has to stand on its own: the
log records (``WARNING credit_reports.fetch.readers: ...``), the command's own lines (``credit-reports: error:
...``, ``credit-reports: done: ...``) and, when stderr is not a terminal, progress (see
:mod:`credit_reports.fetch.progress`) all start with the same ``2026-12-01T06:15:00Z`` stamp, so one ``grep``
or ``sort`` reads them together. A failure is one line: retries are logged at INFO (``-v``), and only
the final error is printed.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, TextIO

__all__ = ["LOG_FORMAT", "TIME_FORMAT", "configure", "in_notebook", "is_terminal", "say", "stamp"]

#: Every stderr line starts with this (UTC, to the second).
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
#: Log records: the stamp, the level, the logger and the message, on one line.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def stamp(when: float | None = None) -> str:
    """``2026-12-01T06:15:00Z``: the UTC time ``when`` (seconds since the epoch; now when None)."""
    return time.strftime(TIME_FORMAT, time.gmtime(time.time() if when is None else when))


class _UTCFormatter(logging.Formatter):
    """Log records stamped in UTC with :data:`TIME_FORMAT`, one line each (a traceback stays below it)."""

    converter = time.gmtime


def configure(verbose: int) -> None:
    """Log records to stderr at WARNING (0), INFO (``-v``) or DEBUG (``-vv``), stamped as :func:`stamp`."""
    level = logging.WARNING if verbose <= 0 else logging.INFO if verbose == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_UTCFormatter(LOG_FORMAT, datefmt=TIME_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
    logging.captureWarnings(True)  # a library's warnings.warn becomes a stamped WARNING line, not a bare one


def say(message: str, stream: TextIO | None = None) -> None:
    """One stamped line on stderr (``stream`` to override): a command's error, warning or summary."""
    text = " ".join(str(message).splitlines())  # one line, whatever the message held
    print(f"{stamp()} {text}", file=stream if stream is not None else sys.stderr, flush=True)


def is_terminal(stream: Any = None) -> bool:
    """True when ``stream`` (stderr by default) is a terminal, where redrawn bars make sense."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or not a file
        return False


def in_notebook() -> bool:
    """True inside a Jupyter kernel (JupyterLab, papermill), where tqdm draws a widget, not text."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()  # type: ignore[attr-defined]
    except AttributeError:
        return False
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
