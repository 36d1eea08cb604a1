"""The facts every stage shares: errors and their exit codes, money in minor units, as-of times, redaction,
the process lock, stamped log lines, Paddle's retry rules, lazy exports. Imports nothing above itself.
"""

from credit_reports.core.lazy import exports

_EXPORTS: dict[str, str] = {
    "CreditReportsError": "errors",
    "UsageError": "errors",
    "PaddleError": "errors",
    "format_money": "money",
    "to_major": "money",
    "to_major_float": "money",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = exports(__name__, _EXPORTS)
