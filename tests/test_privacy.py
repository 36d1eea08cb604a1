"""Pseudonymised IDs and PII handling: nothing identifying leaves a redacted table."""

from __future__ import annotations

import hashlib
import hmac
import re

import pandas as pd
import pytest

from credit_reports.core.errors import UsageError
from credit_reports.figures import privacy

IDS = ["ctm_01gw9m680k848184fpttwr0b7z", "ctm_01h8441jn5pcwrfhwh78jqt8hk", "ctm_01gw9m680k848184fpttwr0b7z"]
TABLE = pd.DataFrame({
    "customer_id": IDS,
    "email": ["ada@example.com", "grace@example.org", "ada@example.com"],
    "name": ["Ada Lovelace", "Grace Hopper", "Ada Lovelace"],
    "currency_code": ["USD", "EUR", "JPY"],
    "available": [1000, 250, 5000],
})
SALT = "test-salt-3f9a"


def expected(value: str, salt: str) -> str:
    return "cust_" + hmac.new(salt.encode(), value.encode(), hashlib.sha256).hexdigest()[:12]


def test_pseudonyms_are_salted_hmac_prefixes_and_stable_per_id():
    out = privacy.pseudonymize_ids(pd.Series(IDS), SALT)
    assert out.tolist() == [expected(IDS[0], SALT), expected(IDS[1], SALT), expected(IDS[0], SALT)]
    assert all(re.fullmatch(r"cust_[0-9a-f]{12}", v) for v in out)
    assert out[0] == out[2] != out[1]


def test_a_different_salt_gives_different_pseudonyms():
    a = privacy.pseudonymize_ids(pd.Series(IDS), "salt-a")
    b = privacy.pseudonymize_ids(pd.Series(IDS), "salt-b")
    assert not set(a) & set(b)


def test_salt_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv(privacy.SALT_ENV, SALT)
    assert privacy.pseudonymize_ids(pd.Series(IDS[:1])).tolist() == [expected(IDS[0], SALT)]


def test_without_a_salt_in_the_environment_a_random_process_salt_is_stable_within_the_process(monkeypatch):
    monkeypatch.delenv(privacy.SALT_ENV, raising=False)
    first = privacy.pseudonymize_ids(pd.Series(IDS))
    second = privacy.pseudonymize_ids(pd.Series(IDS))
    assert first.tolist() == second.tolist()
    assert first[0] != expected(IDS[0], "")  # not an unsalted hash


def test_redact_drops_email_and_name_by_default_and_keeps_ids():
    out = privacy.redact(TABLE)
    assert list(out.columns) == ["customer_id", "currency_code", "available"]
    assert out["customer_id"].tolist() == IDS
    assert list(TABLE.columns)[:3] == ["customer_id", "email", "name"]  # input untouched


def test_show_pii_keeps_email_and_name_for_internal_reports():
    out = privacy.redact(TABLE, show_pii=True)
    assert out["email"].tolist() == TABLE["email"].tolist()


def test_pseudonymized_output_contains_no_original_id_email_or_name(monkeypatch):
    monkeypatch.setenv(privacy.SALT_ENV, SALT)
    out = privacy.redact(TABLE, pseudonymize=True)
    indexed = privacy.redact(TABLE.set_index("customer_id"), pseudonymize=True)
    for text in (out.to_csv(), out.to_html(), indexed.to_csv(), indexed.to_json(orient="split")):
        for secret in [*IDS, *TABLE["email"], *TABLE["name"], SALT, "ctm_"]:
            assert secret not in text
    assert out["customer_id"].tolist() == indexed.index.tolist()
    assert out["available"].tolist() == [1000, 250, 5000]


def test_pseudonymize_and_show_pii_together_are_refused():
    with pytest.raises(UsageError):
        privacy.redact(TABLE, pseudonymize=True, show_pii=True)
