"""History from day one (issue 17): every candidate's credit rebuilt from Paddle's transactions and adjustments,
tied out to a fetched snapshot, and reconstructed month ends equal to the simulator's ledger.

Every expected balance comes from the simulator's ledger (``Account.expected_balances``), never from the code
under test; the rule tests use hand-written transactions with amounts worked out by hand.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from credit_reports.fetch import history as credit_history
from credit_reports.fetch.snapshot import fetch_snapshot
from credit_reports.ledger import rebuild
from credit_reports.paddle.client import PaddleClient
from credit_reports.simulator import CURRENT_PADDLE, Simulator
from credit_reports.store import reader as store

RPM = 60_000


def _client(sim: Simulator) -> PaddleClient:
    return PaddleClient(api_key=sim.api_key, base_url=sim.base_url, max_rpm=RPM)


def _ledger(sim: Simulator, at: pd.Timestamp) -> pd.DataFrame:
    rows = sim.account.expected_balances(at.to_pydatetime())
    frame = pd.DataFrame(rows, columns=["customer_id", "currency_code", "available", "reserved", "used"])
    return frame.astype({"customer_id": "str", "currency_code": "str"})


def _differences(snap: store.Snapshot, ledger: pd.DataFrame, *, skip: set[str] = frozenset()) -> list[str]:
    """Customers whose rows in ``snap`` differ from the ledger's (a row on one side only differs too)."""
    got = snap.balances.astype({"customer_id": "str", "currency_code": "str"})
    got, ledger = got[~got["customer_id"].isin(skip)], ledger[~ledger["customer_id"].isin(skip)]
    both = got.merge(ledger, on=["customer_id", "currency_code"], how="outer", suffixes=("", "_l"),
                     indicator=True)
    same = (both["_merge"] == "both") & (both["available"] == both["available_l"]) & (
        both["reserved"] == both["reserved_l"]) & (both["used"] == both["used_l"])
    return sorted(set(both.loc[~same, "customer_id"]))


def _movement_keys(frame: pd.DataFrame) -> set:
    """A movement as (kind, customer, currency, amount, when, transaction, adjustment): what two sources of
    the same movement must agree on."""
    return set(zip(frame["kind"], frame["customer_id"], frame["currency_code"], frame["amount"].astype(int),
                   pd.to_datetime(frame["occurred_at"], utc=True), frame["transaction_id"], frame["adjustment_id"],
                   strict=True))


def _reconstructed(data_dir: Path, environment: str = "local") -> list[store.Snapshot]:
    listing = store.list_snapshots(data_dir, environment)
    return [store.Snapshot.from_path(p) for p, r in zip(listing["path"], listing["reconstructed"], strict=True) if r]


# -- the rules, by hand -------------------------------------------------------------------------------------


def _txn(txn_id: str, status: str, *, credit: int = 0, to_balance: int = 0, origin: str = "subscription_recurring",
         mode: str = "automatic", created: str = "2025-01-10T10:00:00Z", billed: str | None = None,
         updated: str | None = None, grand_total: int = 100) -> dict:
    return {"id": txn_id, "customer_id": "ctm_a", "currency_code": "USD", "status": status, "origin": origin,
            "collection_mode": mode, "created_at": created, "billed_at": billed, "updated_at": updated or created,
            "details": {"totals": {"credit": str(credit), "credit_to_balance": str(to_balance),
                                   "grand_total": str(grand_total)}}, "payments": []}


def _captured(at: str) -> dict:
    """A captured payment attempt as Paddle lists it on a transaction (``payments[]``)."""
    return {"payment_attempt_id": "pa_1", "status": "captured", "amount": "100", "created_at": at,
            "captured_at": at}


def test_seller_credit_on_a_billed_invoice_is_not_balance_credit():
    """R1: totals.credit 1,500 with an approved 500 seller credit reserves 1,000 of the balance, never 1,500."""
    txn = _txn("txn_1", "billed", credit=1500, mode="manual", billed="2025-01-10T10:00:01Z")
    seller = {"id": "adj_s", "action": "credit", "status": "approved", "credit_applied_to_balance": False,
              "customer_id": "ctm_a", "currency_code": "USD", "transaction_id": "txn_1",
              "totals": {"total": "500"}, "created_at": "2025-01-11T00:00:00Z", "updated_at": "2025-01-11T00:00:00Z"}
    moves = rebuild.rebuild([txn], [seller])
    assert moves[["kind", "amount", "available_delta", "reserved_delta"]].values.tolist() == [
        ["reserved", 1000, -1000, 1000]]


def test_a_renewal_billed_then_completed_reserves_then_uses_and_a_canceled_one_releases():
    """R2: billed -> completed is reserved at billed_at then used at completion; billed -> canceled is
    reserved then released; a zero-total subscription_update issues its credit_to_balance when it completes
    (its updated_at, never revised)."""
    done = _txn("txn_d", "completed", credit=300, billed="2025-02-01T00:00:00Z", updated="2025-02-03T00:00:00Z")
    gone = _txn("txn_c", "canceled", credit=200, billed="2025-02-01T00:00:00Z", updated="2025-02-05T00:00:00Z")
    grant = _txn("txn_g", "completed", to_balance=900, origin="subscription_update", grand_total=0,
                 created="2025-01-05T00:00:00Z", billed="2025-01-05T00:00:00.001Z", updated="2025-01-05T00:00:00.001Z")
    moves = rebuild.rebuild([done, gone, grant], [])
    seen = [(m.kind, m.transaction_id, int(m.amount), m.occurred_at.isoformat()) for m in moves.itertuples()]
    assert seen == [
        ("issued", "txn_g", 900, "2025-01-05T00:00:00.001000+00:00"),
        ("reserved", "txn_c", 200, "2025-02-01T00:00:00+00:00"),
        ("reserved", "txn_d", 300, "2025-02-01T00:00:00+00:00"),
        ("used", "txn_d", 300, "2025-02-03T00:00:00+00:00"),
        ("released", "txn_c", 200, "2025-02-05T00:00:00+00:00"),
    ]
    at_end = rebuild.balances_at(moves, pd.Timestamp("2025-02-28T23:59:59Z"))
    assert at_end[["available", "reserved", "used"]].values.tolist() == [[900 - 300, 0, 300]]


def test_a_completion_is_dated_by_its_status_and_estimated_only_when_a_revision_hides_it():
    """Billed 28 Feb 23:30, completed 2 Mar (updated_at, never revised): exact, no label. The same transaction
    revised on 2 Mar (updated_at moved with revised_at): the completion follows the billing by at most
    COMPLETES_WITHIN (an hour), either side of 28 Feb's end, so it is dated at billing and labelled estimated,
    with that month end; billed at noon, the hour holds no month end and nothing is labelled."""
    plain = _txn("txn_e", "completed", credit=400, mode="manual", billed="2025-02-28T23:30:00Z",
                 updated="2025-03-02T00:00:00Z")
    used = rebuild.rebuild([plain], []).query("kind == 'used'").iloc[0]
    assert (used["timing"], used["occurred_at"], used["estimated"]) == (
        "field", pd.Timestamp("2025-03-02T00:00:00Z"), False)
    revised = dict(plain, revised_at="2025-03-02T00:00:00Z")
    moves = rebuild.rebuild([revised], [])
    used = moves[moves["kind"] == "used"].iloc[0]
    assert used["estimated"] and used["timing"] == "rule"
    assert used["occurred_at"] == pd.Timestamp("2025-02-28T23:30:00Z")
    ends = rebuild.month_ends(pd.Timestamp("2025-02-01T00:00:00Z"), pd.Timestamp("2025-03-31T23:59:59Z"))
    assert rebuild.estimated_month_ends(moves, ends) == {ends[0]: {"ctm_a"}, ends[1]: set()}
    noon = rebuild.rebuild([dict(revised, billed_at="2025-02-28T12:00:00Z")], [])
    assert not noon["estimated"].any()


def test_a_revision_months_later_never_moves_the_credit_a_renewal_created():
    """Issue 24 (a): a renewal carrying credit_to_balance 24,000 (nothing to collect) completed on 10 Mar 2025
    and revised on 15 May; 2,400 of the credit paid a renewal on 20 Mar. The credit is issued on 10 Mar (not at
    the revision's updated_at), so the balance is 21,600 available at 31 Mar and never below zero."""
    grant = dict(_txn("txn_g", "completed", to_balance=24000, grand_total=0, created="2025-03-10T09:00:00Z",
                      billed="2025-03-10T09:00:00Z", updated="2025-05-15T10:00:00Z"),
                 revised_at="2025-05-15T10:00:00Z")
    spend = _txn("txn_s", "completed", credit=2400, created="2025-03-20T09:00:00Z", billed="2025-03-20T09:00:00Z",
                 updated="2025-03-20T09:00:00Z")
    moves = rebuild.rebuild([grant, spend], [])
    assert moves.query("kind == 'issued'")["occurred_at"].tolist() == [pd.Timestamp("2025-03-10T09:00:00Z")]
    at_march = rebuild.balances_at(moves, pd.Timestamp("2025-03-31T23:59:59Z"))
    assert at_march[["available", "reserved", "used"]].values.tolist() == [[21600, 0, 2400]]
    assert rebuild.negative_balances(moves) == []


def test_credit_is_used_at_the_completion_not_at_the_payments_capture():
    """The spec: reserved credit "isn't considered used until the transaction is completed". Captured at
    23:59 on 31 Mar, completed 00:00:30 on 1 Apr: reserved at 31 Mar's end, used in April."""
    txn = dict(_txn("txn_p", "completed", credit=500, mode="manual", billed="2025-03-25T10:00:00Z",
                    updated="2025-04-01T00:00:30Z"), payments=[_captured("2025-03-31T23:59:00Z")])
    moves = rebuild.rebuild([txn], [])
    assert moves[["kind", "occurred_at"]].values.tolist() == [
        ["reserved", pd.Timestamp("2025-03-25T10:00:00Z")], ["used", pd.Timestamp("2025-04-01T00:00:30Z")]]
    at_march = rebuild.balances_at(moves, pd.Timestamp("2025-03-31T23:59:59Z"))
    assert at_march[["available", "reserved", "used"]].values.tolist() == [[-500, 500, 0]]


def test_a_one_time_charge_billed_or_past_due_reserves_whatever_its_origin():
    """R2 for every billed or past-due transaction: a one-time charge (origin subscription_charge) past due
    reserves its balance credit; one billed before its payment was captured reserves, then uses from reserved;
    one paid at once (billed_at is the capture) goes straight to used."""
    due = _txn("txn_1", "past_due", credit=300, origin="subscription_charge", billed="2025-03-01T00:00:00Z",
               updated="2025-03-02T00:00:00Z")
    late = dict(_txn("txn_2", "completed", credit=200, origin="subscription_charge", billed="2025-03-01T00:00:00Z",
                     updated="2025-03-05T00:00:01Z"), payments=[_captured("2025-03-05T00:00:00Z")])
    once = dict(_txn("txn_3", "completed", credit=100, origin="subscription_charge", billed="2025-03-01T00:00:00Z",
                     updated="2025-03-01T00:00:01Z"), payments=[_captured("2025-03-01T00:00:00Z")])
    moves = rebuild.rebuild([due, late, once], [])
    got = sorted((m.transaction_id, m.kind, int(m.reserved_delta)) for m in moves.itertuples())
    assert got == [("txn_1", "reserved", 300), ("txn_2", "reserved", 200), ("txn_2", "used", -200),
                   ("txn_3", "used", 0)]


def test_an_event_in_the_window_gives_the_exact_completion():
    txn = _txn("txn_e", "completed", credit=400, mode="manual", billed="2025-02-28T12:00:00Z",
               updated="2025-03-02T00:00:00Z")
    event = {"event_id": "evt_1", "event_type": "transaction.completed", "occurred_at": "2025-03-01T08:00:00Z",
             "data": {"id": "txn_e", "status": "completed"}}
    used = rebuild.rebuild([txn], [], [event]).query("kind == 'used'").iloc[0]
    assert (used["timing"], used["event_id"], used["occurred_at"]) == (
        "event", "evt_1", pd.Timestamp("2025-03-01T08:00:00Z"))
    assert not used["estimated"]


def test_legacy_credit_counts_once_even_when_its_status_reads_reversed():
    """A reversed original still counts as issued; the approved credit_reverse takes it back (never both)."""
    base = {"customer_id": "ctm_a", "currency_code": "USD", "transaction_id": "txn_p"}
    original = {**base, "id": "adj_o", "action": "credit", "status": "reversed", "credit_applied_to_balance": True,
                "totals": {"total": "700"}, "created_at": "2023-05-01T00:00:00Z", "updated_at": "2023-06-01T00:00:00Z"}
    reverse = {**base, "id": "adj_r", "action": "credit_reverse", "status": "approved",
               "totals": {"total": "-700"}, "created_at": "2023-06-01T00:00:00Z",
               "updated_at": "2023-06-01T00:00:00Z"}
    refund = {**base, "id": "adj_f", "action": "refund", "status": "approved", "totals": {"total": "50"},
              "created_at": "2023-06-02T00:00:00Z", "updated_at": "2023-06-02T00:00:00Z"}
    moves = rebuild.rebuild([], [original, reverse, refund])
    assert moves[["kind", "amount", "adjustment_id"]].values.tolist() == [
        ["issued", 700, "adj_o"], ["reversed", 700, "adj_r"], ["refund", 50, "adj_f"]]
    assert rebuild.balances_at(moves, pd.Timestamp("2023-05-31T23:59:59Z"))["available"].tolist() == [700]
    assert rebuild.balances_at(moves, pd.Timestamp("2023-06-30T23:59:59Z"))["available"].tolist() == [0]


# -- against the simulator, over HTTP -----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("behaviour", ["renewals-collected-at-once", "current-paddle"])
def test_every_customer_that_ties_out_has_month_ends_equal_to_the_ledger(make_sim, tmp_path, behaviour):
    """Both credit regimes (legacy adjustments before March 2024, transaction credit since), reservations,
    releases, reversals, seller credits and refunds; with current Paddle also seller credits inside
    ``details.totals.credit``, billed renewals with dunning, transfers and refunds of credit-paid transactions:
    the history ties out and each reconstructed month end is the ledger's at that second, customer by customer."""
    current = behaviour == "current-paddle"
    sim = make_sim(customers=500, seed=23, **(CURRENT_PADDLE if current else {}))
    # with transfers, credit holders without a subscription exist: a full first snapshot has them all (finding
    # them with fewer calls is the fetch's business, issue 16)
    with _client(sim) as client:
        snap = fetch_snapshot(client, data_dir=tmp_path, strategy="full" if current else "subscribers",
                              max_rpm=RPM, progress=False)
        result = credit_history.run_history(client, snap, data_dir=tmp_path, progress=False)
    assert result.tie_out_rate == 1.0 and result.untrusted.empty
    kinds = set(result.movements["kind"])
    assert kinds - {"refund"} == {"issued", "reversed", "reserved", "released", "used"}
    assert set(result.movements["source"]) >= {"adjustment", "subscription_update"}
    rebuilt = _reconstructed(tmp_path)
    assert rebuilt and len(rebuilt) == len(result.written)
    assert rebuilt[0].balances.empty  # the opening month end, before the first credit
    for month_end in rebuilt:
        labelled = set(month_end.manifest["estimated_timing"]["customer_ids"])
        assert _differences(month_end, _ledger(sim, month_end.as_of), skip=labelled) == [], month_end.name
    manifest = store.load_snapshot(snap.name, tmp_path).manifest
    assert manifest["history"]["tie_out"]["rate"] == 1.0 and manifest["history"]["api_calls"] > 0


def test_a_customer_whose_transactions_do_not_explain_their_balance_is_listed_and_left_out(make_sim, tmp_path):
    """A balance moved with no transaction (+500 available) and credit on a transaction the balance never saw
    are both listed with their difference, and neither appears in any reconstructed month end."""
    sim = make_sim(customers=80, seed=5)
    holder = sim.account.expected_balances()[0]
    sim.account.move_balance_silently(holder["customer_id"], holder["currency_code"], 500)
    subscriber = sorted(sim.account.subscriber_ids() - {r["customer_id"] for r in sim.account.expected_balances()})[0]
    sim.account.emit_unseen_credit(subscriber, 1234)
    with _client(sim) as client:
        snap = fetch_snapshot(client, data_dir=tmp_path, strategy="subscribers", max_rpm=RPM, progress=False)
        result = credit_history.run_history(client, snap, data_dir=tmp_path, progress=False)
    diffs = {(d["customer_id"], d["available"], d["reserved"], d["used"])
             for d in result.summary["tie_out"]["differences"]}
    assert diffs == {(holder["customer_id"], 500, 0, 0), (subscriber, -1234, 0, 0)}
    untrusted = {holder["customer_id"], subscriber}
    assert set(result.summary["tie_out"]["untrusted_customer_ids"]) == untrusted
    assert set(credit_history.untrusted_movements(result)["customer_id"]) == {subscriber, holder["customer_id"]}
    for month_end in _reconstructed(tmp_path):
        assert not set(month_end.balances["customer_id"]) & untrusted
        assert set(month_end.manifest["untrusted_customer_ids"]) == untrusted
    customers = result.summary["tie_out"]["customers"]
    assert result.tie_out_rate == pytest.approx((customers - 2) / customers)
    # the report lists them, and only the untrusted holder's credit is undated in the ageing
    from credit_reports.report import preparation as report

    prepared = report.prepare(data_dir=str(tmp_path))
    assert set(prepared.history_untrusted["customer_id"]) == untrusted
    assert "history_untrusted" in prepared.tables()
    aged = prepared.ageing
    undated = aged[aged["bucket"].astype(str).str.contains("date not seen") & (aged["amount"] != 0)]
    held = snap.balances[(snap.balances["customer_id"] == holder["customer_id"])
                         & (snap.balances["currency_code"] == holder["currency_code"])]["available"].sum()
    assert undated.groupby("currency_code")["amount"].sum().to_dict() == {holder["currency_code"]: held}
    # the snapshot table and the ageing note name the history's first credit alike, as the report writes times
    rows = dict(prepared.summary_table().data.itertuples(index=False, name=None))
    first = re.search(r"from the first credit \((\d\d \w{3} \d{4}, \d\d:\d\d:\d\d UTC)\)",
                      rows["History from day one"])
    assert first, rows["History from day one"]
    assert f"the month end before the first credit ({first.group(1)})" in prepared.notes["ageing"]


@pytest.mark.slow
def test_a_refund_that_returned_credit_breaks_the_tie_out_of_exactly_its_customers(make_sim, tmp_path):
    """R4 says a refund returns no credit; a simulator that returns it anyway (a ``refunded`` ledger entry)
    leaves those customers' balances unexplained by their transactions: listed, and only they."""
    sim = make_sim(customers=300, seed=29, refund_returns_credit=True, **CURRENT_PADDLE)
    refunded: dict[str, int] = {}
    for entry in sim.account.entries:
        if entry.kind == "refunded":
            refunded[entry.customer_id] = refunded.get(entry.customer_id, 0) + entry.amount
    assert refunded, "the account should hold refunds of credit-paid transactions"
    with _client(sim) as client:
        snap = fetch_snapshot(client, data_dir=tmp_path, strategy="full", max_rpm=RPM, progress=False)
        result = credit_history.run_history(client, snap, data_dir=tmp_path, progress=False)
    assert set(result.summary["tie_out"]["untrusted_customer_ids"]) == set(refunded)
    by_customer = {d["customer_id"]: (d["available"], d["used"]) for d in result.summary["tie_out"]["differences"]}
    assert by_customer == {cid: (amount, -amount) for cid, amount in refunded.items()}


def test_inside_the_event_window_the_rebuilt_movements_are_the_ledgers_to_the_millisecond(make_sim, tmp_path):
    """Within Paddle's 90 days the moments come from events: kind, ids, amount and time agree with the ledger
    movement for movement (so the history agrees with the event-based movements of incremental fetches)."""
    sim = make_sim(customers=400, seed=17, **CURRENT_PADDLE)
    with _client(sim) as client:
        snap = fetch_snapshot(client, data_dir=tmp_path, strategy="full", max_rpm=RPM, progress=False)
        result = credit_history.run_history(client, snap, data_dir=tmp_path, progress=False)
    since = snap.as_of - pd.Timedelta(days=89)
    ledger = pd.DataFrame(sim.account.expected_movements(since.to_pydatetime(), snap.as_of.to_pydatetime()))
    mine = result.movements[result.movements["occurred_at"] > since]
    refunds = mine[mine["kind"] == "refund"]  # R4: kept beside the movements, moving nothing (the ledger has none)
    assert len(refunds) and (refunds[["available_delta", "reserved_delta", "used_delta"]] == 0).all(axis=None)
    mine = mine[mine["kind"] != "refund"]
    assert len(ledger) > 20 and set(ledger["kind"]) >= {"issued", "reserved", "used"}

    def keyed(frame: pd.DataFrame, times: pd.Series) -> set:
        return set(zip(frame["kind"], frame["transaction_id"], frame["adjustment_id"], frame["amount"].astype(int),
                       pd.to_datetime(times, utc=True), strict=True))

    assert keyed(mine, mine["occurred_at"]) == keyed(ledger, ledger["occurred_at"])
    assert not mine["estimated"].any()


@pytest.mark.slow
def test_reconstructed_month_ends_are_listed_as_such_and_never_taken_for_the_latest(make_sim, tmp_path):
    sim = make_sim(customers=120, seed=9)
    with _client(sim) as client:
        snap = fetch_snapshot(client, data_dir=tmp_path, strategy="subscribers", max_rpm=RPM, progress=False)
        once = credit_history.run_history(client, snap, data_dir=tmp_path, progress=False)
        again = credit_history.run_history(client, snap, data_dir=tmp_path, progress=False)  # replaces its own
    assert [p.name for p in again.written] == [p.name for p in once.written]
    listing = store.list_snapshots(tmp_path)
    assert listing["reconstructed"].sum() == len(listing) - 1
    assert listing.loc[listing["reconstructed"], "strategy"].eq("reconstructed").all()
    latest = store.load_snapshot("latest", tmp_path)
    assert latest.name == snap.name and not latest.reconstructed
    assert all(s.reconstructed and s.manifest["source_snapshot"] == snap.name for s in _reconstructed(tmp_path))


@pytest.mark.slow
def test_a_gap_of_more_than_90_days_between_fetched_snapshots_is_bridged(tmp_path):
    """Two fetched snapshots 4 months apart: the month ends between them are reconstructed from the second
    one's history and equal the ledger; so are those before the first."""
    now = datetime.now(UTC)
    anchor = datetime(now.year, now.month, 1, tzinfo=UTC) - timedelta(days=200)
    anchor = datetime(anchor.year, anchor.month, 1, tzinfo=UTC)
    first_at = anchor + timedelta(days=2)
    second_at = first_at + timedelta(days=125)
    with Simulator(customers=200, seed=31, anchor=anchor) as sim, _client(sim) as client:
        sim.set_time(first_at)
        fetch_snapshot(client, data_dir=tmp_path, strategy="subscribers", max_rpm=RPM, progress=False,
                       as_of=first_at)
        sim.set_time(second_at)
        for k, days in enumerate((20, 50, 80, 110)):
            sim.advance(seed=k, at=first_at + timedelta(days=days), credits=4, reservations=3, spends=3,
                        completions=2, cancellations=1, first_credits=2)
        second = fetch_snapshot(client, data_dir=tmp_path, strategy="full", max_rpm=RPM, progress=False,
                                as_of=second_at)
        result = credit_history.run_history(client, second, data_dir=tmp_path, progress=False)
        assert result.tie_out_rate == 1.0
        rebuilt = _reconstructed(tmp_path)
        in_gap = [s for s in rebuilt if first_at < s.as_of.to_pydatetime() < second_at]
        assert len(in_gap) == 4
        for month_end in rebuilt:
            labelled = set(month_end.manifest["estimated_timing"]["customer_ids"])
            assert _differences(month_end, _ledger(sim, month_end.as_of), skip=labelled) == [], month_end.name


@pytest.mark.slow
def test_a_killed_history_resumes_from_its_checkpoint(tmp_path):
    """``credit-reports history`` killed mid-listing: the rerun lists only the batches not yet journalled and
    ends on the same tie-out."""
    with Simulator(customers=300, seed=13, latency_ms=40) as sim:
        with _client(sim) as client:
            snap = fetch_snapshot(client, data_dir=tmp_path, strategy="subscribers", max_rpm=RPM, progress=False)
        env = {**os.environ, "PADDLE_API_KEY": sim.api_key}
        command = [sys.executable, "-m", "credit_reports.app.cli", "--quiet", "history", "--base-url", sim.base_url,
                   "--data-dir", str(tmp_path), "--max-rpm", str(RPM), "--workers", "1", "--ids-per-request", "10"]
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        journal = tmp_path / "snapshots" / "local" / f".history-{snap.name}" / "batches.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not journal.exists() or journal.read_text().count("\n") < 3):
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        done = journal.read_text().count("\n")
        assert done >= 3
        with _client(sim) as client:
            result = credit_history.run_history(client, snap, data_dir=tmp_path, progress=False, ids_per_request=10)
    assert result.summary["batches_resumed"] >= done and result.summary["batches"] > result.summary["batches_resumed"]
    assert result.tie_out_rate == 1.0
    assert not journal.parent.exists()  # the checkpoint goes once the history is stored


def test_cli_history_prints_the_tie_out_and_the_calls(make_sim, tmp_path, capsys):
    from credit_reports.app.cli import main

    sim = make_sim(customers=80, seed=3)
    with _client(sim) as client:
        fetch_snapshot(client, data_dir=tmp_path, strategy="subscribers", max_rpm=RPM, progress=False)
    os.environ["PADDLE_API_KEY"] = sim.api_key
    try:
        code = main(["--quiet", "history", "--base-url", sim.base_url, "--data-dir", str(tmp_path),
                     "--max-rpm", str(RPM)])
    finally:
        del os.environ["PADDLE_API_KEY"]
    out = capsys.readouterr().out
    assert code == 0
    assert "customers tie out (100.00%)" in out and "API calls" in out


def test_history_of_a_reconstructed_snapshot_is_refused_in_one_line(make_sim, tmp_path):
    from credit_reports.core.errors import UsageError

    sim = make_sim(customers=60, seed=4)
    with _client(sim) as client:
        snap = fetch_snapshot(client, data_dir=tmp_path, strategy="subscribers", max_rpm=RPM, progress=False)
        credit_history.run_history(client, snap, data_dir=tmp_path, progress=False)
        first = _reconstructed(tmp_path)[0]
        with pytest.raises(UsageError, match="reconstructed snapshot"):
            credit_history.run_history(client, first.name, data_dir=tmp_path, progress=False)


@pytest.mark.slow
def test_the_demo_rebuilds_the_year_from_one_first_snapshot_and_its_month_ends_equal_the_fetched_ones(tmp_path):
    """``make report``'s proof: one first snapshot today and its history give, customer by customer, the same
    month ends as the demo's month-end snapshots fetched as the year went (both are the simulator's ledger);
    the demo report's ageing has no undated credit."""
    from credit_reports.app.demo import DEMO_ENVIRONMENT, proof_folder, take_demo_snapshots
    from credit_reports.report import preparation as report

    newest = take_demo_snapshots(tmp_path, customers=150, seed=7, progress=False, months=5)
    proof_store = proof_folder(tmp_path)
    listing = store.list_snapshots(proof_store, DEMO_ENVIRONMENT)
    rebuilt = {Path(p).name: store.Snapshot.from_path(p) for p, r in
               zip(listing["path"], listing["reconstructed"], strict=True) if r}
    demo = store.list_snapshots(tmp_path, DEMO_ENVIRONMENT)
    fetched = [store.Snapshot.from_path(p) for p, r in zip(demo["path"], demo["reconstructed"], strict=True)
               if not r]
    assert len(fetched) == 5
    history = store.load_snapshot("latest", proof_store, DEMO_ENVIRONMENT).manifest["history"]
    assert history["tie_out"]["rate"] == 1.0
    keys = ["customer_id", "currency_code"]
    for month_end in fetched:
        mine = rebuilt[month_end.name].balances.sort_values(keys).reset_index(drop=True)
        theirs = month_end.balances.sort_values(keys).reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, theirs, check_dtype=False)
    # inside Paddle's event window the history agrees, movement for movement, with the movements the
    # incremental fetches read from events
    proof_first = store.load_snapshot("latest", proof_store, DEMO_ENVIRONMENT)
    rebuilt_moves = credit_history.history_of([], proof_first, data_dir=proof_store, environment=DEMO_ENVIRONMENT)
    compared = 0
    for previous, month_end in zip(fetched, fetched[1:], strict=False):
        if previous.as_of < proof_first.as_of - pd.Timedelta(days=89):
            continue
        theirs, mine = (f[(f["occurred_at"] > previous.as_of) & (f["occurred_at"] <= month_end.as_of)]
                        for f in (month_end.movements, rebuilt_moves))
        assert _movement_keys(mine) == _movement_keys(theirs), month_end.name
        compared += len(theirs)
    assert compared > 0
    prepared = report.prepare(data_dir=str(tmp_path), environment=DEMO_ENVIRONMENT, period="previous-month")
    assert prepared.snapshot.name == newest.name
    assert not prepared.ageing["bucket"].astype(str).str.contains("date not seen").any()
    assert prepared.ageing["amount"].sum() == prepared.balances["available"].sum()
    # the roll-forward of a closed month before the first fetched snapshot, and of the first fetched one's
    # month, reconciles with evidence from transaction ids
    first_fetched = fetched[0].as_of
    for month in (first_fetched - pd.DateOffset(months=7), first_fetched):
        closed = report.prepare(data_dir=str(tmp_path), environment=DEMO_ENVIRONMENT, period=f"{month:%Y-%m}")
        assert closed.evidence is True, month
        assert (closed.reconciliation.table["unexplained"] == 0).all() and closed.reconciliation.table[
            "issued"].sum() > 0, month


def test_before_the_event_window_every_movement_falls_where_the_ledger_has_it(make_sim, tmp_path):
    """Issue 24 point 9 on a simulated account that revises transactions, records payments and captures apart
    from completions, and lets one-time charges go past due: every rebuilt movement before Paddle's 90 days
    lies at the ledger's moment exactly, or (a revised transaction) inside the interval it carries, labelled
    estimated only when a month end lies in it; nothing is ever rebuilt below zero; every customer ties out."""
    sim = make_sim(customers=300, seed=41, **CURRENT_PADDLE)
    txns = sim.account.transactions.items
    assert any(t["revised_at"] for t in txns) and any(t["origin"] == "subscription_charge" for t in txns)
    assert any(p["captured_at"] for t in txns for p in t["payments"])
    with _client(sim) as client:
        snap = fetch_snapshot(client, data_dir=tmp_path, strategy="full", max_rpm=RPM, progress=False)
        result = credit_history.run_history(client, snap, data_dir=tmp_path, progress=False)
    assert result.summary["tie_out"]["rate"] == 1.0
    assert result.summary["negative_balances"] == []
    ledger = pd.DataFrame(sim.account.expected_movements(None, snap.as_of.to_pydatetime()))
    ledger["occurred_at"] = pd.to_datetime(ledger["occurred_at"], utc=True)
    moves = result.movements[(result.movements["timing"] != "event") & (result.movements["kind"] != "refund")]
    joined = moves.merge(ledger, on=["kind", "transaction_id", "adjustment_id", "amount"], suffixes=("", "_l"))
    assert len(joined) == len(moves) > 50
    exact = joined[joined["timing"] != "rule"]
    assert (exact["occurred_at"] == exact["occurred_at_l"]).all()
    ruled = joined[joined["timing"] == "rule"]
    assert ((ruled["earliest"] <= ruled["occurred_at_l"]) & (ruled["occurred_at_l"] <= ruled["latest"])).all()
    months = (ruled["earliest"].dt.year * 12 + ruled["earliest"].dt.month) != (
        ruled["latest"].dt.year * 12 + ruled["latest"].dt.month)
    assert (ruled["estimated"] == months).all()
