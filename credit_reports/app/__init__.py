"""The command line and what it runs: `credit-reports` (cli), `run` (runner), `demo`, `history`.
"""

from credit_reports.core.lazy import exports

_EXPORTS: dict[str, str] = {
    "main": "cli",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = exports(__name__, _EXPORTS)
