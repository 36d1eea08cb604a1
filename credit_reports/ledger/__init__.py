"""The credit rules applied: movements from events, the history rebuild, the reconciling roll-forward,
FIFO ageing.
"""

from credit_reports.core.lazy import exports

_EXPORTS: dict[str, str] = {
    "tie_out": "rebuild",
    "statement": "movements",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = exports(__name__, _EXPORTS)
