"""What puts "Attention:" in a report's subject and index row, read from its manifest (figures by hand)."""

from __future__ import annotations

from credit_reports.delivery.index import build_index
from credit_reports.report.alerts import attention_reasons


def manifest(**extra):
    base = {
        "report": "credit-balances", "title": "Credit", "snapshot": {"as_of": "2026-12-01T06:15:00Z",
                                                                       "complete": True},
        "headline": {"USD": {"outstanding": 11_000}, "JPY": {"outstanding": 500}},
        "roll_forward": {"USD": {"opening": 10_000, "issued": 1_500, "used": 500, "closing": 11_000},
                         "JPY": {"opening": 500, "issued": 0, "used": 0, "closing": 500}},
    }
    base.update(extra)
    return base


def test_a_clean_report_needs_no_attention() -> None:
    assert attention_reasons(manifest()) == []
    assert attention_reasons(manifest(), outstanding_change_share=0.2) == []  # USD moved 10%, under 20%


def test_each_reason_is_named() -> None:
    reasons = attention_reasons(manifest(
        snapshot={"as_of": "2026-12-01T06:15:00Z", "complete": False, "verification": {"fallback": "no events"}},
        reconciliation={"USD": {"unexplained": -250}, "JPY": {"unexplained": 0}},
    ), outstanding_change_share=0.05)
    assert reasons[0].startswith("incomplete snapshot")
    assert any("unexplained difference" in r and "USD" in r and "2.50" in r for r in reasons)
    assert not any("JPY" in r and "unexplained" in r for r in reasons)  # zero is not a difference
    assert any(r.startswith("verification fallback (no events)") for r in reasons)
    assert any(r.startswith("outstanding USD changed +10.0%") for r in reasons)


def test_the_index_row_says_attention_with_the_reasons(tmp_path) -> None:
    folder = tmp_path / "2026-12-01T061500Z"
    folder.mkdir()
    import json

    (folder / "manifest.json").write_text(json.dumps(manifest(attention=["incomplete snapshot (x)"])))
    (folder / "credit-balances.html").write_text("<html></html>")
    page = build_index(tmp_path).read_text()
    assert "Attention:" in page and "incomplete snapshot (x)" in page
