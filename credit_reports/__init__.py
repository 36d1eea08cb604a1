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
    "PaddleClient": "paddle.client",
    "fetch_customers": "fetch.readers",
    "fetch_credit_balances": "fetch.readers",
    "fetch_subscriptions": "fetch.readers",
    "fetch_snapshot": "fetch.snapshot",
    "history": "fetch.history",
    "Snapshot": "store.reader",
    "load_snapshot": "store.reader",
    "list_snapshots": "store.reader",
    "load_history": "store.reader",
    "prune_snapshots": "store.reader",
    "format_money": "core.money",
    "movements": "ledger.movements",
    "statement": "ledger.movements",
    "to_major": "core.money",
    "to_major_float": "core.money",
    "compare": "figures.comparison",
    "to_excel": "delivery.excel",
    "CreditReportsError": "core.errors",
    "UsageError": "core.errors",
    "PaddleError": "core.errors",
}

#: Modules reachable as attributes (``credit_reports.metrics.currency_totals(...)``), imported on first use:
#: public name -> the module behind it.
_MODULES: dict[str, str] = {
    "charts": "figures.charts",
    "cohorts": "figures.cohorts",
    "metrics": "figures.metrics",
    "money": "core.money",
    "report": "report",
    "parameters": "report.parameter_text",
}

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
    from credit_reports import report
    from credit_reports.core import money
    from credit_reports.core.errors import CreditReportsError, PaddleError, UsageError
    from credit_reports.core.money import format_money, to_major, to_major_float
    from credit_reports.delivery.excel import to_excel
    from credit_reports.fetch.history import history
    from credit_reports.fetch.readers import fetch_credit_balances, fetch_customers, fetch_subscriptions
    from credit_reports.fetch.snapshot import fetch_snapshot
    from credit_reports.figures import charts, cohorts, metrics
    from credit_reports.figures.comparison import compare
    from credit_reports.ledger.movements import movements, statement
    from credit_reports.paddle.client import PaddleClient
    from credit_reports.report import parameter_text as parameters
    from credit_reports.store.reader import Snapshot, list_snapshots, load_history, load_snapshot, prune_snapshots


def __getattr__(name: str) -> Any:
    """Import a public name (or one of :data:`_MODULES`) from its module on first use (PEP 562)."""
    if name in _MODULES:
        value = importlib.import_module(f".{_MODULES[name]}", __name__)
        globals()[name] = value
        return value
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'credit_reports' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
