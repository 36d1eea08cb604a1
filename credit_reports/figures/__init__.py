"""Figures from stored tables: totals, roll-forward, trend, concentration, cohorts, comparison,
periods, translation, the journal, privacy and the charts. Pure: no Paddle calls.
"""

from credit_reports.core.lazy import exports

_EXPORTS: dict[str, str] = {
    "compare": "comparison",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = exports(__name__, _EXPORTS)
