"""The usage forecast, the current / non-current split, churn, the backtest and revenue out of the opening balance.

Hand-built accounts pin the rules (docs/credit-rules.md, "Maturity"); simulated accounts played forward by
``simulator.renewals`` give the truth the forecast must meet: its scheduled part to the minor unit, month by
month, and its band around what churn really left.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from clients import client_for

from credit_reports.core.errors import MissingRateError
from credit_reports.fetch.subscriptions_forecast import fetch_renewal_plans, plans_frame
from credit_reports.figures import maturity
from credit_reports.figures.maturity import Hazard
from credit_reports.simulator import CURRENT_PADDLE
from credit_reports.simulator.renewals import add_months, bill_renewals, schedule_cancel, schedule_churn

AS_OF = pd.Timestamp("2026-12-31T23:59:59Z")


def plan(customer: str, currency: str, amount: int, next_billed: str | None, *, status: str = "active",
         interval: str = "month", stops: str | None = None, since: str | None = None, sub: str = "") -> dict:
    return {"customer_id": customer, "subscription_id": sub or f"sub_{customer}_{currency}", "status": status,
            "currency_code": currency, "next_billed_at": next_billed, "billing_interval": interval,
            "billing_frequency": 1, "amount": amount, "stops_at": stops, "inactive_since": since,
            "amount_basis": "listed", "scheduled_action": "cancel" if stops else None}


def balances(rows: list[tuple[str, str, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "currency_code", "available", "reserved"])


def months_of(fc: maturity.Forecast, currency: str, column: str = "scheduled") -> list[int]:
    return fc.monthly[fc.monthly["currency_code"] == currency][column].tolist()


# -- the rules, by hand ---------------------------------------------------------------------------------


def test_each_renewal_takes_the_smaller_of_credit_left_and_its_amount_reserved_first_month() -> None:
    bal = balances([("a", "USD", 1000, 0), ("b", "USD", 0, 50), ("e", "USD", 2000, 0)])
    plans = plans_frame([
        plan("a", "USD", 300, "2027-01-15T10:00:00Z"),
        plan("b", "USD", 400, None, status="canceled", since="2026-06-01T00:00:00Z"),
        # a scheduled cancel on 15 Feb: the renewal of 20 Jan is billed, the one of 20 Feb never is
        plan("e", "USD", 500, "2027-01-20T00:00:00Z", stops="2027-02-15T00:00:00Z"),
    ])
    fc = maturity.forecast(bal, plans, AS_OF)
    usd = months_of(fc, "USD")
    assert usd[:5] == [300 + 50 + 500, 300, 300, 100, 0] and sum(usd) == 1550
    split = fc.split.set_index("currency_code").loc["USD"]
    assert split["outstanding"] == 3050
    assert split["current"] + split["non_current"] == 3050
    assert split["scheduled_current"] == 1550 and split["dormant"] == 0
    assert split["beyond_horizon"] == 1500  # e's credit left after its last renewal


def test_a_paused_subscription_scheduled_to_resume_uses_credit_from_its_resume_date() -> None:
    row = plan("p", "USD", 100, None, status="paused", since="2026-11-01T00:00:00Z")
    plans = plans_frame([{**row, "resumes_at": "2027-03-01T00:00:00Z", "scheduled_action": "resume"}])
    fc = maturity.forecast(balances([("p", "USD", 250, 0)]), plans, AS_OF)
    assert months_of(fc, "USD")[:6] == [0, 0, 100, 100, 50, 0] and fc.dormant.empty
    still = maturity.forecast(balances([("p", "USD", 250, 0)]), plans_frame([row]), AS_OF)
    assert int(still.dormant["amount"].sum()) == 250  # paused with no resume: dormant


def test_a_customer_and_currency_listed_twice_is_forecast_once_on_the_sum() -> None:
    plans = plans_frame([plan("a", "USD", 300, "2027-01-15T10:00:00Z")])
    twice = maturity.forecast(balances([("a", "USD", 600, 0), ("a", "USD", 400, 0)]), plans, AS_OF)
    once = maturity.forecast(balances([("a", "USD", 1000, 0)]), plans, AS_OF)
    pd.testing.assert_frame_equal(twice.monthly, once.monthly)
    assert twice.split["outstanding"].tolist() == [1000]


def test_credit_without_an_active_subscription_in_its_currency_is_dormant_with_its_age() -> None:
    bal = balances([("c", "EUR", 700, 0), ("d", "EUR", 90, 0), ("d", "USD", 10, 0)])
    plans = plans_frame([
        plan("c", "EUR", 100, None, status="canceled", since="2026-03-01T00:00:00Z"),  # 10 months before
        plan("d", "USD", 100, "2027-01-05T00:00:00Z"),  # d renews in USD only: its EUR credit can never be used
    ])
    fc = maturity.forecast(bal, plans, AS_OF)
    dormant = {(r.currency_code, r.age): (r.customers, r.amount) for r in fc.dormant.itertuples()}
    assert dormant == {("EUR", "6-12 months"): (1, 700), ("EUR", maturity.DORMANT_UNKNOWN): (1, 90)}
    eur = fc.split.set_index("currency_code").loc["EUR"]
    assert eur["current"] == 0 and eur["non_current"] == 790 and eur["dormant"] == 790
    assert months_of(fc, "USD")[0] == 10


def test_calendar_month_renewals_clip_to_the_month_end_and_keep_the_first_day() -> None:
    first = np.array(["2027-01-31T08:00:00"], dtype="datetime64[ns]")
    dates = [maturity.renewal_dates(first, np.array(["month"]), np.array([1]), np.array([i]))[0] for i in range(3)]
    assert [str(d)[:19] for d in dates] == ["2027-01-31T08:00:00", "2027-02-28T08:00:00", "2027-03-31T08:00:00"]


def test_churn_lowers_the_p50_and_the_band_brackets_it() -> None:
    bal = balances([(f"c{i}", "USD", 1200, 0) for i in range(40)])
    plans = plans_frame([plan(f"c{i}", "USD", 100, "2027-01-10T00:00:00Z") for i in range(40)])
    hz = {"monthly": Hazard("monthly", 0.05, 0.02, 0.10)}
    fc = maturity.forecast(bal, plans, AS_OF, hazards=hz)
    usd = fc.monthly[fc.monthly["currency_code"] == "USD"]
    # expected by hand: 40 x 100 x 0.95^(elapsed months) in month k; month 1's renewal is 10 days out
    elapsed = (pd.Timestamp("2027-01-10T00:00:00Z") - AS_OF).total_seconds() / 86400 / maturity.MONTH_DAYS
    assert abs(int(usd["p50"].iloc[0]) - 4000 * 0.95 ** elapsed) <= 1
    assert (usd["cum_p10"] <= usd["cum_p50"]).all() and (usd["cum_p50"] <= usd["cum_p90"]).all()
    assert int(usd["cum_p50"].iloc[11]) < 48_000 == int(usd["scheduled"].iloc[:12].sum())
    split = fc.split.set_index("currency_code").loc["USD"]
    assert split["current"] == int(usd["cum_p50"].iloc[11]) and split["current"] + split["non_current"] == 48_000
    assert fc.notes == []  # a hazard given with no months behind it (a stated assumption) needs no note
    few = maturity.forecast(bal, plans, AS_OF, hazards={"monthly": Hazard("monthly", 0.05, 0.02, 0.10, months=3)})
    assert few.notes == ["churn estimated from fewer than six month ends for monthly (3): the band is wide for "
                         "that reason"]
    assert fc.monthly["p50"].sum() == fc.monthly.groupby("currency_code")["cum_p50"].last().sum()


def test_churn_rates_pool_the_month_ends_per_cohort() -> None:
    def month(active: list[str], annual: tuple[str, ...] = ()) -> pd.DataFrame:
        return pd.DataFrame({"customer_id": active, "status": "active",
                             "billing_interval": ["year" if c in annual else "month" for c in active]})
    ids = [f"c{i}" for i in range(10)]
    hz = maturity.churn_rates([("2026-10-31T23:59:59Z", month(ids, ("c0",))),
                               ("2026-11-30T23:59:59Z", month(ids[:8])),  # c8, c9 left: 2 of 9 monthly
                               ("2026-12-31T23:59:59Z", month(ids[:7]))])  # c7 left: 1 of 8
    assert hz["monthly"].at_risk == 17 and hz["monthly"].churned == 3
    assert math.isclose(hz["monthly"].p50, 3 / 17)
    assert hz["monthly"].low <= 1 / 8 and hz["monthly"].high >= 2 / 9
    assert hz["annual"].churned == 0 and hz["annual"].at_risk == 1  # c0 renewed yearly in October only


def test_maturity_block_adds_up_in_each_currency_and_in_the_reporting_currency() -> None:
    bal = balances([("a", "USD", 1001, 0), ("b", "JPY", 333, 0), ("c", "EUR", 77, 0)])
    plans = plans_frame([plan("a", "USD", 333, "2027-03-01T00:00:00Z"), plan("b", "JPY", 100, "2027-01-01T00:00:00Z")])
    fc = maturity.forecast(bal, plans, AS_OF)
    block = maturity.maturity_block(fc, rates={"USD": Decimal("0.9"), "JPY": Decimal("0.0061")},
                                    reporting_currency="EUR")
    for row in block["currencies"].values():
        assert row["current"] + row["non_current"] == row["outstanding"]
    rep = block["reporting"]
    # by hand: USD 1001 x 0.9 = 900.9 -> 901; JPY 333 x 0.0061 x 100 = 203.13 -> 203; EUR 77
    assert rep["outstanding"] == 901 + 203 + 77
    assert rep["current"] + rep["non_current"] == rep["outstanding"]
    with pytest.raises(MissingRateError, match="JPY"):
        maturity.maturity_block(fc, rates={"USD": Decimal("0.9")}, reporting_currency="EUR")


def test_backtest_scores_each_horizon_and_flags_an_error_outside_the_band() -> None:
    as_of = pd.Timestamp("2026-10-31T23:59:59Z")
    ends = [as_of + pd.DateOffset(months=k) for k in (1, 2, 3)]
    monthly = pd.DataFrame({"currency_code": "USD", "month": [1, 2, 3], "ends_at": ends,
                            "cum_p10": [80, 160, 240], "cum_p50": [100, 200, 300], "cum_p90": [120, 240, 360]})
    used = pd.DataFrame({"currency_code": ["USD", "USD", "USD", "EUR"], "amount": [90, 10, 400, 999],
                         "occurred_at": ["2026-11-10T00:00:00Z", "2026-11-30T00:00:00Z", "2027-01-15T00:00:00Z",
                                         "2026-11-10T00:00:00Z"]})
    out = maturity.backtest({as_of: monthly}, used, horizons=(1, 3), latest="2027-02-01T00:00:00Z")
    one, three = out.iloc[0], out.iloc[1]
    assert (one["actual"], one["bias"], one["attention"]) == (100, 0, False)
    assert (three["actual"], three["bias"], bool(three["within_band"]), bool(three["attention"])) == \
        (500, -200, False, True)
    assert len(maturity.backtest({as_of: monthly}, used, horizons=(3,), latest="2027-01-20T00:00:00Z")) == 0


def test_revenue_from_opening_uses_the_oldest_credit_first_and_ties_to_used() -> None:
    opening = balances([("a", "USD", 300, 100), ("b", "USD", 50, 0)])
    moves = pd.DataFrame({"kind": ["used", "used", "issued", "used"], "customer_id": ["a", "a", "b", "c"],
                          "currency_code": "USD", "amount": [250, 200, 500, 60]})
    row = maturity.revenue_from_opening(opening, moves).set_index("currency_code").loc["USD"]
    # a: opening 400, used 450 -> 400 from opening; b used nothing; c had no opening: 60 from the period
    assert (row["opening"], row["used"], row["from_opening"], row["from_period"], row["opening_left"]) == \
        (450, 510, 400, 110, 50)


# -- against the simulator's ledger ------------------------------------------------------------------------


def _played_forward(make_sim, *, seed: int, hazard: float = 0.0, churn_seed: int = 0, cancels: int = 0,
                    **behaviours):
    """A simulator served at an as-of, the forecast's inputs fetched through the production client, then the
    account played 24 months forward; returns (forecast inputs, as-of ms, the ledger's used rows, calls)."""
    sim = make_sim(customers=300, seed=seed, **behaviours)
    account = sim.account
    as_of_ms = account._latest_ms + 3_600_000
    account.set_time(as_of_ms)
    bal = pd.DataFrame(account.expected_balances(as_of_ms))
    holders = sorted(set(bal.loc[(bal["available"] + bal["reserved"]) > 0, "customer_id"]))
    for cid in holders[:cancels]:  # a cancel scheduled before the fetch: the listing shows it
        for sub in account.subscriptions_of([cid]):
            if sub["status"] == "active" and sub["next_billed_at"]:
                schedule_cancel(account, sub["id"], as_of_ms + 45 * 86_400_000)
    client = client_for(sim)
    fetched = fetch_renewal_plans(client, holders)
    until = add_months(as_of_ms, 24)
    if hazard:
        schedule_churn(account, churn_seed, hazard, as_of_ms, until)
    bill_renewals(account, as_of_ms, until)
    moves = pd.DataFrame(account.expected_movements(as_of_ms, until))
    used = moves[moves["kind"] == "used"].assign(occurred_at=lambda m: pd.to_datetime(m["occurred_ms"], unit="ms",
                                                                                        utc=True))
    return bal, fetched, pd.Timestamp(as_of_ms, unit="ms", tz="UTC"), used, len(holders)


def _actual_by_month(fc: maturity.Forecast, used: pd.DataFrame, currency: str) -> np.ndarray:
    ends = fc.monthly.loc[fc.monthly["currency_code"] == currency, "ends_at"].to_numpy()
    u = used[used["currency_code"] == currency]
    bucket = np.searchsorted(ends, u["occurred_at"].to_numpy(), side="left")
    return np.bincount(bucket, weights=u["amount"].to_numpy(), minlength=len(ends))[: len(ends)].astype("int64")


@pytest.mark.parametrize("behaviours", [{}, CURRENT_PADDLE], ids=["plain", "current-paddle"])
def test_scheduled_usage_equals_what_the_simulator_then_uses_month_by_month(make_sim, behaviours) -> None:
    bal, fetched, as_of, used, holders = _played_forward(make_sim, seed=5, cancels=3, **behaviours)
    assert fetched.calls == math.ceil(holders / 100)  # 100 customers a call, no batch past one page
    fc = maturity.forecast(bal, fetched.plans, as_of)
    assert fc.split["outstanding"].sum() > 0 and fc.split["dormant"].sum() > 0
    assert set(fetched.plans["scheduled_action"].dropna()) == {"cancel"}
    for currency in fc.split["currency_code"]:
        assert _actual_by_month(fc, used, currency).tolist() == months_of(fc, currency), currency
    # without churn the band is the schedule itself, and the split's current is the first twelve months
    assert (fc.monthly["p50"] == fc.monthly["scheduled"]).all()
    for row in fc.split.itertuples():
        assert row.current == int(_actual_by_month(fc, used, row.currency_code)[:12].sum())


def test_the_band_covers_usage_under_the_churn_the_simulator_really_had(make_sim) -> None:
    """Known churn (4% a month): the P10-P90 band of the cumulative usage holds the truth in about eight of ten
    currency-horizon cells (nominal 80%), and never misses by being too narrow everywhere."""
    hits, cells = 0, 0
    for churn_seed in range(4):
        bal, fetched, as_of, used, _ = _played_forward(make_sim, seed=5, hazard=0.04, churn_seed=churn_seed)
        hz = {c: Hazard(c, 0.04, 0.04, 0.04) for c in ("monthly", "annual")}
        fc = maturity.forecast(bal, fetched.plans, as_of, hazards=hz)
        for currency in fc.split["currency_code"]:
            actual = np.cumsum(_actual_by_month(fc, used, currency))
            m = fc.monthly[fc.monthly["currency_code"] == currency]
            for k in (2, 5, 11):
                cells += 1
                hits += int(m["cum_p10"].iloc[k]) <= actual[k] <= int(m["cum_p90"].iloc[k])
    print(f"band coverage {hits}/{cells}")
    assert 0.6 <= hits / cells <= 1.0, (hits, cells)


def _month_end_forecasts(make_sim, *, seed: int, months: int, hazard: float, assumed: Hazard | None):
    """A simulated account closed month end by month end: at each, the balances and renewal plans are read
    through the production client and a forecast made; then the account is played a month on (with hidden
    churn at ``hazard``). Returns (forecasts, the ledger's used rows, the transactions' credit, last moment)."""
    sim = make_sim(customers=300, seed=seed)
    account, client = sim.account, client_for(sim)
    start = account._latest_ms + 3_600_000
    account.set_time(start)
    if hazard:
        schedule_churn(account, 1, hazard, start, add_months(start, months + 12))
    forecasts, moment = {}, start
    holders_ever: set[str] = set()
    hz = {c: assumed for c in ("monthly", "annual")} if assumed else None
    for _ in range(months):
        bal = pd.DataFrame(account.expected_balances(moment))
        holders = sorted(set(bal.loc[(bal["available"] + bal["reserved"]) > 0, "customer_id"]))
        holders_ever |= set(holders)
        plans = fetch_renewal_plans(client, holders).plans
        fc = maturity.forecast(bal, plans, pd.Timestamp(moment, unit="ms", tz="UTC"), hazards=hz)
        forecasts[fc.as_of] = fc.monthly
        following = add_months(moment, 1)
        bill_renewals(account, moment, following)
        moment = following
    moves = pd.DataFrame(account.expected_movements(start, moment))
    used = moves[moves["kind"] == "used"].assign(
        occurred_at=lambda m: pd.to_datetime(m["occurred_ms"], unit="ms", utc=True))
    first_iso = pd.Timestamp(start, unit="ms", tz="UTC").isoformat().replace("+00:00", "Z")
    last_iso = pd.Timestamp(moment, unit="ms", tz="UTC").isoformat().replace("+00:00", "Z")
    from credit_reports.fetch.subscriptions_forecast import fetch_completed_credit
    credit = fetch_completed_credit(client, holders_ever, first_iso, last_iso)
    return forecasts, used, credit, pd.Timestamp(moment, unit="ms", tz="UTC")


def test_backtest_of_an_honest_account_scores_zero_error_from_both_actuals(make_sim) -> None:
    forecasts, used, credit, last = _month_end_forecasts(make_sim, seed=5, months=4, hazard=0.0, assumed=None)
    for actual in (used, credit):
        scored = maturity.backtest(forecasts, actual, horizons=(1, 3), latest=last)
        assert set(scored["horizon"]) == {1, 3} and len(scored) > 0
        assert (scored["bias"] == 0).all() and not scored["attention"].any()
    # the two actuals agree per currency: no seller credit on this account
    assert used.groupby("currency_code")["amount"].sum().to_dict() == \
        credit.groupby("currency_code")["amount"].sum().to_dict()


def test_backtest_raises_attention_when_churn_was_not_foreseen(make_sim) -> None:
    forecasts, used, _credit, last = _month_end_forecasts(make_sim, seed=5, months=4, hazard=0.25,
                                                          assumed=Hazard("assumed", 0.0, 0.0, 0.0))
    scored = maturity.backtest(forecasts, used, horizons=(3,), latest=last)
    assert (scored["bias"] >= 0).all()  # usage was over-forecast, never under
    assert scored["attention"].any()


def test_breakage_evidence_follows_each_issue_month_fifo_and_names_the_churned_share() -> None:
    from credit_reports.figures.breakage import breakage_evidence

    moves = pd.DataFrame({
        "kind": ["issued", "issued", "used", "used", "used"],
        "customer_id": ["a", "a", "a", "a", "b"],
        "currency_code": ["USD", "USD", "USD", "USD", "EUR"],
        "amount": [100, 50, 120, 10, 15],
        "occurred_at": ["2025-01-10T00:00:00Z", "2025-03-05T00:00:00Z", "2025-05-01T00:00:00Z",
                        "2026-03-01T00:00:00Z", "2025-02-01T00:00:00Z"]})
    opening = pd.DataFrame({"customer_id": ["b"], "currency_code": ["EUR"], "amount": [40]})
    out = breakage_evidence(moves, "2026-06-30T23:59:59Z", churned={"a"}, opening=opening)
    rows = {(r["currency_code"], r["cohort"]): r for r in out.to_dict("records")}
    jan, mar, before = rows[("USD", "2025-01")], rows[("USD", "2025-03")], rows[("EUR", "before history")]
    # a's January lot [0, 100) is gone once 120 is used (1 May); March's [100, 150) keeps 30, then 20 after 1 Mar 2026
    assert (jan["issued"], jan["unused_6m"], jan["unused_12m"], jan["unused_now"]) == (100, 0, 0, 0)
    assert pd.isna(jan["unused_24m"])  # 31 Jan 2027 is after the as-of: not guessed
    assert (mar["unused_6m"], mar["unused_12m"], mar["unused_now"], mar["unused_now_churned"]) == (30, 20, 20, 20)
    assert (before["unused_now"], before["unused_now_churned"], before["customers_churned"]) == (25, 0, 0)


def test_a_refused_customer_list_is_halved_and_the_plans_are_the_same(make_sim, caplog) -> None:
    sim = make_sim(customers=300, seed=5)
    bal = pd.DataFrame(sim.account.expected_balances())
    holders = sorted(set(bal.loc[(bal["available"] + bal["reserved"]) > 0, "customer_id"]))
    assert 60 < len(holders) <= 100
    whole = fetch_renewal_plans(client_for(sim), holders)
    sim.max_filter_ids = 60  # this Paddle refuses more than 60 ids in one customer_id list
    halved = fetch_renewal_plans(client_for(sim), holders)
    assert whole.calls == 1 and halved.calls == 1 + math.ceil(len(holders) / 50)  # the refusal, then 50 a call
    pd.testing.assert_frame_equal(whole.plans, halved.plans)
    assert "asking 50 a call" in caplog.text


def test_revenue_from_opening_ties_to_the_roll_forward_on_the_demo_store(small_demo) -> None:
    from credit_reports.figures.metrics import roll_forward
    from credit_reports.report.maturity_report import hazards_from_chain, revenue_from_opening
    from credit_reports.store.reader import chain

    snaps = chain(small_demo["data"], None)
    opening, closing = snaps[-4], snaps[-1]
    revenue = revenue_from_opening(opening, closing, snaps).set_index("currency_code")
    roll = roll_forward(opening, closing).set_index("currency_code")
    assert len(revenue) > 0
    for code, row in revenue.iterrows():
        assert row["used"] == roll.loc[code, "used"], code
        assert row["from_opening"] + row["from_period"] == row["used"]
        assert row["opening"] == roll.loc[code, "opening"], code
    hazards = hazards_from_chain(snaps)
    fetched = [s for s in snaps if not s.reconstructed]
    assert hazards and max(h.months for h in hazards.values()) < len(fetched)  # rebuilt month ends say nothing
    assert set(hazards) <= {"monthly", "annual"}
    assert all(0.0 <= h.low <= h.p50 <= h.high <= 1.0 for h in hazards.values())


def test_plans_for_a_snapshot_ask_only_about_its_credit_holders(sim, small_demo) -> None:
    from credit_reports.fetch.subscriptions_forecast import plans_for_snapshot
    from credit_reports.store.reader import chain

    snap = chain(small_demo["data"], None)[-1]
    b = snap.balances
    holders = set(b.loc[(b["available"] + b["reserved"]) > 0, "customer_id"].astype(str))
    got = plans_for_snapshot(client_for(sim), snap)
    assert got.customers == len(holders) and got.calls == math.ceil(len(holders) / 100)
    assert set(got.plans["customer_id"].astype(str)) <= holders


def test_fx_policy_keeps_each_lot_at_its_issue_rate_or_remeasures_all_at_closing() -> None:
    import datetime as dt

    from credit_reports.core.errors import UsageError
    from credit_reports.figures.fx_policy import translate_outstanding
    from credit_reports.figures.translation import Rate

    rates = [Rate("USD", Decimal(r), dt.date.fromisoformat(d), "test") for r, d in
             (("0.90", "2026-01-01"), ("0.95", "2026-06-01"), ("0.92", "2026-12-31"))]
    opening = pd.DataFrame({"customer_id": ["a"], "currency_code": ["USD"], "amount": [100]})
    moves = pd.DataFrame({"kind": ["issued", "used"], "customer_id": ["a", "a"], "currency_code": "USD",
                          "amount": [200, 150], "occurred_at": ["2026-06-15T00:00:00Z", "2026-07-01T00:00:00Z"]})
    closing = pd.DataFrame({"customer_id": ["a", "b"], "currency_code": "USD", "available": [150, 30],
                            "reserved": [0, 0]})
    kw = {"opening": opening, "opening_date": "2026-01-01T00:00:00Z"}
    row = translate_outstanding(closing, moves, "2026-12-31T23:59:59Z", rates, "EUR", **kw).iloc[0]
    # FIFO: the 150 used took the opening 100 and 50 of June's 200: 150 of June's lot is left (at 0.95: 142.5 ->
    # 142, half to even); b's 30 no lot explains stays at the closing 0.92 (27.6 -> 28); closing: 180 x 0.92
    assert (row["dated"], row["undated"], row["historical"], row["closing"]) == (150, 30, 170, 166)
    assert (row["difference"], row["booked"], row["policy"]) == (-4, 170, "historical")
    assert translate_outstanding(closing, moves, "2026-12-31T23:59:59Z", rates, "EUR", policy="closing",
                                 **kw).iloc[0]["booked"] == 166
    early = moves.assign(occurred_at=["2025-12-01T00:00:00Z", "2026-07-01T00:00:00Z"])
    with pytest.raises(UsageError, match="no USD spot rate on or before 2025-12-01"):
        translate_outstanding(closing, early, "2026-12-31T23:59:59Z", rates, "EUR")
    with pytest.raises(UsageError, match="fx_policy 'spot' must be one of: historical, closing"):
        translate_outstanding(closing, moves, "2026-12-31T23:59:59Z", rates, "EUR", policy="spot")


def test_the_fan_and_backtest_charts_draw_one_panel_per_currency() -> None:
    from credit_reports.figures.maturity_charts import backtest_chart, forecast_fan

    bal = balances([("a", "USD", 1000, 0), ("b", "JPY", 500, 0)])
    plans = plans_frame([plan("a", "USD", 300, "2027-01-15T10:00:00Z"), plan("b", "JPY", 100, "2027-01-02T00:00:00Z")])
    fc = maturity.forecast(bal, plans, AS_OF, hazards={"monthly": Hazard("monthly", 0.05, 0.02, 0.1)})
    fan = forecast_fan(fc.monthly)
    assert [ax.get_title() for ax in fan.axes if ax.get_visible()] == ["JPY", "USD"]
    scored = pd.DataFrame({"as_of": pd.to_datetime(["2026-10-31T23:59:59Z", "2026-11-30T23:59:59Z"]),
                           "currency_code": "USD", "horizon": 3, "forecast": [900, 800], "p10": [800, 700],
                           "p90": [1000, 900], "actual": [950, 500], "attention": [False, True]})
    chart = backtest_chart(scored)
    assert [ax.get_title() for ax in chart.axes if ax.get_visible()] == ["USD"]
    assert len(chart.axes[0].collections) == 2  # the band and the one month end flagged for Attention


def test_renewals_between_the_close_and_the_0615_fetch_still_count_against_the_closing_credit(make_sim) -> None:
    """The account lives through December, closes at 31 Dec 23:59:59, keeps renewing overnight, and the plans
    are read at 06:15 UTC on 1 January, after some subscriptions already renewed: the forecast made at the close
    still meets what the ledger then shows, month by month, to the minor unit."""
    sim = make_sim(customers=300, seed=5)
    account = sim.account
    close = pd.Timestamp("2026-12-31T23:59:59Z")
    fetch_at = pd.Timestamp("2027-01-01T06:15:00Z")
    close_ms, fetch_ms = int(close.timestamp() * 1000), int(fetch_at.timestamp() * 1000)
    bill_renewals(account, account._latest_ms + 1, close_ms)
    bal = pd.DataFrame(account.expected_balances(close_ms))
    holders = sorted(set(bal.loc[(bal["available"] + bal["reserved"]) > 0, "customer_id"]))
    due = [s for s in account.subscriptions_of(holders) if s["status"] == "active" and s["next_billed_at"]][:3]
    for sub in due:  # three holders renew at 03:00 on 1 January, between the close and the fetch
        sub["next_billed_at"] = "2027-01-01T03:00:00.000000Z"
    moved = bill_renewals(account, close_ms, fetch_ms)  # the night's renewals, before the fetch
    assert moved["renewals"] > 0
    fetched = fetch_renewal_plans(client_for(sim), holders)
    late = fetched.plans["period_starts_at"] > close
    assert late.any()  # some plans already show the renewal of the night
    until = add_months(close_ms, 24)
    bill_renewals(account, fetch_ms, until)
    moves = pd.DataFrame(account.expected_movements(close_ms, until))
    used = moves[moves["kind"] == "used"].assign(
        occurred_at=lambda m: pd.to_datetime(m["occurred_ms"], unit="ms", utc=True))
    fc = maturity.forecast(bal, fetched.plans, close)
    for currency in fc.split["currency_code"]:
        assert _actual_by_month(fc, used, currency).tolist() == months_of(fc, currency), currency
    stale = maturity.forecast(bal, fetched.plans.drop(columns="period_starts_at"), close)
    assert stale.monthly["scheduled"].tolist() != fc.monthly["scheduled"].tolist()  # without it: a month late


def test_maturity_block_splits_an_fx_policy_amount_in_proportion_and_still_adds_up() -> None:
    bal = balances([("a", "USD", 1000, 0), ("c", "EUR", 77, 0)])
    plans = plans_frame([plan("a", "USD", 300, "2027-10-15T00:00:00Z")])
    fc = maturity.forecast(bal, plans, AS_OF)
    usd = fc.split.set_index("currency_code").loc["USD"]
    assert (usd["current"], usd["outstanding"]) == (900, 1000)  # 15 Oct, Nov, Dec 2027: three renewals of 300
    block = maturity.maturity_block(fc, reporting_currency="EUR", translated={"USD": 951})
    rep = block["reporting"]
    # by hand: 951 x 900 / 1000 = 855.9 -> 856 current; EUR's 77 is dormant, non-current
    assert (rep["outstanding"], rep["current"], rep["non_current"]) == (951 + 77, 856, 951 - 856 + 77)
    with pytest.raises(MissingRateError, match="USD"):
        maturity.maturity_block(fc, reporting_currency="EUR", translated={})


def test_the_split_table_and_journal_note_carry_the_block_as_is() -> None:
    from credit_reports.report.maturity_report import journal_note, split_table

    bal = balances([("a", "USD", 1000, 0), ("c", "EUR", 77, 0)])
    plans = plans_frame([plan("a", "USD", 300, "2027-10-15T00:00:00Z")])
    block = maturity.maturity_block(maturity.forecast(bal, plans, AS_OF), reporting_currency="EUR",
                                    rates={"USD": Decimal("0.5")})
    table = split_table(block)
    own = table[table["stated"] == "in its own currency"].set_index("currency_code")
    reporting = table[table["stated"] != "in its own currency"].set_index("currency_code")
    assert own.loc["USD", "current"] == 900 and own.loc["EUR", "outstanding"] == 77
    assert list(reporting.index) == ["EUR"] and reporting.loc["EUR", "outstanding"] == 500 + 77
    assert (table["current"] + table["non_current"] == table["outstanding"]).all()
    note = journal_note(block)
    assert "USD: $9.00 current" in note and "€0.77 held by customers without an active subscription" in note


def test_maturity_report_on_the_demo_store_adds_up_and_records_its_cost(small_demo) -> None:
    from credit_reports.report.maturity_report import maturity_report
    from credit_reports.store.reader import chain

    snaps = chain(small_demo["data"], None)
    closing = snaps[-1]
    b = closing.balances
    holders = b.loc[(b["available"] + b["reserved"]) > 0, ["customer_id", "currency_code"]]
    # one monthly plan per holder, renewing at 1,000 minor units from the day after the close
    plans = plans_frame([plan(c, cur, 1000, (closing.as_of + pd.Timedelta(days=1)).isoformat(), sub=f"s{i}")
                         for i, (c, cur) in enumerate(holders.itertuples(index=False))])
    report = maturity_report(closing, plans, snaps, calls=1)
    for code, row in report.block["currencies"].items():
        assert row["current"] + row["non_current"] == row["outstanding"], code
    totals = (b["available"] + b["reserved"]).groupby(b["currency_code"].astype(str)).sum()
    assert {k: v["outstanding"] for k, v in report.block["currencies"].items()} == \
        {k: int(v) for k, v in totals.items() if v > 0}
    assert report.block["plans"] == {"subscriptions": len(holders), "calls": 1}
    assert report.backtest.empty and report.attention == []  # no month end before it has stored plans


def test_churn_estimated_from_month_end_listings_finds_the_churn_the_simulator_had(make_sim) -> None:
    """Customers leave at 10% a month (hidden from the listing until they do); the subscriptions listed at six
    month ends through the production reader give back that rate within the estimate's own range."""
    from credit_reports.fetch.readers import fetch_subscriptions

    sim = make_sim(customers=300, seed=5)
    account, client = sim.account, client_for(sim)
    moment = account._latest_ms + 3_600_000
    account.set_time(moment)
    schedule_churn(account, 3, 0.10, moment, add_months(moment, 12))
    month_ends = []
    for _ in range(6):
        month_ends.append((pd.Timestamp(moment, unit="ms", tz="UTC"), fetch_subscriptions(client)))
        following = add_months(moment, 1)
        bill_renewals(account, moment, following)
        moment = following
    hz = maturity.churn_rates(month_ends)["monthly"]
    assert hz.months == 5 and hz.at_risk > 400
    assert hz.low <= 0.10 <= hz.high and abs(hz.p50 - 0.10) < 0.03, hz


def test_a_wide_miss_inside_the_band_or_a_small_one_outside_it_raises_nothing() -> None:
    as_of = pd.Timestamp("2026-10-31T23:59:59Z")
    monthly = pd.DataFrame({"currency_code": ["USD", "EUR"], "month": [1, 1],
                            "ends_at": [as_of + pd.DateOffset(months=1)] * 2,
                            "cum_p10": [50, 1000], "cum_p50": [100, 1010], "cum_p90": [200, 1020]})
    used = pd.DataFrame({"currency_code": ["USD", "EUR"], "amount": [160, 1100],
                         "occurred_at": ["2026-11-10T00:00:00Z"] * 2})
    out = maturity.backtest({as_of: monthly}, used, horizons=(1,), latest="2026-12-01T00:00:00Z").set_index(
        "currency_code")
    assert out.loc["USD", "error"] == 0.375 and out.loc["USD", "within_band"]  # 37.5% off, inside its wide band
    assert not out.loc["EUR", "within_band"] and out.loc["EUR", "error"] < 0.25  # outside a narrow band, by 8%
    assert not out["attention"].any()
