"""Which Paddle account a snapshot was read from, and the rule that one chain of snapshots holds one account.

A snapshot's manifest records ``account``: the base URL, the environment and an ``identity``, the id of the
account's oldest customer (``GET /customers?order_by=id[ASC]&per_page=1``, active and archived: one call).
Paddle's ids are unique across every account and a customer is never deleted, so that id names the account
as long as it has a customer, and it never changes; Paddle has no endpoint that names the account itself.
An account without any customer has no identity yet (``None``) and holds no credit to mix up.

Snapshots of two accounts never share a chain: a roll-forward, a comparison or a report across them would
subtract one company's customers from another's. :func:`check_same_account` refuses them in one line that
names both; snapshots written before manifests recorded an account (no ``account``) are not judged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from credit_reports.core.errors import UsageError

__all__ = ["account_of", "check_same_account", "describe"]


def account_of(snapshot: Any) -> Mapping[str, Any] | None:
    """The ``account`` a snapshot (or its manifest) records, or None when it records none."""
    manifest = getattr(snapshot, "manifest", snapshot)
    try:
        account = manifest.get("account") if manifest is not None else None
    except AttributeError:
        return None
    return account if isinstance(account, Mapping) and account.get("identity") else None


def describe(account: Mapping[str, Any]) -> str:
    """``account ctm_01h... at https://api.paddle.com (production)``."""
    where = account.get("base_url") or "an unknown address"
    env = account.get("environment")
    return f"account {account.get('identity')} at {where}" + (f" ({env})" if env else "")


def _label(snapshot: Any) -> str:
    name = getattr(snapshot, "name", None) or getattr(getattr(snapshot, "path", None), "name", None)
    return f"snapshot {name}" if name else "a snapshot"


def check_same_account(snapshots: Iterable[Any], *, what: str = "these snapshots") -> None:
    """Refuse (UsageError, one line naming both) when ``snapshots`` were read from two Paddle accounts."""
    first: tuple[Any, Mapping[str, Any]] | None = None
    for snapshot in snapshots:
        account = account_of(snapshot)
        if account is None:
            continue
        if first is None:
            first = (snapshot, account)
            continue
        if account.get("identity") != first[1].get("identity"):
            raise UsageError(
                f"{what} mix two Paddle accounts: {_label(first[0])} is {describe(first[1])}, {_label(snapshot)} is "
                f"{describe(account)}; keep each account in its own --data-dir")
