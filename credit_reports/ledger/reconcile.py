"""The reconciling roll-forward: balances at two snapshots against the credit movements between them.

Per currency, in outstanding credit (available + reserved), docs/credit-rules.md "The roll-forward"::

    opening outstanding + issued - reversed - used = expected closing outstanding
    actual closing outstanding (from the balances) - expected closing = unexplained difference

``issued``, ``reversed`` and ``used`` come from the movements (with their counts), never from the
balances, so a balance that moved without an event, or an event the balance never saw, shows as an
unexplained difference. Two independent checks sit beside it:

- **used**: the change in the ``used`` balance against the sum of the ``used`` movements;
- **reserved**: the ``reserved`` balance against the credit on billed invoices still open: what was
  reserved at the opening, plus credit reserved on invoices since, minus what those invoices used or
  released (``opening reserved + sum of reserved_delta``).

Where a difference is not zero, :attr:`Reconciliation.customers` lists the customers behind it, largest
first, and :attr:`Reconciliation.movements` their movements. A period without event evidence is never
reconciled: its figures are derived from the balances (as :func:`credit_reports.figures.sums.balance_change`
does) and marked ``evidence = False``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from credit_reports.ledger import sums
from credit_reports.ledger.movements import movements_frame

__all__ = ["RECONCILIATION_COLUMNS", "Reconciliation", "between", "reconcile", "snapshots_between"]

RECONCILIATION_COLUMNS: tuple[str, ...] = (
    "currency_code", "opening", "issued", "issued_count", "reversed", "reversed_count", "used", "used_count",
    "expected_closing", "closing", "unexplained",
    "used_change", "used_difference", "reserved_expected", "reserved", "reserved_difference", "evidence",
)
CUSTOMER_COLUMNS: tuple[str, ...] = (
    "currency_code", "customer_id", "opening", "issued", "reversed", "used", "movements", "expected_closing",
    "closing", "unexplained", "used_difference", "reserved_difference",
)
_KEYS = ["currency_code", "customer_id"]


@dataclass
class Reconciliation:
    """The reconciling roll-forward of one period (all amounts int64 minor units, per currency)."""

    table: pd.DataFrame  # RECONCILIATION_COLUMNS, one row per currency
    customers: pd.DataFrame  # CUSTOMER_COLUMNS: customers with any difference, largest first
    movements: pd.DataFrame  # the movements of those customers in the period
    evidence: bool

    @property
    def reconciled(self) -> bool:
        """True only with evidence and every difference exactly zero."""
        return self.evidence and self.customers.empty and not self._any_difference()

    def _any_difference(self) -> bool:
        cols = ["unexplained", "used_difference", "reserved_difference"]
        return bool(len(self.table)) and bool((self.table[cols] != 0).to_numpy().any())

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """For the manifest: ``{currency: {opening, issued, used, closing, reversed, expected_closing,
        unexplained, evidence}}``; without evidence ``expected_closing`` and ``unexplained`` are null
        (nothing was reconciled) and issued/used are derived from the balances."""
        out: dict[str, dict[str, Any]] = dict(
            sums.per_currency_ints(self.table, (*sums.BALANCE_CHANGE_COLUMNS[1:], "reversed"))
        )
        for row in self.table.to_dict("records"):
            ev = bool(row["evidence"])
            out[str(row["currency_code"])].update(
                expected_closing=int(row["expected_closing"]) if ev else None,
                unexplained=int(row["unexplained"]) if ev else None,
                evidence=ev,
            )
        return out


_BALANCE_KINDS = ("available", "reserved", "used")
_MOVEMENT_SUMS = ("issued", "reversed", "used", "issued_count", "reversed_count", "used_count", "movements",
                  "used_delta", "reserved_delta")


def _movement_parts(moves: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per movement: its amount under its kind, a count of its kind, and its deltas on used and reserved."""
    kind = moves["kind"].to_numpy(dtype=object)
    amount = moves["amount"].to_numpy(dtype="int64")
    parts = {}
    for name in ("issued", "reversed", "used"):
        is_kind = kind == name
        parts[name] = np.where(is_kind, amount, 0)
        parts[f"{name}_count"] = is_kind.astype("int64")
    parts["movements"] = np.ones(len(moves), dtype="int64")
    parts["used_delta"] = moves["used_delta"].to_numpy(dtype="int64")
    parts["reserved_delta"] = moves["reserved_delta"].to_numpy(dtype="int64")
    return parts


def _per_customer_frame(opening: pd.DataFrame, closing: pd.DataFrame, moves: pd.DataFrame) -> pd.DataFrame:
    """One row per (currency, customer) in any of the three: opening and closing balances (``o_``/``c_``)
    and the movement sums, zero where a frame has no row for the pair.

    The three frames are stacked and summed in one group-by on an integer key (their currency and customer
    factorised together), instead of three group-bys aligned through unions of their multi-indexes.
    """
    o = sums.checked_amounts(opening, "balances", extra=("customer_id",))
    c = sums.checked_amounts(closing, "balances", extra=("customer_id",))
    frames = (o, c, moves)
    codes, code_values = pd.factorize(pd.concat([f["currency_code"] for f in frames], ignore_index=True))
    customers, customer_values = pd.factorize(pd.concat([f["customer_id"] for f in frames], ignore_index=True))
    width = max(len(customer_values), 1)
    key = codes.astype("int64") * width + customers
    sizes = [len(f) for f in frames]
    columns: dict[str, np.ndarray] = {}
    for prefix, frame, at in (("o_", o, 0), ("c_", c, sizes[0])):
        for kind in _BALANCE_KINDS:
            column = np.zeros(len(key), dtype="int64")
            column[at:at + len(frame)] = frame[kind].to_numpy(dtype="int64")
            columns[prefix + kind] = column
    start = sizes[0] + sizes[1]
    for name, values in _movement_parts(moves).items():
        column = np.zeros(len(key), dtype="int64")
        column[start:] = values
        columns[name] = column
    summed = pd.DataFrame(columns).groupby(key, sort=False).sum()
    keys = summed.index.to_numpy()
    summed.index = pd.MultiIndex.from_arrays(
        [code_values.take(keys // width), customer_values.take(keys % width)], names=_KEYS)
    return summed


def reconcile(
    opening: pd.DataFrame,
    closing: pd.DataFrame,
    movements: pd.DataFrame | None,
    *,
    evidence: bool,
) -> Reconciliation:
    """Reconcile two balance frames with the movements between them, per currency.

    ``opening`` / ``closing``: balances as the snapshot stores them. ``movements``: the period's
    movements (``row_types.MOVEMENT_DTYPES``). ``evidence``: whether every window of the period had event
    evidence (:func:`credit_reports.figures.periods.windows_evidence`); without it the movements are ignored and
    the figures are derived from the balances, marked ``evidence = False``.
    """
    moves = movements_frame(movements if movements is not None else [])
    f = _per_customer_frame(opening, closing, moves if evidence and len(moves) else moves.iloc[:0])
    if len(f) == 0:
        empty = {col: pd.Series(dtype="int64") for col in RECONCILIATION_COLUMNS}
        empty["currency_code"] = pd.Series(dtype="str")
        empty["evidence"] = pd.Series(dtype=bool)
        return Reconciliation(pd.DataFrame(empty), _empty_customers(), moves.iloc[:0], evidence)
    f["opening"] = f["o_available"] + f["o_reserved"]
    f["closing"] = f["c_available"] + f["c_reserved"]
    if not evidence:  # derived from balances: issued is the change in the credit ever granted, net
        f["issued"] = (f["c_available"] + f["c_reserved"] + f["c_used"]) - (
            f["o_available"] + f["o_reserved"] + f["o_used"])
        f["used"] = f["c_used"] - f["o_used"]
        f["used_delta"] = f["used"]
        f["reserved_delta"] = f["c_reserved"] - f["o_reserved"]
    f["expected_closing"] = f["opening"] + f["issued"] - f["reversed"] - f["used"]
    f["unexplained"] = f["closing"] - f["expected_closing"]
    f["used_change"] = f["c_used"] - f["o_used"]
    f["used_difference"] = f["used_change"] - f["used_delta"]
    f["reserved_expected"] = f["o_reserved"] + f["reserved_delta"]
    f["reserved"] = f["c_reserved"]
    f["reserved_difference"] = f["reserved"] - f["reserved_expected"]

    summed = [c for c in RECONCILIATION_COLUMNS if c not in ("currency_code", "evidence")]
    table = f.groupby(level="currency_code", sort=True)[summed].sum().astype("int64").reset_index()
    table["evidence"] = bool(evidence)
    table = table[list(RECONCILIATION_COLUMNS)]

    diff = f[(f["unexplained"] != 0) | (f["used_difference"] != 0) | (f["reserved_difference"] != 0)]
    if not evidence:
        diff = diff.iloc[:0]
    customers = diff.reset_index()
    customers = customers.assign(_size=np.abs(customers["unexplained"].to_numpy()),
                                 _other=np.abs(customers["used_difference"].to_numpy())
                                 + np.abs(customers["reserved_difference"].to_numpy()))
    customers = customers.sort_values(
        ["currency_code", "_size", "_other", "customer_id"], ascending=[True, False, False, True], kind="mergesort"
    )[list(CUSTOMER_COLUMNS)].reset_index(drop=True)
    behind = moves.merge(customers[_KEYS], on=_KEYS, how="inner") if len(customers) else moves.iloc[:0]
    if len(behind):
        rank = {k: i for i, k in enumerate(zip(customers["currency_code"], customers["customer_id"], strict=True))}
        behind = behind.assign(_rank=[rank[k] for k in zip(behind["currency_code"], behind["customer_id"],
                                                             strict=True)])
        behind = behind.sort_values(["_rank", "occurred_at"], kind="mergesort").drop(columns="_rank")
    return Reconciliation(table, customers, behind.reset_index(drop=True), bool(evidence))


def snapshots_between(opening: Any, closing: Any) -> tuple[list[Any], list[str]]:
    """The snapshots after ``opening`` up to ``closing`` (oldest first, from closing's store and
    environment), and why any of their windows lacks event evidence (empty when every one has it)."""
    from credit_reports.figures import periods
    from credit_reports.store import reader as store

    env_dir = closing.path.parent
    listing = store.list_snapshots(env_dir.parent.parent, closing.environment) if env_dir.parent.name == \
        store.SNAPSHOTS else None
    chain = ([store.Snapshot.from_path(p) for p, ok, t in zip(listing["path"], listing["usable"], listing["as_of"],
                                                              strict=True) if ok and t <= closing.as_of]
             if listing is not None else [])
    if not chain or chain[-1].path != closing.path:
        chain = [opening, closing]  # a snapshot folder outside a store: its own two ends only
    between = [(i, s) for i, s in enumerate(chain) if s.as_of > opening.as_of]
    reasons = [periods.missing_evidence(s, chain[i - 1] if i else None) for i, s in between]
    missing = [r for r in reasons if r]
    if not between:
        missing = ["no snapshot was taken after the opening one"]
    return [s for _, s in between], missing


def between(opening: Any, closing: Any, *, currencies: tuple[str, ...] | list[str] = ()) -> Reconciliation:
    """The reconciled roll-forward from snapshot ``opening`` to snapshot ``closing``, per currency.

    Issued, reversed and used are summed from the movements stored with the snapshots between them
    (:func:`snapshots_between`), never from the balances; when a window lacks event evidence the
    result is derived from balances and says so (``evidence`` False, :attr:`Reconciliation.evidence`).
    ``currencies`` (ISO codes) keeps only those. This is what the report's roll-forward shows.
    """
    from credit_reports.core.errors import UsageError
    from credit_reports.core.money import check_currency
    from credit_reports.ledger.movements import period_movements

    if not (hasattr(opening, "balances") and hasattr(closing, "balances")):
        raise UsageError("the roll-forward reconciles two snapshots (load_snapshot(...)), not two frames; for "
                         "the change between two balance frames use sums.balance_change")
    if opening.environment != closing.environment:
        raise UsageError(f"the roll-forward needs two snapshots of one environment, got {opening.environment} "
                         f"and {closing.environment}")
    if opening.as_of >= closing.as_of:
        raise UsageError(f"the opening snapshot {opening.name} must be older than the closing {closing.name}")
    codes = tuple(check_currency(c, "currencies") for c in currencies)
    chain, missing = snapshots_between(opening, closing)
    evidence = not missing

    def keep(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["currency_code"].isin(codes)].reset_index(drop=True) if codes else frame

    moves = keep(period_movements(chain, after=opening.as_of, until=closing.as_of)) if evidence else None
    return reconcile(keep(opening.balances), keep(closing.balances), moves, evidence=evidence)


def _empty_customers() -> pd.DataFrame:
    frame = pd.DataFrame({col: pd.Series(dtype="int64") for col in CUSTOMER_COLUMNS})
    return frame.astype({"currency_code": "str", "customer_id": "str"})


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
