"""The identity of the Paddle account a key reads (:mod:`credit_reports.core.accounts`), asked once per fetch."""

from __future__ import annotations

from typing import Any

from credit_reports.fetch.readers import safe_url

__all__ = ["read_account"]


def read_account(client: Any) -> dict[str, Any]:
    """``{"base_url", "environment", "identity"}`` of the account ``client``'s key reads: one call, the oldest
    customer (active or archived) by id; ``identity`` None for an account without customers."""
    body = client.get("/customers", {"order_by": "id[ASC]", "per_page": 1, "status": "active,archived"})
    data = body.get("data") if isinstance(body, dict) else None
    first = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
    identity = first.get("id") if isinstance(first.get("id"), str) else None
    return {"base_url": safe_url(client.base_url), "environment": client.environment, "identity": identity}
