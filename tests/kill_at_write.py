"""A SIGKILL at the Nth durable write: :func:`arm` in a process (a forked test child), or the CLI run so:
``python tests/kill_at_write.py N <cli args...>``.

Every durable step of the store ends in one ``os.replace`` (a file written under a temporary name) or one
``os.rename`` (a folder published), and every journal line in one ``BalanceJournal.append``; the process kills
itself just before the Nth of them, as a power cut or ``kill -9`` would. ``N`` 0 kills nothing and prints, last,
``writes: <count>`` so a test knows how many points there are. A test helper, not part of the package.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from credit_reports.store import writer


def _killing(function: Callable[..., Any], counter: list[int], at: int) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        counter[0] += 1
        if counter[0] == at:
            os.kill(os.getpid(), signal.SIGKILL)
        return function(*args, **kwargs)
    return wrapper


def arm(at: int) -> list[int]:
    """Count every durable write of this process from now on, and die just before the ``at``-th (0: never);
    returns the counter (a one-item list)."""
    counter = [0]
    os.replace = _killing(os.replace, counter, at)
    os.rename = _killing(os.rename, counter, at)
    writer.BalanceJournal.append = _killing(writer.BalanceJournal.append, counter, at)
    return counter


def main() -> int:
    at, args = int(sys.argv[1]), sys.argv[2:]
    counter = arm(at)
    from credit_reports.app.cli import main as cli

    code = cli(args)
    print(f"writes: {counter[0]}")
    return code


if __name__ == "__main__":
    sys.exit(main())
