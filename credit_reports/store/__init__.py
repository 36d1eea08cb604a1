"""The snapshot store: one folder per as-of (Parquet tables and a typed manifest), its files, the reader,
the one writer and the manifests.
"""

from credit_reports.core.lazy import exports

_EXPORTS: dict[str, str] = {
    "ADJUSTMENT_DTYPES": "reader",
    "BALANCE_DTYPES": "reader",
    "CUSTOMER_DTYPES": "reader",
    "MOVEMENT_DTYPES": "reader",
    "SUBSCRIPTION_DTYPES": "reader",
    "Snapshot": "reader",
    "default_data_dir": "reader",
    "load_snapshot": "reader",
    "list_snapshots": "reader",
    "load_history": "reader",
    "prune_snapshots": "reader",
    "latest_snapshot": "reader",
    "chain": "reader",
    "environments": "reader",
    "resolve_environment": "reader",
    "month_bounds": "reader",
    "snapshots_root": "reader",
    "check_snapshots": "reader",
    "usable_snapshot": "reader",
    "conform": "reader",
    "CLOCK_SKEW": "reader",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = exports(__name__, _EXPORTS)
