"""FIFO ageing of available credit and issued credit by source, on hand-built lots."""

from __future__ import annotations

import pandas as pd
from stores import balances, movement, moves

from credit_reports.ledger.ageing import ageing, ageing_table, issued_by_source
from credit_reports.ledger.movements import adjustments_frame

AS_OF = "2026-12-01T00:00:00Z"
FIRST_AS_OF = "2026-01-01T00:00:00Z"
UNDATED = "issued before 01 Jan 2026 (date not seen)"


def bucket(aged: pd.DataFrame, code: str) -> dict[str, int]:
    part = aged[aged["currency_code"] == code]
    return {b: a for b, a in zip(part["bucket"], part["amount"], strict=True) if a}


def test_fifo_leaves_the_newest_credit_and_buckets_sum_to_available() -> None:
    first = balances([("c1", "USD", 300, 0, 200), ("c2", "USD", 80, 0, 0)])
    stream = [
        movement("issued", "c1", "USD", 1000, "2026-04-01T00:00:00Z", "txn_a"),  # 244 days old -> 181-365
        movement("issued", "c1", "USD", 500, "2026-09-15T00:00:00Z", "txn_b"),   # 77 days -> 31-90
        movement("issued", "c1", "USD", 250, "2026-11-20T00:00:00Z", "txn_c"),   # 11 days -> 0-30
        movement("used", "c1", "USD", 1200, "2026-11-25T00:00:00Z", "txn_pay"),
    ]
    # c1 holds 300 + 1750 - 1200 = 850 available: FIFO used the oldest (300 undated, then 900 of txn_a),
    # so what is left is the newest: 250 (txn_c) + 500 (txn_b) + 100 (txn_a)
    closing = balances([("c1", "USD", 850, 0, 1400), ("c2", "USD", 80, 0, 0), ("c3", "JPY", 0, 0, 10)])
    aged = ageing(closing, AS_OF, first_balances=first, first_as_of=FIRST_AS_OF, movements=moves(stream))
    assert bucket(aged, "USD") == {"0-30 days": 250, "31-90 days": 500, "181-365 days": 100, UNDATED: 80}
    assert int(aged[aged["currency_code"] == "USD"]["amount"].sum()) == 850 + 80
    assert len(aged[aged["currency_code"] == "USD"]) == 6  # every bucket shown, zeros included
    assert "JPY" not in set(aged["currency_code"])  # nothing available in JPY
    table = ageing_table(aged).set_index("currency_code")
    assert table.loc["USD", "available"] == 930 and table.columns[-1] == "available"


def test_credit_beyond_every_known_lot_is_undated_so_buckets_still_sum_to_available() -> None:
    first = balances([("c1", "EUR", 100, 0, 0)])
    stream = [movement("issued", "c1", "EUR", 40, "2026-11-30T00:00:00Z", "txn_a")]
    closing = balances([("c1", "EUR", 500, 0, 0)])  # 360 more than any lot explains
    aged = ageing(closing, AS_OF, first_balances=first, first_as_of=FIRST_AS_OF, movements=moves(stream))
    assert bucket(aged, "EUR") == {"0-30 days": 40, UNDATED: 460}


def test_a_legacy_adjustment_dates_credit_from_before_the_first_snapshot() -> None:
    adjustments = adjustments_frame([
        {"id": "adj_old", "action": "credit", "status": "approved", "customer_id": "c1", "currency_code": "USD",
         "totals": {"total": "700"}, "credit_applied_to_balance": True, "transaction_id": "txn_1",
         "created_at": "2023-06-01T00:00:00Z", "updated_at": "2023-06-01T00:00:05Z"},
        {"id": "adj_rev", "action": "credit_reverse", "status": "approved", "customer_id": "c1",
         "currency_code": "USD", "totals": {"total": "-200"}, "transaction_id": "txn_1",
         "created_at": "2023-06-02T00:00:00Z", "updated_at": "2023-06-02T00:00:00Z"},
        {"id": "adj_seller", "action": "credit", "status": "approved", "customer_id": "c1",
         "currency_code": "USD", "totals": {"total": "999"}, "credit_applied_to_balance": False,
         "created_at": "2023-07-01T00:00:00Z", "updated_at": "2023-07-01T00:00:00Z"},
    ])
    # first snapshot: 600 outstanding + 100 used = 700 granted; 500 of it is the adjustment net of its
    # reversal, so 200 is transaction credit of unknown date (newer than the pre-2024 adjustment)
    first = balances([("c1", "USD", 600, 0, 100)])
    stream = [movement("issued", "c1", "USD", 50, "2026-11-29T00:00:00Z", "txn_new")]
    closing = balances([("c1", "USD", 650, 0, 100)])
    aged = ageing(closing, AS_OF, first_balances=first, first_as_of=FIRST_AS_OF, movements=moves(stream),
                  adjustments=adjustments)
    # newest first: 50 (txn_new), 200 undated, then 400 of the adjustment's 500 (over 365 days old)
    assert bucket(aged, "USD") == {"0-30 days": 50, UNDATED: 200, "over 365 days": 400}


def test_issued_by_source_splits_billed_now_renewal_and_legacy() -> None:
    stream = [
        movement("issued", "c1", "USD", 1394, "2026-11-02T00:00:00Z", "txn_a"),
        movement("issued", "c2", "USD", 600, "2026-11-03T00:00:00Z", "txn_b"),
        movement("issued", "c3", "USD", 2500, "2026-11-04T00:00:00Z", "txn_c", source="subscription_recurring"),
        movement("issued", "c4", "USD", 900, "2026-11-05T00:00:00Z", "adj_x"),
        movement("used", "c1", "USD", 100, "2026-11-06T00:00:00Z", "txn_d"),
        movement("issued", "c5", "EUR", 75, "2026-11-07T00:00:00Z", "txn_e"),
    ]
    by_source = issued_by_source(moves(stream))
    assert by_source[["currency_code", "source", "count", "amount"]].values.tolist() == [
        ["EUR", "subscription_update", 1, 75],
        ["USD", "adjustment", 1, 900],
        ["USD", "subscription_recurring", 1, 2500],
        ["USD", "subscription_update", 2, 1394 + 600],
    ]
    assert by_source["label"].tolist()[1:] == [
        "legacy credit adjustment (before March 2024)", "subscription change at renewal",
        "subscription change billed now",
    ]
    assert issued_by_source(None).empty


def test_ageing_chart_has_one_panel_per_currency_with_every_bucket() -> None:
    from credit_reports.figures import charts

    first = balances([("c1", "USD", 300, 0, 0), ("c2", "JPY", 80, 0, 0)])
    aged = ageing(balances([("c1", "USD", 300, 0, 0), ("c2", "JPY", 80, 0, 0)]), AS_OF, first_balances=first,
                  first_as_of=FIRST_AS_OF)
    fig = charts.ageing_bars(aged)
    panels = [ax for ax in fig.axes if ax.patches]
    assert [ax.get_title() for ax in panels] == ["JPY: available by age", "USD: available by age"]
    assert all(len(ax.patches) == 6 for ax in panels)


def _reference_ageing(closing: pd.DataFrame, as_of: str, first: pd.DataFrame, stream: pd.DataFrame,
                      adjustments: pd.DataFrame, undated: str) -> dict[tuple[str, str], tuple[int, int]]:
    """FIFO by hand, one balance row at a time (the per-row loop the module ran before it worked on every
    customer at once): {(currency, bucket): (amount, customers)} for the non-zero buckets."""
    from credit_reports.ledger.ageing import BUCKETS, _adjustment_lots

    stamp = pd.Timestamp(as_of)

    def label(age: int | None) -> str:
        return undated if age is None else next(name for name, limit in BUCKETS if age <= limit)

    granted: dict[tuple[str, str], int] = {}
    for r in first.itertuples():
        key = (r.currency_code, r.customer_id)
        granted[key] = granted.get(key, 0) + r.available + r.reserved + r.used
    lots: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for r in stream[(stream["kind"] == "issued") & (stream["occurred_at"] <= stamp)].sort_values(
            "occurred_at", kind="stable").itertuples():
        lots.setdefault((r.currency_code, r.customer_id), []).append(((stamp - r.occurred_at).days, r.amount))
    legacy = {k: [((stamp - t).days, n) for t, n in v] for k, v in _adjustment_lots(adjustments).items()}
    out: dict[tuple[str, str], list] = {}
    for r in closing[closing["available"] > 0].itertuples():
        key = (r.currency_code, r.customer_id)
        old = legacy.get(key, [])
        walk = [*old, (None, max(granted.get(key, 0) - sum(n for _, n in old), 0)), *lots.get(key, [])]
        left = r.available
        for age, size in reversed(walk):
            step = min(size, left)
            if step:
                cell = out.setdefault((r.currency_code, label(age)), [0, set()])
                cell[0] += step
                cell[1].add(r.customer_id)
            left -= step
        if left:
            cell = out.setdefault((r.currency_code, undated), [0, set()])
            cell[0] += left
            cell[1].add(r.customer_id)
    return {k: (v[0], len(v[1])) for k, v in out.items()}


def test_ageing_of_a_random_store_equals_fifo_walked_one_customer_at_a_time() -> None:
    import numpy as np

    rng = np.random.default_rng(27)
    customers = [f"c{i}" for i in range(300)]
    codes = ["USD", "JPY", "EUR"]
    first = balances([(c, code, int(rng.integers(0, 900)), int(rng.integers(0, 50)), int(rng.integers(0, 300)))
                      for c in customers[:200] for code in codes if rng.random() < 0.5])
    when = pd.Timestamp(FIRST_AS_OF) + pd.to_timedelta(rng.integers(0, 340 * 86_400, 1500), unit="s")
    stream = [movement("issued", customers[int(rng.integers(0, 300))], codes[int(rng.integers(0, 3))],
                       int(rng.integers(1, 500)), str(t), f"txn_{i}") for i, t in enumerate(when)]
    stream += [movement("issued", "c1", "USD", 77, str(when[0]), "txn_same_moment")]  # a tie in time
    legacy = []
    for i, c in enumerate(customers[:60]):
        created = f"2023-{1 + i % 12:02d}-0{1 + i % 9}T00:00:00Z"
        legacy.append({"id": f"adj_{i}", "action": "credit", "status": "approved", "customer_id": c,
                       "currency_code": codes[i % 3], "totals": {"total": str(int(rng.integers(1, 400)))},
                       "credit_applied_to_balance": True, "transaction_id": f"txn_l{i}", "created_at": created,
                       "updated_at": created})
        if i % 5 == 0:
            legacy.append({"id": f"adj_r{i}", "action": "credit_reverse", "status": "approved", "customer_id": c,
                           "currency_code": codes[i % 3], "totals": {"total": "-50"}, "transaction_id": f"txn_l{i}",
                           "created_at": created, "updated_at": created})
    adjustments = adjustments_frame(legacy)
    closing = balances([(c, code, int(rng.integers(0, 4000)), int(rng.integers(0, 50)), 0)
                        for c in customers for code in codes if rng.random() < 0.6])
    frame = moves(stream)
    aged = ageing(closing, AS_OF, first_balances=first, first_as_of=FIRST_AS_OF, movements=frame,
                  adjustments=adjustments)
    expected = _reference_ageing(closing, AS_OF, first, frame, adjustments, UNDATED)
    got = {(c, b): (a, n) for c, b, a, n in aged.itertuples(index=False) if a or n}
    assert got == expected
    assert len(expected) == 3 * 6  # every bucket of every currency is reached
    assert aged["amount"].dtype == "int64" and aged["customers"].dtype == "int64"
    assert len(aged) == 3 * 6  # every bucket of every currency with available credit, zeros included
