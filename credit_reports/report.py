"""Everything the credit-balances notebook shows, prepared in one call: ``prepare(**parameters)``.

The notebook stays thin: its parameters cell holds literals, its validation cell calls :func:`prepare`,
and every later cell displays a table or a figure this module (or :mod:`credit_reports.charts`) returns.
All figures come from :mod:`credit_reports.metrics` and :mod:`credit_reports.cohorts`; this module picks
the snapshots, validates the parameters (one :class:`~credit_reports.errors.UsageError` line each),
applies the privacy settings and turns minor-unit frames into display tables with amounts formatted in
their own currency. The raw minor-unit frames stay on the :class:`Report` for exports
(:meth:`Report.tables`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from credit_reports import cohorts as cohorts_mod
from credit_reports import metrics, money, privacy, store
from credit_reports.errors import UsageError
from credit_reports.parameters import parse_list

__all__ = [
    "COHORT_RULES", "Parameters", "Report", "parameter_names", "prepare", "resolve_data_dir", "validate_parameters",
]

#: Cohort rules a report accepts (besides ``custom_data.<key>``).
COHORT_RULES: tuple[str, ...] = (
    "signup_month", "signup_quarter", "signup_year", "status", "locale", "file",
    "subscription.product", "subscription.price", "subscription.interval",
)
_AS_OF = re.compile(r"^\d{8}T\d{6}Z$")
_CUSTOM_DATA = re.compile(r"^custom_data\.[A-Za-z0-9_\-]+$")
#: At most this many rows per currency in the reserved-credit table shown (the raw table keeps all).
RESERVED_ROWS_SHOWN = 15

DEFAULT_TITLE = "Customer credit balances"
BANNER_STYLE = (
    "background:#b00020;color:#ffffff;padding:14px 18px;border-radius:4px;font-size:1.05em;"
    "font-weight:600;margin:8px 0 16px 0"
)


# ---------------------------------------------------------------------------------------------------
# parameters


@dataclass(frozen=True)
class Parameters:
    """The report's parameters after validation (types and defaults resolved)."""

    data_dir: Path | None
    environment: str | None
    snapshot: str
    compare_to: str
    currencies: tuple[str, ...]
    cohort: str
    cohort_file: Path | None
    min_cohort_size: int
    rates_file: Path | None
    reporting_currency: str | None
    pseudonymize: bool
    show_pii: bool
    title: str


def _text(name: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise UsageError(f"parameter {name} must be text, got {value!r}")
    return value.strip()


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise UsageError(f"parameter {name} must be True or False, got {value!r}")


def _currency(name: str, value: Any) -> str:
    code = _text(name, value).upper()
    if not money.is_known_currency(code):
        raise UsageError(
            f"{name}: {value!r} is not a currency Paddle supports; use ISO 4217 codes such as "
            f"USD, EUR, JPY ({', '.join(money.PADDLE_CURRENCIES)})"
        )
    return code


def _existing_file(name: str, value: str) -> Path:
    path = Path(value).expanduser()
    if not path.is_file():
        raise UsageError(f"{name}: file {value!r} does not exist (relative paths start in notebooks/)")
    return path


def resolve_data_dir(data_dir: str | Path | None = "") -> Path | None:
    """The snapshot store to read: ``data_dir`` when given, else ``$CREDIT_REPORTS_DATA_DIR`` or
    ``./data``; when neither exists and the notebook runs in ``notebooks/`` (JupyterLab, papermill),
    the repository's ``../data``. ``None`` leaves the choice to :mod:`credit_reports.store`."""
    if data_dir:
        return Path(data_dir).expanduser()
    default = store.default_data_dir()
    if default.is_dir() or default.is_absolute():
        return None
    parent = Path("..") / default
    return parent if parent.is_dir() and Path.cwd().name == "notebooks" else None


def validate_parameters(
    data_dir: str = "",
    environment: str = "",
    snapshot: str = "latest",
    compare_to: str = "previous",
    currencies: list | tuple | str | None = None,
    cohort: str = "signup_month",
    cohort_file: str = "",
    min_cohort_size: int = 10,
    rates_file: str = "",
    reporting_currency: str = "",
    pseudonymize: bool = False,
    show_pii: bool = False,
    title: str = DEFAULT_TITLE,
) -> Parameters:
    """Check every report parameter; the first bad one raises :class:`UsageError` saying what to do."""
    data_text = _text("data_dir", data_dir)
    data_path = Path(data_text).expanduser() if data_text else resolve_data_dir("")
    if data_text and not data_path.is_dir():
        raise UsageError(f"data_dir: folder {data_text!r} does not exist; give the snapshot store's folder")
    env = _text("environment", environment) or None
    snap = _text("snapshot", snapshot) or "latest"
    if snap != "latest" and not _AS_OF.match(snap):
        raise UsageError(
            f"snapshot: {snapshot!r} is neither 'latest' nor an as-of time like 20261126T061500Z"
        )
    compare = _text("compare_to", compare_to) or "previous"
    if compare not in {"previous", "none"} and not _AS_OF.match(compare):
        raise UsageError(
            f"compare_to: {compare_to!r} must be 'previous', 'none' or an as-of time like 20261126T061500Z"
        )
    # one parser for every runner: papermill passes "[EUR, USD]" as text, credit-reports render a list
    codes = tuple(dict.fromkeys(_currency("currencies", c) for c in parse_list(currencies, "currencies")))
    rule = _text("cohort", cohort) or "signup_month"
    if rule not in COHORT_RULES and not _CUSTOM_DATA.match(rule):
        raise UsageError(
            f"cohort: unknown rule {cohort!r}; use one of {', '.join(COHORT_RULES)} or custom_data.<key>"
        )
    mapping_text = _text("cohort_file", cohort_file)
    if rule == "file" and not mapping_text:
        raise UsageError("cohort = 'file' needs cohort_file: a CSV of customer_id,cohort")
    mapping_path = _existing_file("cohort_file", mapping_text) if mapping_text else None
    if isinstance(min_cohort_size, bool) or not isinstance(min_cohort_size, int) or min_cohort_size < 1:
        raise UsageError(f"min_cohort_size must be a whole number of customers, at least 1; got {min_cohort_size!r}")
    rates_text = _text("rates_file", rates_file)
    reporting_text = _text("reporting_currency", reporting_currency)
    rates_path = _existing_file("rates_file", rates_text) if rates_text else None
    if rates_path is not None and not reporting_text:
        raise UsageError("rates_file is given but reporting_currency is empty: name the currency to convert into")
    if reporting_text and rates_path is None:
        raise UsageError("reporting_currency is set but rates_file is empty: give a CSV of currency,rate,date,source")
    reporting = _currency("reporting_currency", reporting_text) if reporting_text else None
    pseudo = _flag("pseudonymize", pseudonymize)
    pii = _flag("show_pii", show_pii)
    if pseudo and pii:
        raise UsageError("pseudonymize and show_pii contradict each other: set at most one of them to True")
    return Parameters(
        data_dir=data_path, environment=env, snapshot=snap, compare_to=compare, currencies=codes,
        cohort=rule, cohort_file=mapping_path, min_cohort_size=min_cohort_size, rates_file=rates_path,
        reporting_currency=reporting, pseudonymize=pseudo, show_pii=pii,
        title=_text("title", title) or DEFAULT_TITLE,
    )


# ---------------------------------------------------------------------------------------------------
# the report


@dataclass
class Report:
    """What the report shows. Raw frames hold int64 minor units; ``*_table()`` give display tables."""

    parameters: Parameters
    snapshot: Any  # store.Snapshot
    opening: Any | None  # store.Snapshot the roll-forward starts from, or None
    balances: pd.DataFrame  # the reported snapshot's balances, filtered to the chosen currencies
    totals: pd.DataFrame
    cohorts: pd.DataFrame
    merged_cohorts: list[dict]
    heatmap: Any  # cohorts.CohortHeatmap: available (int64), shares (0-1 per currency), sizes
    roll_forward: pd.DataFrame | None
    trend: pd.DataFrame
    snapshots_in_history: int
    concentration: pd.DataFrame
    top_share: pd.DataFrame
    reserved: pd.DataFrame
    converted: pd.DataFrame | None
    rates: pd.DataFrame | None
    notes: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        """Short (the tables are on the attributes): snapshot, completeness, currencies, comparison."""
        snap = self.snapshot
        state = "complete" if self.complete else "INCOMPLETE"
        codes = ",".join(self.totals["currency_code"].astype(str)) if "currency_code" in self.totals else ""
        if len(codes) > 40:
            codes = f"{len(self.totals)} currencies"
        opening = getattr(self.opening, "name", None) or "none"
        return (f"Report({getattr(snap, 'environment', '?')}/{getattr(snap, 'name', '?')}, {state}, "
                f"currencies={codes or 'none'}, cohort={self.parameters.cohort}, compared_with={opening})")

    # -- facts -------------------------------------------------------------------------------------

    @property
    def complete(self) -> bool:
        return bool(self.snapshot.complete)

    @property
    def failed_customers(self) -> int:
        """How many customers' balances the fetch could not get (0 for a complete snapshot)."""
        return len(getattr(self.snapshot, "failed_customer_ids", []) or [])

    def headline(self) -> dict[str, dict[str, int]]:
        """Per-currency headline figures in minor units (for a manifest)."""
        return metrics.headline(self.balances)

    def roll_forward_dict(self) -> dict[str, dict[str, int]]:
        """Roll-forward as ``{currency: {opening, issued, used, closing}}`` (empty when there is none)."""
        if self.roll_forward is None:
            return {}
        return {
            str(r["currency_code"]): {k: int(r[k]) for k in ("opening", "issued", "used", "closing")}
            for r in self.roll_forward.to_dict("records")
        }

    def tables(self) -> dict[str, pd.DataFrame]:
        """The raw tables (int64 minor units, a currency column each) for CSV/XLSX exports."""
        out = {
            "totals": self.totals,
            "cohorts": self.cohorts,
            "concentration": self._private(self.concentration),
            "top_share": self.top_share,
            "reserved": self._private(self.reserved),
            "trend": self.trend,
        }
        if self.roll_forward is not None:
            out["roll_forward"] = self.roll_forward
        if self.converted is not None:
            out["converted"] = self.converted
        return out

    # -- display pieces ----------------------------------------------------------------------------

    def header(self) -> Any:
        """The top of the report: for an incomplete snapshot the red banner, then the report's one heading,
        the ``title`` parameter (the notebook has no heading of its own)."""
        from IPython.display import HTML

        parts = []
        banner = self.banner_text()
        if banner:
            parts.append(f'<div class="credit-report-banner" role="alert" style="{BANNER_STYLE}">{banner}</div>')
        parts.append(f'<h1 class="credit-report-title">{html.escape(self.parameters.title)}</h1>')
        return HTML("\n".join(parts))

    def banner_text(self) -> str:
        """The incomplete-snapshot warning in plain words; empty for a complete snapshot."""
        if self.complete:
            return ""
        n = self.failed_customers
        who = f"{n:,} customer{'s' if n != 1 else ''}" if n else "some customers"
        return (
            f"This report is incomplete: the balances of {who} could not be fetched, so the totals below "
            "understate customer credit. Run the fetch again to complete the snapshot, then re-render."
        )

    def note(self, section: str) -> Any:
        """A sentence of context for a section (e.g. merged cohorts, no earlier snapshot), as Markdown."""
        from IPython.display import Markdown

        return Markdown(self.notes.get(section, ""))

    def summary_table(self) -> Any:
        """The snapshot: as-of, environment, customers covered, completeness, comparison point."""
        snap = self.snapshot
        manifest = snap.manifest or {}
        n_failed = self.failed_customers
        rows = [
            ("As of", _when(snap.as_of)),
            ("Environment", str(snap.environment)),
            ("Customers covered", f"{_customer_count(snap):,}"),
            ("Customers with a balance", f"{self.balances['customer_id'].nunique():,}"),
            ("Currencies", ", ".join(self.totals["currency_code"]) or "none"),
            ("Complete", "yes" if self.complete else f"NO: {n_failed:,} customers failed" if n_failed else "NO"),
            ("Compared with", _when(self.opening.as_of) if self.opening is not None else "no earlier snapshot"),
            ("Snapshots in history", f"{self.snapshots_in_history:,}"),
        ]
        strategy = manifest.get("strategy")
        if strategy:
            rows.append(("Fetch strategy", str(strategy)))
        frame = pd.DataFrame(rows, columns=["Snapshot", ""])
        return _style(frame, right=[])

    def totals_table(self) -> Any:
        """Per currency: available, reserved, used, outstanding and customers holding credit."""
        t = self.totals
        frame = pd.DataFrame(
            {
                "Currency": t["currency_code"],
                "Available": _fmt(t, "available"),
                "Reserved": _fmt(t, "reserved"),
                "Used": _fmt(t, "used"),
                "Outstanding (available + reserved)": _fmt(t, "outstanding"),
                "Customers holding credit": t["customers_with_credit"].map("{:,}".format),
            }
        )
        return _style(frame, right=list(frame.columns[1:]))

    def cohort_table(self) -> Any:
        """Per currency and cohort: cohort size, its customers holding that currency (any balance, and
        outstanding credit) and the balance kinds, amounts in the currency."""
        c = self.cohorts
        if c.empty:
            return _style(pd.DataFrame({"": ["No cohorts: the snapshot holds no balances."]}), right=[])
        frame = pd.DataFrame(
            {
                "Currency": c["currency_code"],
                "Cohort": c["cohort"].astype(str),
                "Customers in cohort": c["customers"].map("{:,}".format),
                "With a balance in this currency": c["customers_with_balance"].map("{:,}".format),
                "With credit in this currency": c["customers_with_credit"].map("{:,}".format),
                "Available": _fmt(c, "available"),
                "Reserved": _fmt(c, "reserved"),
                "Used": _fmt(c, "used"),
                "Outstanding": _fmt(c, "outstanding"),
            }
        )
        return _style(frame, right=list(frame.columns[2:]))

    def roll_forward_table(self) -> Any:
        """Opening outstanding + issued - used = closing outstanding, per currency."""
        r = self.roll_forward
        if r is None:
            return _style(pd.DataFrame({"": [self.notes.get("roll_forward", "No roll-forward.")]}), right=[])
        frame = pd.DataFrame(
            {
                "Currency": r["currency_code"],
                f"Opening outstanding ({_when(self.opening.as_of)})": _fmt(r, "opening"),
                "+ Issued": _fmt(r, "issued"),
                "- Used": _fmt(r, "used"),
                f"= Closing outstanding ({_when(self.snapshot.as_of)})": _fmt(r, "closing"),
            }
        )
        return _style(frame, right=list(frame.columns[1:]))

    def concentration_table(self) -> Any:
        """The largest holders of available credit per currency, with their share of it."""
        c = self._private(self.concentration)
        frame = pd.DataFrame(
            {
                "Currency": c["currency_code"],
                "Rank": c["rank"],
                "Customer": c["customer_id"],
                **_pii_columns(c),
                "Available": _fmt(c, "available"),
                "Share of currency": c["share"].map("{:.1%}".format),
                "Cumulative share": c["cumulative_share"].map("{:.1%}".format),
            }
        )
        return _style(frame, right=["Rank", "Available", "Share of currency", "Cumulative share"])

    def top_share_table(self) -> Any:
        """Share of each currency's available credit held by the top 1% and top 10% of holders."""
        t = self.top_share
        frame = pd.DataFrame(
            {
                "Currency": t["currency_code"],
                "Holders": t["holders"].map("{:,}".format),
                "Available": _fmt(t, "available"),
                "Top 1%: holders": t["top_1pct_holders"].map("{:,}".format),
                "Top 1%: available": _fmt(t, "top_1pct_available"),
                "Top 1%: share": t["top_1pct_share"].map("{:.1%}".format),
                "Top 10%: holders": t["top_10pct_holders"].map("{:,}".format),
                "Top 10%: available": _fmt(t, "top_10pct_available"),
                "Top 10%: share": t["top_10pct_share"].map("{:.1%}".format),
            }
        )
        return _style(frame, right=list(frame.columns[1:]))

    def reserved_table(self) -> Any:
        """Customers with reserved credit (tied to issued, unpaid invoices), largest first per currency."""
        r = self._private(self.reserved).groupby("currency_code", sort=False).head(RESERVED_ROWS_SHOWN)
        frame = pd.DataFrame(
            {
                "Currency": r["currency_code"],
                "Customer": r["customer_id"],
                **_pii_columns(r),
                "Reserved": _fmt(r, "reserved"),
                "Available": _fmt(r, "available"),
                "Used": _fmt(r, "used"),
            }
        )
        return _style(frame, right=["Reserved", "Available", "Used"])

    def reserved_summary_table(self) -> Any:
        """Per currency: how many customers have reserved credit and how much (figures from metrics)."""
        t = self.totals
        counts = self.reserved_counts
        frame = pd.DataFrame(
            {
                "Currency": t["currency_code"],
                "Customers with reserved credit": t["currency_code"].map(counts).fillna(0).astype("int64")
                .map("{:,}".format),
                "Reserved": _fmt(t, "reserved"),
            }
        )
        return _style(frame, right=list(frame.columns[1:]))

    @property
    def reserved_counts(self) -> dict[str, int]:
        """Customers with reserved credit per currency."""
        return self.reserved.groupby("currency_code").size().astype("int64").to_dict()

    def converted_table(self) -> Any:
        """Totals converted into the reporting currency, with rate, date and source on every row."""
        c = self.converted
        if c is None:
            return _style(pd.DataFrame({"": ["No conversion: no rates file was given."]}), right=[])
        rep = self.parameters.reporting_currency
        is_total = c["currency_code"] == "TOTAL"

        def own(col: str) -> pd.Series:
            return pd.Series(
                ["" if t else money.format_money(int(v), code)
                 for v, code, t in zip(c[col], c["currency_code"], is_total, strict=True)],
                index=c.index,
            )

        frame = pd.DataFrame(
            {
                "Currency": c["currency_code"].where(~is_total, f"Total in {rep}"),
                "Outstanding": own("outstanding"),
                "Rate": [("" if t else f"1 {code} = {r} {rep}")
                         for r, code, t in zip(c["rate"], c["currency_code"], is_total, strict=True)],
                "Rate date": c["rate_date"].fillna("").astype(str),
                "Rate source": c["rate_source"].fillna("").astype(str),
                f"Available in {rep}": money.format_money_series(c["available_converted"], rep),
                f"Reserved in {rep}": money.format_money_series(c["reserved_converted"], rep),
                f"Used in {rep}": money.format_money_series(c["used_converted"], rep),
                f"Outstanding in {rep}": money.format_money_series(c["outstanding_converted"], rep),
            }
        )
        return _style(frame, right=["Outstanding", *[c for c in frame.columns if c.endswith(f"in {rep}")]])

    # -- privacy -----------------------------------------------------------------------------------

    def _private(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A per-customer table as the privacy parameters allow: PII only with show_pii, hashed IDs
        with pseudonymize."""
        out = frame
        if self.parameters.show_pii:
            people = self.snapshot.customers[["customer_id", "email", "name"]].drop_duplicates("customer_id")
            out = out.merge(people, on="customer_id", how="left")
        return privacy.redact(out, pseudonymize=self.parameters.pseudonymize, show_pii=self.parameters.show_pii)


# ---------------------------------------------------------------------------------------------------
# helpers


def _customer_count(snap: Any) -> int:
    customers = getattr(snap, "customers", None)
    if customers is not None and "customer_id" in customers:
        return int(customers["customer_id"].nunique())
    return int(snap.balances["customer_id"].nunique())


def _when(as_of: Any) -> str:
    """An as-of time as a finance reader reads it: 26 Nov 2026, 06:15 UTC."""
    ts = pd.Timestamp(as_of)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return ts.tz_convert("UTC").strftime("%d %b %Y, %H:%M:%S UTC")


def _as_of_key(value: Any) -> pd.Timestamp:
    text = str(value)
    if _AS_OF.match(text):
        return pd.Timestamp(pd.to_datetime(text, format="%Y%m%dT%H%M%SZ", utc=True))
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _fmt(frame: pd.DataFrame, column: str) -> pd.Series:
    return money.format_money_series(frame[column], frame["currency_code"])


def _pii_columns(frame: pd.DataFrame) -> dict[str, pd.Series]:
    return {label: frame[col] for col, label in (("email", "Email"), ("name", "Name")) if col in frame}


def _style(frame: pd.DataFrame, right: list[str]) -> Any:
    """A Styler without the index, numbers right-aligned, escaped text."""
    styler = frame.style.hide(axis="index").format(escape="html")
    styler = styler.set_table_attributes('class="credit-table"')
    styles = [
        {"selector": "th", "props": "text-align:left;padding:4px 10px;border-bottom:1px solid #888;"},
        {"selector": "td", "props": "text-align:left;padding:3px 10px;white-space:nowrap;"},
    ]
    for i, column in enumerate(frame.columns):
        if column in right:  # one rule per column keeps the HTML small (no per-cell CSS)
            styles.append({"selector": f"td.col{i}", "props": "text-align:right;"})
            styles.append({"selector": f"th.col_heading.col{i}", "props": "text-align:right;"})
    return styler.set_table_styles(styles)


# ---------------------------------------------------------------------------------------------------
# loading


def _filter(frame: pd.DataFrame, currencies: tuple[str, ...]) -> pd.DataFrame:
    if not currencies or frame is None:
        return frame
    return frame[frame["currency_code"].isin(currencies)].reset_index(drop=True)


def _load(loader: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a store loader, turning a missing folder or snapshot into a UsageError line."""
    try:
        return loader(*args, **kwargs)
    except FileNotFoundError as exc:
        raise UsageError(f"snapshot not found: {exc}; run `credit-reports fetch` or check data_dir") from None


def _pick_opening(p: Parameters, snap: Any) -> tuple[Any | None, str]:
    """The snapshot the roll-forward opens from, and a sentence when there is none."""
    if p.compare_to == "none":
        return None, "No roll-forward was asked for (compare_to = \"none\")."
    if p.compare_to != "previous":
        opening = _load(store.load_snapshot, p.compare_to, data_dir=p.data_dir, environment=snap.environment)
        if _as_of_key(opening.as_of) >= _as_of_key(snap.as_of):
            raise UsageError(
                f"compare_to {p.compare_to} is not earlier than the reported snapshot {_when(snap.as_of)}"
            )
        return opening, ""
    listing = _load(store.list_snapshots, p.data_dir, snap.environment)
    earlier: list[tuple[pd.Timestamp, bool, str]] = []
    for row in listing.to_dict("records"):
        key = _as_of_key(row["as_of"])
        if key < _as_of_key(snap.as_of):
            earlier.append((key, bool(row.get("complete", True)), str(row["path"])))
    if not earlier:
        return None, (
            "There is no earlier snapshot of this environment yet, so there is no roll-forward: "
            "it appears from the next scheduled snapshot on."
        )
    complete = [e for e in earlier if e[1]] or earlier
    return _load(store.Snapshot.from_path, max(complete)[2]), ""


def prepare(
    *,
    data_dir: str = "",
    environment: str = "",
    snapshot: str = "latest",
    compare_to: str = "previous",
    currencies: list | tuple | str | None = None,
    cohort: str = "signup_month",
    cohort_file: str = "",
    min_cohort_size: int = 10,
    rates_file: str = "",
    reporting_currency: str = "",
    pseudonymize: bool = False,
    show_pii: bool = False,
    title: str = DEFAULT_TITLE,
    **unknown: Any,
) -> Report:
    """Validate the notebook's parameters, load the snapshot(s) and compute everything the report shows.

    Parameters (all keyword, the notebook's parameters cell): ``data_dir`` (snapshot store; empty:
    ``$CREDIT_REPORTS_DATA_DIR`` or ``./data``), ``environment`` (empty: the store's newest),
    ``snapshot`` ("latest" or an as-of), ``compare_to`` ("previous", "none" or an as-of),
    ``currencies`` (empty: all; ``[EUR, USD]``, ``["EUR", "USD"]`` or ``EUR,USD``), ``cohort``
    (a rule of :data:`COHORT_RULES` or ``custom_data.<key>``), ``cohort_file``, ``min_cohort_size``,
    ``rates_file`` and ``reporting_currency`` (conversion), ``pseudonymize``, ``show_pii``, ``title``.

    Raises :class:`UsageError` with one line on any bad or unknown parameter, an unknown snapshot, a
    missing file, a currency without a rate or a cohort rule the data cannot serve.
    """
    if unknown:
        raise UsageError(_unknown_message(unknown))
    parameters = {
        "data_dir": data_dir, "environment": environment, "snapshot": snapshot, "compare_to": compare_to,
        "currencies": currencies, "cohort": cohort, "cohort_file": cohort_file,
        "min_cohort_size": min_cohort_size, "rates_file": rates_file, "reporting_currency": reporting_currency,
        "pseudonymize": pseudonymize, "show_pii": show_pii, "title": title,
    }
    p = validate_parameters(**parameters)
    snap = _load(store.load_snapshot, p.snapshot, data_dir=p.data_dir, environment=p.environment)
    notes: dict[str, str] = {}

    balances = _filter(snap.balances, p.currencies)
    missing = [c for c in p.currencies if c not in set(snap.balances["currency_code"])]
    if missing:
        notes["currencies"] = (
            f"No customer holds a balance in {', '.join(missing)} in this snapshot, so "
            f"{'it does' if len(missing) == 1 else 'they do'} not appear below."
        )
    totals = metrics.currency_totals(balances)

    mapping = cohorts_mod.load_cohort_file(p.cohort_file) if p.cohort_file else None
    # only subscription cohorts read subscriptions.parquet (a lazy load: skip it for every other rule)
    subscriptions = getattr(snap, "subscriptions", None) if p.cohort.startswith("subscription.") else None
    if p.cohort.startswith("subscription.") and subscriptions is None:
        raise UsageError(
            f"cohort {p.cohort!r} needs subscriptions, but this snapshot has none; fetch a new snapshot"
        )
    assigned = cohorts_mod.assign_cohorts(snap.customers, p.cohort, subscriptions=subscriptions, mapping=mapping)
    cohort_totals = cohorts_mod.cohort_totals(balances, assigned, min_cohort_size=p.min_cohort_size)
    merged = list(cohort_totals.attrs.get("merged", []))
    heat = cohorts_mod.cohort_heatmap(balances, assigned, min_cohort_size=p.min_cohort_size)
    notes["cohorts"] = _cohort_note(p, merged)

    opening, rf_note = _pick_opening(p, snap)
    roll = None
    if opening is not None:
        roll = metrics.roll_forward(_filter(opening.balances, p.currencies), balances)
        if not opening.complete:
            rf_note = "The opening snapshot is incomplete, so the opening figures understate credit."
    notes["roll_forward"] = rf_note

    history = _load(store.load_history, p.data_dir, snap.environment)
    history = history[pd.to_datetime(history["as_of"], utc=True) <= _as_of_key(snap.as_of)]
    history = _filter(history, p.currencies)
    trend = metrics.trend(history)
    n_history = int(history["as_of"].nunique()) if len(history) else 1
    if n_history <= 1:
        notes["trend"] = "Only one snapshot exists so far, so each line is a single point."

    reserved = metrics.reserved_customers(balances)
    counts = reserved.groupby("currency_code").size()
    if (counts > RESERVED_ROWS_SHOWN).any():
        notes["reserved"] = (
            f"Only the {RESERVED_ROWS_SHOWN} largest per currency are listed; the full list is in the "
            "reserved-credit export beside this report."
        )

    rates = converted = None
    if p.rates_file is not None:
        rates = metrics.load_rates(p.rates_file)
        converted = metrics.convert_totals(totals, rates, p.reporting_currency, include_total=True)

    return Report(
        parameters=p, snapshot=snap, opening=opening, balances=balances, totals=totals,
        cohorts=cohort_totals, merged_cohorts=merged, heatmap=heat,
        roll_forward=roll, trend=trend, snapshots_in_history=max(n_history, 1),
        concentration=metrics.concentration(balances, top=10), top_share=metrics.top_share(balances),
        reserved=reserved, converted=converted, rates=rates, notes=notes,
    )


def parameter_names() -> tuple[str, ...]:
    """The names :func:`prepare` accepts, in the notebook's order."""
    import inspect

    return tuple(name for name, p in inspect.signature(prepare).parameters.items()
                 if p.kind is inspect.Parameter.KEYWORD_ONLY)


def _unknown_message(unknown: dict[str, Any]) -> str:
    """One line: which names are not parameters, and the valid ones."""
    import difflib

    names = parameter_names()
    bad = sorted(unknown)
    hint = difflib.get_close_matches(bad[0], names, n=1)
    maybe = f" (did you mean {hint[0]!r}?)" if hint else ""
    return (f"unknown report parameter{'s' if len(bad) > 1 else ''} {', '.join(map(repr, bad))}{maybe}; "
            f"valid: {', '.join(names)}")


def _cohort_note(p: Parameters, merged: list[dict]) -> str:
    """What the cohorts are, what n counts, and which small cohorts were merged into "other"."""
    if p.cohort.startswith("custom_data."):
        rule = f"the custom data key {p.cohort.split('.', 1)[1]}"
    else:
        rule = p.cohort.replace("_", " ").replace("subscription.", "subscription ")
    base = (
        f"Customers are grouped by **{rule}**. Each chart shows every cohort's size, n: all its customers, "
        "active or archived, whether they hold credit or not."
    )
    if not merged:
        return base
    total = sum(int(m["customers"]) for m in merged)
    who = f"{total:,} customer{'s' if total != 1 else ''}"
    if len(merged) <= 10:
        detail = ", ".join(f"{_markdown_text(m['cohort'])} ({int(m['customers']):,})" for m in merged)
    else:
        detail = f"{len(merged):,} cohorts, {who}"
    return (
        f"{base} Cohorts of fewer than {p.min_cohort_size:,} customers are merged into \"other\", in every "
        f"currency and in the heatmap: {detail}."
    )


def _markdown_text(value: Any) -> str:
    """A label (e.g. a custom_data value) shown literally in Markdown: markup characters escaped."""
    return re.sub(r"([\\`*_\[\]|~])", r"\\\1", html.escape(str(value), quote=False))
