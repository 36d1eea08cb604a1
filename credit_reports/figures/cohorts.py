"""Cohort rules (which group each customer falls in) and per-cohort, per-currency credit totals.

:func:`assign_cohorts` turns the customers frame (and, for subscription rules, the subscriptions frame)
into one label per customer: a DataFrame ``customer_id``, ``cohort``, like every other result.
:func:`cohort_totals` sums balances per cohort *and currency* (never across
currencies), merging cohorts too small to read into ``"other"`` and saying so in ``df.attrs["merged"]``.
:func:`cohort_heatmap` gives the cohort x currency grid, scaled within each currency. Both size a cohort
by the customers assigned to it, so they merge the same cohorts, in every currency.

Rules (``rule=``):

- ``signup_month`` ("2025-03"), ``signup_quarter`` ("2025Q1"), ``signup_year`` ("2025"): from
  ``created_at`` (UTC); an ordered categorical, oldest first; a customer without a date is "(unknown)".
- ``status``, ``locale``: the customer's field; empty is "(none)".
- ``custom_data.<key>``: that key of the customer's ``custom_data`` JSON (a dotted path reaches nested
  objects); missing is "(none)", unreadable JSON "(invalid JSON)".
- ``file`` with ``mapping=load_cohort_file(path)``, or ``file:<path>``: a CSV ``customer_id,cohort``
  the user supplies; customers not in it are "(unmapped)".
- ``subscription.product``, ``subscription.price``, ``subscription.interval``: from the customer's
  earliest subscription (by ``created_at``, then subscription ID; within a subscription of several
  items, the first by product then price ID); customers without one are "(no subscription)".
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from credit_reports.core.errors import UsageError
from credit_reports.figures.metrics import checked_amounts

__all__ = [
    "OTHER",
    "RULES",
    "NAMED_RULES",
    "CohortHeatmap",
    "assign_cohorts",
    "cohort_heatmap",
    "cohort_sizes",
    "cohort_totals",
    "load_cohort_file",
]

TIME_RULES = ("signup_month", "signup_quarter", "signup_year")
FIELD_RULES = ("status", "locale")
SUBSCRIPTION_RULES = ("subscription.product", "subscription.price", "subscription.interval")
#: Every rule :func:`assign_cohorts` accepts (``custom_data.<key>`` and ``file:<path>`` are patterns).
RULES: tuple[str, ...] = (
    *TIME_RULES, *FIELD_RULES, "custom_data.<key>", "file", "file:<path>", *SUBSCRIPTION_RULES,
)
#: The rules named by one word (no pattern): what a report's ``cohort`` parameter lists besides
#: ``custom_data.<key>``.
NAMED_RULES: tuple[str, ...] = (*TIME_RULES, *FIELD_RULES, "file", *SUBSCRIPTION_RULES)

OTHER = "other"
UNKNOWN = "(unknown)"
NONE = "(none)"
INVALID_JSON = "(invalid JSON)"
UNMAPPED = "(unmapped)"
NO_SUBSCRIPTION = "(no subscription)"
NO_CUSTOMER = "(no customer record)"

_INTERVAL_ADVERB = {"day": "daily", "week": "weekly", "month": "monthly", "year": "yearly"}


# ---------------------------------------------------------------------------------------------------
# assigning cohorts


def assign_cohorts(
    customers: pd.DataFrame,
    rule: str = "signup_month",
    *,
    subscriptions: pd.DataFrame | None = None,
    mapping: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One cohort label per customer: a DataFrame with columns ``customer_id`` (``string``) and ``cohort``,
    one row per row of ``customers``, in their order.

    ``cohort`` is an ordered categorical for the time rules (oldest first, "(unknown)" last) and
    ``string`` for the others. Pass the frame to :func:`cohort_totals`, :func:`cohort_sizes` or
    :func:`cohort_heatmap`; ``merge`` it with balances on ``customer_id`` for your own groupings. An
    unknown rule (with the closest valid one) or a missing column raises :class:`UsageError` in one line.
    """
    labels = _assign(customers, rule, subscriptions=subscriptions, mapping=mapping)
    categorical = isinstance(labels.dtype, pd.CategoricalDtype)
    return pd.DataFrame({
        "customer_id": pd.array(labels.index.astype(str), dtype="string"),
        "cohort": labels.array if categorical else labels.astype("string").array,
    })


def _assign(
    customers: pd.DataFrame,
    rule: str,
    *,
    subscriptions: pd.DataFrame | None,
    mapping: pd.DataFrame | None,
) -> pd.Series:
    """:func:`assign_cohorts`' labels as a Series indexed by ``customer_id`` (what the totals work on)."""
    if not isinstance(customers, pd.DataFrame) or "customer_id" not in customers.columns:
        raise UsageError("customers must be a DataFrame with a customer_id column (e.g. snapshot.customers)")
    rule = str(rule).strip()
    index = pd.Index(customers["customer_id"], name="customer_id")
    if rule in TIME_RULES:
        return _time_cohorts(customers, rule, index)
    if rule in FIELD_RULES:
        _need(customers, "customers", rule)
        return _named(_fill(customers[rule]), index)
    if rule.startswith("custom_data.") and len(rule) > len("custom_data."):
        _need(customers, "customers", "custom_data")
        return _named(_custom_data(customers["custom_data"], rule[len("custom_data."):]), index)
    if rule == "file" or rule.startswith("file:"):
        if rule.startswith("file:"):
            mapping = load_cohort_file(rule[len("file:"):])
        if mapping is None:
            raise UsageError("the 'file' cohort rule needs mapping=load_cohort_file(path) (or rule='file:<path>')")
        return _file_cohorts(customers, mapping, index)
    if rule in SUBSCRIPTION_RULES:
        return _subscription_cohorts(customers, subscriptions, rule, index)
    close = difflib.get_close_matches(rule, NAMED_RULES, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise UsageError(f"unknown cohort rule {rule!r}{hint}; valid rules: {', '.join(RULES)}")


def _need(frame: pd.DataFrame, name: str, *columns: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UsageError(
            f"{name} lacks column(s) {', '.join(missing)} needed for this cohort rule; it has "
            f"{', '.join(map(str, frame.columns))}"
        )


def _named(values: pd.Series | np.ndarray | pd.Categorical, index: pd.Index) -> pd.Series:
    data = values.to_numpy() if isinstance(values, pd.Series) else values
    return pd.Series(data, index=index, name="cohort")


def _fill(series: pd.Series, empty: str = NONE) -> pd.Series:
    """Text labels with missing and blank values shown as ``empty``."""
    text = series.astype("object").where(series.notna(), None)
    text = text.map(lambda v: empty if v is None or str(v).strip() == "" else str(v))
    return text.astype("str")


def _time_cohorts(customers: pd.DataFrame, rule: str, index: pd.Index) -> pd.Series:
    """Signup month/quarter/year as an ordered categorical built from integer keys (vectorised)."""
    _need(customers, "customers", "created_at")
    created = customers["created_at"]
    if not isinstance(created.dtype, pd.DatetimeTZDtype):
        try:
            created = pd.to_datetime(created, utc=True, format="ISO8601")
        except (ValueError, TypeError):
            raise UsageError("customers.created_at holds values that are not dates") from None
    else:
        created = created.dt.tz_convert("UTC")
    year = created.dt.year.to_numpy(dtype="float64", na_value=np.nan)
    if rule == "signup_month":
        keys = year * 100 + created.dt.month.to_numpy(dtype="float64", na_value=np.nan)

        def label(k: int) -> str:
            return f"{k // 100:04d}-{k % 100:02d}"
    elif rule == "signup_quarter":
        keys = year * 10 + created.dt.quarter.to_numpy(dtype="float64", na_value=np.nan)

        def label(k: int) -> str:
            return f"{k // 10:04d}Q{k % 10}"
    else:
        keys = year

        def label(k: int) -> str:
            return f"{k:04d}"
    known = ~np.isnan(keys)
    uniques = np.unique(keys[known]).astype("int64")
    categories = [label(int(k)) for k in uniques]
    codes = np.full(len(keys), -1, dtype="int64")
    codes[known] = np.searchsorted(uniques, keys[known].astype("int64"))
    if not known.all():
        categories.append(UNKNOWN)
        codes[~known] = len(categories) - 1
    return _named(pd.Categorical.from_codes(codes, categories=categories, ordered=True), index)


def _custom_value(raw: object, path: list[str], key: str) -> str:
    """The label for one custom_data value (JSON text, a dict, or missing)."""
    if raw is None or (isinstance(raw, float) and np.isnan(raw)) or raw is pd.NA:
        return NONE
    if isinstance(raw, str):
        if not raw.strip():
            return NONE
        try:
            raw = json.loads(raw)
        except ValueError:
            return INVALID_JSON
    if not isinstance(raw, dict):
        return NONE
    if key in raw:
        value = raw[key]
    else:
        value = raw
        for part in path:
            if not isinstance(value, dict) or part not in value:
                return NONE
            value = value[part]
    if value is None or (isinstance(value, str) and not value.strip()):
        return NONE
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _custom_data(column: pd.Series, key: str) -> pd.Series:
    """Labels for a custom_data key, parsing each distinct JSON text once. A key no customer has is
    refused in one line naming the keys they do have: every customer in "(none)" would read as an
    answer, while it is most likely a typo."""
    path = key.split(".")
    values = column.astype("object")
    if values.map(lambda v: isinstance(v, dict | list)).any():
        labels = values.map(lambda v: _custom_value(v, path, key)).astype("str")
        uniques = list(values)
    else:
        uniques = list(pd.unique(values.where(values.notna(), None)))
        lookup = {u: _custom_value(u, path, key) for u in uniques}
        labels = values.where(values.notna(), None).map(lookup).astype("str")
    if len(labels) and labels.isin([NONE, INVALID_JSON]).all():
        seen = sorted(_custom_keys(uniques))
        close = difflib.get_close_matches(key, seen, n=1, cutoff=0.6)
        hint = f" (did you mean 'custom_data.{close[0]}'?)" if close else ""
        held = f"keys they hold: {', '.join(seen[:20])}" if seen else "no customer has any custom_data"
        raise UsageError(f"cohort custom_data.{key}: no customer's custom_data has the key {key!r}{hint}; {held}")
    return labels


def _custom_keys(raws: list[object]) -> set[str]:
    """The top-level keys of the custom_data values (JSON text or dicts) that are objects."""
    keys: set[str] = set()
    for raw in raws:
        if isinstance(raw, str) and raw.strip():
            try:
                raw = json.loads(raw)
            except ValueError:
                continue
        if isinstance(raw, dict):
            keys.update(str(k) for k in raw)
    return keys


def load_cohort_file(path: str | Path) -> pd.DataFrame:
    """Read a user's cohort mapping: CSV with a header ``customer_id,cohort``, one line per customer.

    Returns columns ``customer_id``, ``cohort`` (text). A missing file or column, an empty cohort, or a
    customer listed twice with different cohorts raises :class:`UsageError` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"cohort file not found: {path}")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read cohort file {path}: {str(exc).splitlines()[0]}") from None
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    missing = [c for c in ("customer_id", "cohort") if c not in frame.columns]
    if missing:
        raise UsageError(f"cohort file {path} lacks column(s) {', '.join(missing)}; expected customer_id,cohort")
    frame = frame[["customer_id", "cohort"]].apply(lambda s: s.str.strip())
    blank = frame["customer_id"].eq("") | frame["cohort"].eq("")
    if blank.any():
        line = int(np.flatnonzero(blank.to_numpy())[0]) + 2
        raise UsageError(f"cohort file {path} line {line}: empty customer_id or cohort")
    frame = frame.drop_duplicates()
    dup = frame["customer_id"].duplicated(keep=False)
    if dup.any():
        first = frame.loc[dup, "customer_id"].iloc[0]
        raise UsageError(f"cohort file {path} gives customer {first} more than one cohort")
    return frame.reset_index(drop=True).astype("str")


def _file_cohorts(customers: pd.DataFrame, mapping: pd.DataFrame, index: pd.Index) -> pd.Series:
    _need(mapping, "mapping", "customer_id", "cohort")
    lookup = pd.Series(mapping["cohort"].astype("str").to_numpy(), index=mapping["customer_id"].astype("str"))
    if lookup.index.has_duplicates:
        raise UsageError("the cohort mapping lists a customer more than once")
    labels = lookup.reindex(customers["customer_id"].astype("str")).fillna(UNMAPPED)
    return _named(labels.astype("str"), index)


def _subscription_cohorts(
    customers: pd.DataFrame, subscriptions: pd.DataFrame | None, rule: str, index: pd.Index
) -> pd.Series:
    if subscriptions is None:
        raise UsageError(f"the {rule!r} cohort rule needs subscriptions= (the snapshot's subscriptions frame)")
    field = rule.split(".", 1)[1]
    columns = {"product": ("product_id",), "price": ("price_id",),
               "interval": ("billing_interval", "billing_frequency")}[field]
    _need(subscriptions, "subscriptions", "customer_id", "subscription_id", "created_at", *columns)
    subs = subscriptions.copy()
    for col in ("product_id", "price_id"):
        if col not in subs.columns:
            subs[col] = ""
    try:
        subs["_created"] = pd.to_datetime(subs["created_at"], utc=True, format="ISO8601")
    except (ValueError, TypeError):
        raise UsageError("subscriptions.created_at holds values that are not dates") from None
    subs = subs.sort_values(
        ["customer_id", "_created", "subscription_id", "product_id", "price_id"], kind="mergesort",
        na_position="last",
    ).drop_duplicates("customer_id", keep="first")
    if field == "interval":
        freq = pd.to_numeric(subs["billing_frequency"], errors="coerce")
        interval = subs["billing_interval"].astype("object")
        labels = [
            NONE if not isinstance(i, str) or pd.isna(f)
            else (_INTERVAL_ADVERB.get(i, f"every {i}") if int(f) == 1 else f"every {int(f)} {i}s")
            for i, f in zip(interval, freq, strict=True)
        ]
        chosen = pd.Series(labels, index=subs["customer_id"].to_numpy(), dtype="str")
    else:
        chosen = pd.Series(_fill(subs[columns[0]]).to_numpy(), index=subs["customer_id"].to_numpy())
    labels = chosen.reindex(customers["customer_id"].to_numpy()).fillna(NO_SUBSCRIPTION)
    return _named(labels.astype("str"), index)


# ---------------------------------------------------------------------------------------------------
# totals per cohort


def _order(labels: list[str], categories: list[str] | None) -> list[str]:
    """Display order: categorical order when given, else sorted; "(...)" labels, then "other", last."""
    if categories is not None:
        known = [c for c in categories if c in set(labels)]
        rest = sorted(set(labels) - set(known))
    else:
        known, rest = [], sorted(set(labels))
    ordered = known + [r for r in rest if not r.startswith("(") and r != OTHER]
    ordered += [r for r in rest if r.startswith("(")]
    return ordered + ([OTHER] if OTHER in set(labels) and OTHER not in ordered else [])


def _as_series(cohorts: pd.DataFrame | pd.Series) -> pd.Series:
    """:func:`assign_cohorts`' frame (``customer_id``, ``cohort``) as labels indexed by customer ID; a
    Series indexed by customer ID (what assign_cohorts returned before 0.19) is taken as it is."""
    if isinstance(cohorts, pd.DataFrame):
        missing = [c for c in ("customer_id", "cohort") if c not in cohorts.columns]
        if missing:
            raise UsageError(f"cohorts lacks column(s) {', '.join(missing)}: pass the frame assign_cohorts returns")
        column = cohorts["cohort"]
        values = column.array if isinstance(column.dtype, pd.CategoricalDtype) else column.to_numpy(dtype=object)
        return pd.Series(values, index=pd.Index(cohorts["customer_id"].astype(str), name="customer_id"), name="cohort")
    if isinstance(cohorts, pd.Series):
        return cohorts
    raise UsageError("cohorts must be the DataFrame assign_cohorts returns (customer_id, cohort)")


def _as_arrow(values: Any) -> Any:
    """Customer ids as an Arrow array (no copy for Arrow-backed strings, what the store reads)."""
    import pyarrow as pa

    array = getattr(values, "array", values)
    arrow = getattr(array, "_pa_array", None)
    if arrow is not None:
        return arrow.combine_chunks() if isinstance(arrow, pa.ChunkedArray) else arrow
    return pa.array(np.asarray(values, dtype=object), from_pandas=True)


def _has_duplicate_ids(index: pd.Index) -> bool:
    """True when a customer id appears twice: counted in Arrow, without turning a million ids into Python
    strings to build a pandas hash table (what ``Index.has_duplicates`` does for Arrow strings)."""
    import pyarrow.compute as pc

    try:
        ids = _as_arrow(index)
    except (TypeError, ValueError):  # pragma: no cover - ids Arrow cannot hold
        return bool(index.has_duplicates)
    duplicates = len(pc.unique(ids)) != len(ids)
    _release_arrow_memory()
    return duplicates


def _positions(index: pd.Index, ids: pd.Series) -> np.ndarray:
    """Where each of ``ids`` sits in ``index`` (-1: absent), as ``index.get_indexer(ids)`` gives for a unique
    index, looked up in Arrow (a hash of the index's ids without a Python object per id)."""
    import pyarrow.compute as pc

    try:
        found = pc.index_in(_as_arrow(ids), value_set=_as_arrow(index))
    except (TypeError, ValueError, NotImplementedError):  # pragma: no cover - ids of mixed types
        return index.get_indexer(ids)
    positions = found.fill_null(-1).to_numpy(zero_copy_only=False).astype("int64")
    _release_arrow_memory()
    return positions


def _release_arrow_memory() -> None:
    """Hand the memory of the lookups' hash tables back: Arrow's allocator keeps freed memory for reuse, which
    would otherwise raise the report's peak by the size of a million-id hash table."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _customer_codes(cohorts: pd.Series) -> tuple[np.ndarray, list[str], list[str] | None]:
    """Integer cohort code per customer in ``cohorts``, the code->label list and categorical order."""
    if _has_duplicate_ids(cohorts.index):
        raise UsageError("cohorts lists a customer more than once")
    if isinstance(cohorts.dtype, pd.CategoricalDtype):
        categories = [str(c) for c in cohorts.cat.categories]
        codes = cohorts.cat.codes.to_numpy().astype("int64")
        labels = list(categories)
        if (codes < 0).any():
            labels.append(NONE)
            codes = np.where(codes < 0, len(labels) - 1, codes)
        return codes, labels, categories
    codes, uniq = pd.factorize(_fill(cohorts))
    return codes.astype("int64"), [str(u) for u in uniq], None


class _Merge(NamedTuple):
    """Cohorts after merging the small ones: one code per balance row, and per code its label and size."""

    row_codes: np.ndarray  # cohort code of each balance row, after merging
    labels: list[str]  # code -> label (merged cohorts keep their code but are no longer used)
    categories: list[str] | None  # categorical order of time cohorts, else None
    sizes: np.ndarray  # code -> customers assigned to the cohort ("other": the merged cohorts' sum)
    merged: list[dict]  # [{"cohort", "customers"}] in display order


def _merge_small(customer_ids: pd.Series, cohorts: pd.Series, min_cohort_size: int) -> _Merge:
    """Assign each balance row its cohort and merge cohorts of fewer than ``min_cohort_size`` customers.

    A cohort's size is the number of customers ``cohorts`` assigns to it (every customer of the customers
    table, with a balance or not), so the same cohorts are merged whatever the currency. Balances of
    customers missing from ``cohorts`` form "(no customer record)", sized by its distinct customers and
    never merged: it flags a gap in the data, which "other" would hide.
    """
    if isinstance(min_cohort_size, bool) or not isinstance(min_cohort_size, int) or min_cohort_size < 0:
        raise UsageError(f"min_cohort_size must be a whole number >= 0, got {min_cohort_size!r}")
    codes_by_customer, labels, categories = _customer_codes(cohorts)
    sizes = np.bincount(codes_by_customer, minlength=len(labels)).astype("int64")
    positions = _positions(cohorts.index, customer_ids)
    row_codes = np.where(positions >= 0, codes_by_customer[np.maximum(positions, 0)], -1)
    small = (sizes > 0) & (sizes < min_cohort_size)
    if OTHER in labels:  # a cohort that is itself called "other" receives the merged ones, however small
        small[labels.index(OTHER)] = False
    if (row_codes < 0).any():
        labels = [*labels, NO_CUSTOMER]
        sizes = np.append(sizes, pd.unique(customer_ids[positions < 0]).size).astype("int64")
        small = np.append(small, False)
        row_codes = np.where(row_codes < 0, len(labels) - 1, row_codes)
    rank = {label: i for i, label in enumerate(_order(labels, categories))}
    merged = sorted(
        ({"cohort": labels[i], "customers": int(sizes[i])} for i in np.flatnonzero(small)),
        key=lambda m: rank[m["cohort"]],
    )
    if small.any():
        if OTHER not in labels:
            labels = [*labels, OTHER]
            sizes = np.append(sizes, 0).astype("int64")
            small = np.append(small, False)
        other = labels.index(OTHER)
        sizes[other] += sizes[small].sum()
        remap = np.where(small, other, np.arange(len(labels)))
        row_codes = remap[row_codes]
    return _Merge(row_codes.astype("int64"), labels, categories, sizes, merged)


def cohort_totals(balances: pd.DataFrame, cohorts: pd.DataFrame, *, min_cohort_size: int = 10) -> pd.DataFrame:
    """Credit per cohort and currency: one row per (cohort, currency), amounts in that currency.

    ``cohorts`` is :func:`assign_cohorts`' frame over every customer (active and archived). A cohort's
    size is the number of customers assigned to it; cohorts with fewer than ``min_cohort_size`` are merged
    into ``"other"``, the same cohorts in every currency (and in :func:`cohort_heatmap`).

    Columns: ``cohort``, ``currency_code`` (pandas ``string``), ``customers`` (the cohort's size, the same in every
    currency), ``customers_with_balance`` (of those, customers holding a balance in that currency),
    ``customers_with_credit`` (of those, outstanding > 0), ``available``, ``reserved``, ``used``,
    ``outstanding`` (int64 minor units). ``df.attrs["merged"]`` lists each merged cohort as
    ``{"cohort", "customers"}`` and ``df.attrs["min_cohort_size"]`` the threshold, so the report can say
    what was merged. A cohort appears in a currency only when one of its customers holds that currency.
    Rows are sorted by currency, then cohort order (time order for time cohorts; "other" last);
    ``df.attrs["order"]`` lists every cohort of the frame once in that order, for a chart sharing one cohort
    axis across currencies. Balances hold one row per customer and currency, so rows count customers.
    """
    b = checked_amounts(balances, "balances", extra=("customer_id",))
    plan = _merge_small(b["customer_id"], _as_series(cohorts), min_cohort_size)
    outstanding = b["available"] + b["reserved"]
    frame = pd.DataFrame(
        {
            "customers_with_balance": np.ones(len(b), dtype="int64"),
            "customers_with_credit": (outstanding > 0).astype("int64").to_numpy(),
            "available": b["available"].to_numpy(),
            "reserved": b["reserved"].to_numpy(),
            "used": b["used"].to_numpy(),
            "outstanding": outstanding.to_numpy(),
        }
    )
    keys = [pd.Series(plan.row_codes, name="code"), pd.Series(b["currency_code"].to_numpy(), name="currency_code")]
    out = frame.groupby(keys, sort=True).sum().reset_index()
    codes = out["code"].to_numpy()
    out["cohort"] = np.asarray(plan.labels, dtype=object)[codes]
    out["customers"] = plan.sizes[codes]
    order = _order([str(c) for c in out["cohort"]], plan.categories)
    rank = {label: i for i, label in enumerate(order)}
    out["_rank"] = out["cohort"].map(rank)
    out = out.sort_values(["currency_code", "_rank"], kind="mergesort")
    value_columns = [
        "customers", "customers_with_balance", "customers_with_credit", "available", "reserved", "used",
        "outstanding",
    ]
    out = out[["cohort", "currency_code", *value_columns]].reset_index(drop=True)
    out = out.astype({c: "int64" for c in value_columns}).astype({"cohort": "string", "currency_code": "string"})
    out.attrs["merged"] = plan.merged
    out.attrs["min_cohort_size"] = min_cohort_size
    out.attrs["order"] = order
    return out


def cohort_sizes(cohorts: pd.DataFrame, balances: pd.DataFrame | None = None) -> pd.DataFrame:
    """Customers per cohort (a count, so summing over currencies is meaningful here).

    Columns ``cohort``, ``customers`` (customers assigned to it); with ``balances``, also
    ``customers_with_balance`` (holding a balance row in any currency) and ``customers_with_credit``
    (outstanding > 0 in any currency). Sorted in cohort order.
    """
    cohorts = _as_series(cohorts)
    codes, labels, categories = _customer_codes(cohorts)
    n = len(labels)
    data = {"cohort": labels, "customers": np.bincount(codes, minlength=n)}
    if balances is not None:
        b = checked_amounts(balances, "balances", extra=("customer_id",))
        credit = (b["available"] + b["reserved"]).to_numpy() > 0
        for column, ids in (
            ("customers_with_balance", b["customer_id"]),
            ("customers_with_credit", b.loc[credit, "customer_id"]),
        ):
            positions = cohorts.index.get_indexer(pd.unique(ids))
            data[column] = np.bincount(codes[positions[positions >= 0]], minlength=n)
    out = pd.DataFrame(data)
    out = out[out["customers"] > 0]
    order = _order([str(c) for c in out["cohort"]], categories)
    out = out.set_index("cohort").reindex(order).rename_axis("cohort").reset_index()
    return out.astype({c: "int64" for c in out.columns if c != "cohort"}).astype({"cohort": "string"})


class CohortHeatmap(NamedTuple):
    """Cohort x currency grids for the heatmap; each column is one currency and is never mixed."""

    available: pd.DataFrame  # int64 minor units, index cohort, one column per currency
    shares: pd.DataFrame  # float 0-1: the cohort's share of that currency's available (display only)
    sizes: pd.Series  # the cohort's size (customers assigned to it, as in cohort_totals), index cohort


def cohort_heatmap(balances: pd.DataFrame, cohorts: pd.DataFrame, *, min_cohort_size: int = 10) -> CohortHeatmap:
    """Available credit per cohort (rows) and currency (columns), plus each currency scaled on its own.

    ``shares`` divides each column by that currency's total available, so colour says where a currency's
    credit sits, never how currencies compare. Cohorts are sized and merged exactly as in
    :func:`cohort_totals` (fewer than ``min_cohort_size`` assigned customers go to ``"other"``);
    ``available.attrs["merged"]`` lists them as ``{"cohort", "customers"}``. Rows are the cohorts with a
    balance in some currency. Pass to ``charts.cohort_heatmap(hm.shares, hm.sizes)``.
    """
    b = checked_amounts(balances, "balances", extra=("customer_id",))
    plan = _merge_small(b["customer_id"], _as_series(cohorts), min_cohort_size)
    grid = (
        pd.Series(b["available"].to_numpy(), dtype="int64")
        .groupby([plan.row_codes, b["currency_code"].to_numpy()])
        .sum()
        .unstack(fill_value=0)
    )
    label_arr = np.asarray(plan.labels, dtype=object)
    sizes = pd.Series(plan.sizes[grid.index.to_numpy()], index=label_arr[grid.index.to_numpy()], dtype="int64")
    grid.index = label_arr[grid.index.to_numpy()]
    order = _order([str(c) for c in grid.index], plan.categories)
    grid = grid.reindex(order).fillna(0).astype("int64").sort_index(axis=1)
    grid.columns.name = "currency_code"
    grid.index.name = "cohort"
    totals = grid.sum(axis=0)
    shares = grid.astype("float64").div(totals.where(totals > 0, 1).astype("float64"), axis=1)
    sizes = sizes.reindex(order).astype("int64").rename("customers")
    sizes.index.name = "cohort"
    grid.attrs["merged"] = plan.merged
    grid.attrs["min_cohort_size"] = min_cohort_size
    return CohortHeatmap(grid, shares, sizes)


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
