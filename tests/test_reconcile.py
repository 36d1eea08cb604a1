"""The reconciling roll-forward, every line pinned on hand-built balances and movements.

The figures in the comments are worked out by hand from the rows written here, never from the code
under test.
"""

from __future__ import annotations

import json

from stores import balances, movement, moves

from credit_reports.ledger.reconcile import reconcile

# Opening balances.                 available reserved used
OPENING = balances([
    ("c1", "USD", 1000, 200, 300),
    ("c2", "USD", 0, 0, 500),
    ("c1", "JPY", 5000, 0, 0),
])

# The period's movements: an honest event stream.
HONEST = [
    movement("issued", "c1", "USD", 400, "2026-11-02T10:00:00Z", "txn_up1"),                 # avail +400
    movement("used_reserved", "c1", "USD", 200, "2026-11-03T10:00:00Z", "txn_inv1"),         # res -200, used +200
    movement("reserved", "c1", "USD", 150, "2026-11-04T10:00:00Z", "txn_inv2"),              # avail -150, res +150
    movement("issued", "c2", "USD", 1000, "2026-11-05T10:00:00Z", "adj_legacy"),             # avail +1000
    movement("reversed", "c2", "USD", 250, "2026-11-06T10:00:00Z", "adj_reverse"),           # avail -250
    movement("issued", "c3", "USD", 60, "2026-11-07T10:00:00Z", "txn_up2",
             source="subscription_recurring"),                                             # avail +60
    movement("used", "c3", "USD", 60, "2026-11-08T10:00:00Z", "txn_pay1"),                   # avail -60, used +60
    movement("reserved", "c1", "JPY", 800, "2026-11-09T10:00:00Z", "txn_inv3"),              # avail -800, res +800
    movement("released", "c1", "JPY", 800, "2026-11-10T10:00:00Z", "txn_inv3"),              # back
    movement("used", "c1", "JPY", 1200, "2026-11-11T10:00:00Z", "txn_pay2"),                 # avail -1200, used +1200
]

# Closing balances the honest stream leads to:
#   c1 USD: 1000 + 400 - 150 = 1250 available, 200 - 200 + 150 = 150 reserved, 300 + 200 = 500 used
#   c2 USD: 1000 - 250 = 750 available;  c3 USD: 0 / 0 / 60;  c1 JPY: 5000 - 1200 = 3800, used 1200
CLOSING = [
    ("c1", "USD", 1250, 150, 500),
    ("c2", "USD", 750, 0, 500),
    ("c3", "USD", 0, 0, 60),
    ("c1", "JPY", 3800, 0, 1200),
]


def line(result, currency: str) -> dict:
    return result.table.set_index("currency_code").loc[currency].to_dict()


def test_honest_stream_reconciles_to_exactly_zero_with_every_line_and_count() -> None:
    result = reconcile(OPENING, balances(CLOSING), moves(HONEST), evidence=True)
    usd = line(result, "USD")
    # opening 1000 + 200 (c1) + 0 (c2); issued 400 + 1000 + 60; reversed 250; used 200 + 60
    assert {k: usd[k] for k in ("opening", "issued", "issued_count", "reversed", "reversed_count", "used",
                                "used_count", "expected_closing", "closing", "unexplained")} == {
        "opening": 1200, "issued": 1460, "issued_count": 3, "reversed": 250, "reversed_count": 1,
        "used": 260, "used_count": 2,
        "expected_closing": 1200 + 1460 - 250 - 260,  # 2150
        "closing": 1250 + 150 + 750 + 0,               # 2150
        "unexplained": 0,
    }
    # used balance 800 -> 1060 against used movements 260; reserved 200 -> 150: 200 - 200 + 150
    assert (usd["used_change"], usd["used_difference"]) == (260, 0)
    assert (usd["reserved_expected"], usd["reserved"], usd["reserved_difference"]) == (150, 150, 0)
    jpy = line(result, "JPY")
    assert (jpy["opening"], jpy["issued"], jpy["used"], jpy["used_count"], jpy["expected_closing"],
            jpy["closing"], jpy["unexplained"]) == (5000, 0, 1200, 1, 3800, 3800, 0)
    assert (jpy["reserved_expected"], jpy["reserved_difference"]) == (0, 0)  # reserved 800 then released
    assert result.reconciled and result.customers.empty and result.movements.empty
    assert result.table["evidence"].all()


def test_planted_discrepancies_show_with_the_right_customer_and_amount_largest_first() -> None:
    closing = [list(r) for r in CLOSING]
    closing[1][2] = 800  # c2's balance moved by +50 with no event behind it
    stream = [*HONEST, movement("issued", "c4", "USD", 90, "2026-11-12T10:00:00Z", "txn_unseen")]  # never landed
    result = reconcile(OPENING, balances([tuple(r) for r in closing]), moves(stream), evidence=True)
    usd = line(result, "USD")
    assert (usd["issued"], usd["issued_count"]) == (1460 + 90, 4)
    assert usd["expected_closing"] == 1200 + 1550 - 250 - 260  # 2240
    assert usd["closing"] == 2150 + 50
    assert usd["unexplained"] == 50 - 90
    assert line(result, "JPY")["unexplained"] == 0
    assert not result.reconciled
    assert result.customers[["currency_code", "customer_id", "expected_closing", "closing", "unexplained"]] \
        .to_dict("records") == [
        {"currency_code": "USD", "customer_id": "c4", "expected_closing": 90, "closing": 0, "unexplained": -90},
        {"currency_code": "USD", "customer_id": "c2", "expected_closing": 750, "closing": 800, "unexplained": 50},
    ]
    c2 = result.customers.iloc[1]
    assert (c2["opening"], c2["issued"], c2["reversed"], c2["used"], c2["movements"]) == (0, 1000, 250, 0, 2)
    # the movements behind it, customer by customer in the same order
    assert list(zip(result.movements["customer_id"], result.movements["kind"], result.movements["amount"],
                    strict=True)) == [("c4", "issued", 90), ("c2", "issued", 1000), ("c2", "reversed", 250)]


def test_used_balance_moving_without_a_used_movement_fails_the_used_check() -> None:
    closing = [list(r) for r in CLOSING]
    closing[3][2], closing[3][4] = 3700, 1300  # JPY: 100 more used than the events show
    result = reconcile(OPENING, balances([tuple(r) for r in closing]), moves(HONEST), evidence=True)
    jpy = line(result, "JPY")
    assert (jpy["used"], jpy["used_change"], jpy["used_difference"]) == (1200, 1300, 100)
    assert jpy["unexplained"] == 3700 - 3800
    assert result.customers[["customer_id", "unexplained", "used_difference"]].to_dict("records") == [
        {"customer_id": "c1", "unexplained": -100, "used_difference": 100}]


def test_reserved_check_catches_an_invoice_the_events_never_showed() -> None:
    closing = [list(r) for r in CLOSING]
    closing[0][2], closing[0][3] = 1150, 250  # c1 USD: 100 more reserved, taken from available
    result = reconcile(OPENING, balances([tuple(r) for r in closing]), moves(HONEST), evidence=True)
    usd = line(result, "USD")
    assert usd["unexplained"] == 0  # outstanding is unchanged: reserved moves credit inside it
    assert (usd["reserved_expected"], usd["reserved"], usd["reserved_difference"]) == (150, 250, 100)
    assert not result.reconciled
    assert list(result.customers["customer_id"]) == ["c1"]


def test_window_without_evidence_is_derived_from_balances_and_never_reconciled() -> None:
    result = reconcile(OPENING, balances(CLOSING), moves(HONEST), evidence=False)
    usd = line(result, "USD")
    # derived: issued = change in available + reserved + used = (1900 + 1250 + 60) - 2000
    assert (usd["issued"], usd["used"], usd["reversed"], usd["closing"]) == (1210, 260, 0, 2150)
    assert usd["issued_count"] == 0 and not usd["evidence"]
    assert not result.reconciled and result.customers.empty
    manifest = result.as_dict()
    assert manifest["USD"] == {"opening": 1200, "issued": 1210, "used": 260, "closing": 2150, "reversed": 0,
                               "expected_closing": None, "unexplained": None, "evidence": False}


def test_manifest_dict_keeps_the_old_keys_and_adds_the_reconciliation() -> None:
    manifest = reconcile(OPENING, balances(CLOSING), moves(HONEST), evidence=True).as_dict()
    assert manifest["USD"] == {"opening": 1200, "issued": 1460, "used": 260, "closing": 2150, "reversed": 250,
                               "expected_closing": 2150, "unexplained": 0, "evidence": True}
    assert manifest["JPY"]["used"] == 1200
    json.dumps(manifest)
    assert all(type(v) is int for v in manifest["USD"].values() if not isinstance(v, bool))


def test_currency_only_in_the_movements_still_gets_a_line() -> None:
    stream = [movement("issued", "c9", "EUR", 70, "2026-11-02T10:00:00Z", "txn_eur")]
    result = reconcile(OPENING.iloc[:0], balances([("c9", "EUR", 70, 0, 0)]), moves(stream), evidence=True)
    assert line(result, "EUR")["unexplained"] == 0 and line(result, "EUR")["issued"] == 70
    empty = reconcile(OPENING.iloc[:0], OPENING.iloc[:0], None, evidence=True)
    assert empty.table.empty and empty.customers.empty


def test_waterfall_with_evidence_draws_reversed_and_a_red_unexplained_bar() -> None:
    from credit_reports.figures import charts

    closing = [list(r) for r in CLOSING]
    closing[1][2] = 800  # +50 unexplained in USD
    result = reconcile(OPENING, balances([tuple(r) for r in closing]), moves(HONEST), evidence=True)
    steps = charts._waterfall_steps(result.table.set_index("currency_code").loc["USD"], "USD")
    assert [s[0] for s in steps] == ["opening", "+ issued", "- reversed", "- used", "unexplained", "closing"]
    assert [round(s[2], 2) for s in steps] == [12.0, 14.6, -2.5, -2.6, 0.5, 22.0]
    derived = reconcile(OPENING, balances(CLOSING), moves(HONEST), evidence=False)
    steps = charts._waterfall_steps(derived.table.set_index("currency_code").loc["USD"], "USD")
    assert [s[0] for s in steps] == ["opening", "+ issued", "- used", "closing"]
