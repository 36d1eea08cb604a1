"""Pseudonymised customer IDs and PII columns for reports that leave the finance team.

Reports show no emails or names by default (:func:`redact` drops them unless ``show_pii=True``).
``pseudonymize=True`` replaces customer IDs with ``"cust_" + 12 hex digits`` of HMAC-SHA256 keyed with a
salt, so the same customer gets the same pseudonym in every table and every run that uses the same salt,
while the ID cannot be recovered without it.

The salt comes from the environment variable ``CREDIT_REPORTS_PSEUDONYM_SALT``. When it is unset, a
random salt is drawn once per process: pseudonyms are then consistent within one report run but differ
between runs (set the variable to compare pseudonymised reports over time). The salt is never written to
any file, log line, manifest or repr by this module.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

import numpy as np
import pandas as pd

from credit_reports.core.errors import UsageError

__all__ = ["PII_COLUMNS", "SALT_ENV", "pseudonymize_ids", "redact"]

SALT_ENV = "CREDIT_REPORTS_PSEUDONYM_SALT"
#: Columns holding personal data, dropped unless ``show_pii=True``.
PII_COLUMNS: tuple[str, ...] = ("email", "name")
ID_COLUMN = "customer_id"
PREFIX = "cust_"
HEX_DIGITS = 12

_process_salt: str | None = None


def _salt(salt: str | None) -> bytes:
    """The explicit salt, else the environment's, else this process's random one."""
    global _process_salt
    if salt is None:
        salt = os.environ.get(SALT_ENV) or None
    if salt is None:
        if _process_salt is None:
            _process_salt = secrets.token_hex(32)
        salt = _process_salt
    if not isinstance(salt, str) or not salt:
        raise UsageError(f"the pseudonym salt must be a non-empty string (set {SALT_ENV})")
    return salt.encode("utf-8")


def _pseudonym(key: bytes, value: str) -> str:
    digest = hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:HEX_DIGITS]


def pseudonymize_ids(ids: pd.Series, salt: str | None = None) -> pd.Series:
    """Stable salted pseudonyms for customer IDs: ``"cust_" + first 12 hex of HMAC-SHA256(salt, id)``.

    ``salt`` defaults to ``$CREDIT_REPORTS_PSEUDONYM_SALT`` (or a per-process random salt). Each distinct
    ID is hashed once, so a million rows of 200,000 customers cost 200,000 hashes. Missing IDs stay
    missing. Returns a Series with the same index.
    """
    key = _salt(salt)
    codes, uniques = pd.factorize(ids, use_na_sentinel=True)
    hashed = np.array([_pseudonym(key, str(u)) for u in uniques] + [None], dtype=object)
    # code -1 (missing id) picks the trailing None
    return pd.Series(hashed[codes], index=ids.index, name=ids.name, dtype="str")


def redact(
    df: pd.DataFrame,
    *,
    pseudonymize: bool = False,
    show_pii: bool = False,
    salt: str | None = None,
) -> pd.DataFrame:
    """A copy of ``df`` safe for the chosen audience.

    Drops :data:`PII_COLUMNS` (``email``, ``name``) unless ``show_pii``; with ``pseudonymize`` replaces
    ``customer_id`` (column and/or index level of that name) with :func:`pseudonymize_ids`. Asking for both
    is refused: a pseudonymised report that still shows names and emails would identify everyone.
    """
    if pseudonymize and show_pii:
        raise UsageError("pseudonymize and show_pii contradict each other; choose one")
    out = df.copy()
    if not show_pii:
        out = out.drop(columns=[c for c in PII_COLUMNS if c in out.columns])
    if pseudonymize:
        if ID_COLUMN in out.columns:
            out[ID_COLUMN] = pseudonymize_ids(out[ID_COLUMN], salt)
        names = list(out.index.names)
        if ID_COLUMN in names:
            if isinstance(out.index, pd.MultiIndex):
                level = names.index(ID_COLUMN)
                out.index = out.index.set_levels(
                    pseudonymize_ids(pd.Series(out.index.levels[level]), salt).to_numpy(), level=level
                )
            else:
                out.index = pd.Index(
                    pseudonymize_ids(pd.Series(out.index, name=ID_COLUMN), salt).to_numpy(), name=ID_COLUMN
                )
    return out


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
