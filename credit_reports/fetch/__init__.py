"""Reading Paddle into rows: customers, subscriptions, events and balances; the snapshot run and its
strategies; the point-in-time correction; seller credits; progress; the history listing.
"""

from credit_reports.core.lazy import exports

_EXPORTS: dict[str, str] = {
    "CUSTOMER_STATUSES": "readers",
    "fetch_customers": "readers",
    "fetch_credit_balances": "readers",
    "fetch_subscriptions": "readers",
    "fetch_credited_customer_ids": "readers",
    "customers_frame": "readers",
    "subscriptions_frame": "readers",
    "balances_frame": "readers",
    "ChunkedFrame": "readers",
    "Stopped": "readers",
    "customer_row": "readers",
    "iter_balances": "readers",
    "progress_stage": "readers",
    "safe_url": "readers",
    "sorted_subscriptions": "readers",
    "subscription_rows": "readers",
    "subscriptions_or_empty": "readers",
    "unique_customers": "readers",
    "until_stopped": "readers",
    "fetch_snapshot": "snapshot",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = exports(__name__, _EXPORTS)
