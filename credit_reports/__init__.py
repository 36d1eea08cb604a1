"""credit-reports: Paddle Billing customer credit balances as pandas DataFrames and HTML reports.

One call gives a DataFrame::

    import credit_reports
    snap = credit_reports.load_snapshot()          # the newest snapshot in ./data
    snap.balances                                  # customer_id, currency_code, available, reserved, used
    credit_reports.metrics.currency_totals(snap.balances)   # modules: metrics, cohorts, charts, report, money

Names are imported lazily, so ``import credit_reports`` (and the CLI's ``--help``) stays fast and does
not pull in pandas or requests until they are used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from credit_reports._version import __version__

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "PaddleClient": "paddle",
    "fetch_customers": "fetch",
    "fetch_credit_balances": "fetch",
    "fetch_subscriptions": "fetch",
    "fetch_snapshot": "snapshot_fetch",
    "history": "credit_history",
    "Snapshot": "store",
    "load_snapshot": "store",
    "list_snapshots": "store",
    "load_history": "store",
    "prune_snapshots": "store",
    "format_money": "money",
    "movements": "credit_movements",
    "statement": "credit_movements",
    "to_major": "money",
    "to_major_float": "money",
    "compare": "comparison",
    "to_excel": "excel",
    "CreditReportsError": "errors",
    "UsageError": "errors",
    "PaddleError": "errors",
}

#: Modules reachable as attributes (``credit_reports.metrics.currency_totals(...)``), imported on first use.
_MODULES: frozenset[str] = frozenset({"charts", "cohorts", "metrics", "money", "report", "parameters"})

__all__ = [
    "CreditReportsError",
    "PaddleClient",
    "PaddleError",
    "Snapshot",
    "UsageError",
    "__version__",
    "charts",
    "cohorts",
    "compare",
    "fetch_credit_balances",
    "fetch_customers",
    "fetch_snapshot",
    "fetch_subscriptions",
    "format_money",
    "history",
    "list_snapshots",
    "load_history",
    "load_snapshot",
    "metrics",
    "money",
    "movements",
    "parameters",
    "prune_snapshots",
    "report",
    "statement",
    "to_excel",
    "to_major",
    "to_major_float",
]

if TYPE_CHECKING:  # for editors and type checkers; at run time the names load on first use
    from credit_reports import charts, cohorts, metrics, money, parameters, report
    from credit_reports.comparison import compare
    from credit_reports.credit_history import history
    from credit_reports.credit_movements import movements, statement
    from credit_reports.errors import CreditReportsError, PaddleError, UsageError
    from credit_reports.excel import to_excel
    from credit_reports.fetch import fetch_credit_balances, fetch_customers, fetch_subscriptions
    from credit_reports.money import format_money, to_major, to_major_float
    from credit_reports.paddle import PaddleClient
    from credit_reports.snapshot_fetch import fetch_snapshot
    from credit_reports.store import Snapshot, list_snapshots, load_history, load_snapshot, prune_snapshots


def __getattr__(name: str) -> Any:
    """Import a public name (or one of :data:`_MODULES`) from its module on first use (PEP 562)."""
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)  # the import sets the attribute too
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'credit_reports' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
