"""The rows every stage shares: the columns and dtypes of balances, customers, subscriptions, movements,
credit adjustments and renewal plans, and :func:`conform`, which makes any frame match them.

Paddle's JSON becomes these rows in fetch/, the ledger computes on them, the store writes them to Parquet:
one declaration, so a column means the same and has the same dtype at every stage. Amounts are int64 minor
units, ids pandas strings, times tz-aware UTC.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

__all__ = [
    "ADJUSTMENT_DTYPES",
    "BALANCE_DTYPES",
    "CUSTOMER_DTYPES",
    "MOVEMENT_DTYPES",
    "PLAN_DTYPES",
    "SUBSCRIPTION_DTYPES",
    "conform",
    "empty_frame",
]

#: Column -> dtype of each table, in column order. Amounts are int64 minor units, ids pandas strings.
BALANCE_DTYPES: dict[str, str] = {
    "customer_id": "string",
    "currency_code": "string",
    "available": "int64",
    "reserved": "int64",
    "used": "int64",
}
CUSTOMER_DTYPES: dict[str, str] = {
    "customer_id": "string",
    "status": "string",
    "created_at": "datetime64[us, UTC]",
    "updated_at": "datetime64[us, UTC]",
    "locale": "string",
    "marketing_consent": "bool",
    "custom_data": "string",
    "email": "string",
    "name": "string",
}
SUBSCRIPTION_DTYPES: dict[str, str] = {
    "subscription_id": "string",
    "customer_id": "string",
    "status": "string",
    "currency_code": "string",
    "billing_interval": "string",
    "billing_frequency": "Int64",
    "price_id": "string",
    "product_id": "string",
    "created_at": "datetime64[us, UTC]",
}
#: One row per credit movement (docs/credit-rules.md, "Movements"). Ids not applicable are "".
MOVEMENT_DTYPES: dict[str, str] = {
    "kind": "string",
    "customer_id": "string",
    "currency_code": "string",
    "amount": "int64",
    "available_delta": "int64",
    "reserved_delta": "int64",
    "used_delta": "int64",
    "occurred_at": "datetime64[us, UTC]",
    "source": "string",
    "event_id": "string",
    "transaction_id": "string",
    "adjustment_id": "string",
}
#: Credit adjustments as listed by ``GET /adjustments?action=credit`` (``total`` signed, as Paddle sends it).
ADJUSTMENT_DTYPES: dict[str, str] = {
    "id": "string",
    "action": "string",
    "status": "string",
    "customer_id": "string",
    "currency_code": "string",
    "total": "int64",
    "credit_applied_to_balance": "boolean",
    "transaction_id": "string",
    "subscription_id": "string",
    "created_at": "datetime64[us, UTC]",
    "updated_at": "datetime64[us, UTC]",
}
#: The renewal plans of the customers holding credit at the snapshot (issue 26, docs/credit-rules.md "Maturity"):
#: one row per subscription, read by ``fetch/subscriptions_forecast.py`` right after the fetch and added to the
#: snapshot as a revision; absent when they were not fetched (the pack then says the split was not estimated).
PLAN_DTYPES: dict[str, str] = {
    "customer_id": "string", "subscription_id": "string", "status": "string", "currency_code": "string",
    "next_billed_at": "datetime64[us, UTC]", "billing_interval": "string", "billing_frequency": "int64",
    "amount": "int64", "stops_at": "datetime64[us, UTC]", "inactive_since": "datetime64[us, UTC]",
    "amount_basis": "string", "scheduled_action": "string", "period_starts_at": "datetime64[us, UTC]",
    "resumes_at": "datetime64[us, UTC]",
}


def conform(df: pd.DataFrame, dtypes: Mapping[str, str]) -> pd.DataFrame:
    """``df`` with exactly the columns of ``dtypes``, in that order and with those dtypes.

    Missing columns are added empty; extra columns are kept after the documented ones. This is what
    makes the dtypes survive every path: fresh from the API, from Parquet, or an empty result.
    """
    out = pd.DataFrame(index=df.index)
    for name, dtype in dtypes.items():
        col = df[name] if name in df.columns else pd.Series([None] * len(df), index=df.index, dtype=object)
        if dtype.startswith("datetime64"):
            if not isinstance(col.dtype, pd.DatetimeTZDtype):
                col = pd.to_datetime(col, utc=True, format="ISO8601")
            col = col.astype(dtype)
        elif dtype == "bool":
            col = col.astype(object).where(col.notna(), False).astype(bool)
        else:
            col = col.astype(dtype)
        out[name] = col
    for name in df.columns:
        if name not in dtypes:
            out[name] = df[name]
    return out


def empty_frame(dtypes: Mapping[str, str]) -> pd.DataFrame:
    """An empty DataFrame with the documented columns and dtypes."""
    return conform(pd.DataFrame(), dtypes)


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
