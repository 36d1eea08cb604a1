"""The report's parameters, declared once: name, type, default, help text and check of each.

:class:`Parameters` is the one declaration. Each field carries, in its metadata, the value a caller writes
when it gives nothing (``raw``: the notebook's parameters cell, ``""`` for "not set"), one line of help,
and the check that turns what a caller wrote (papermill's raw strings, ``credit-reports render -p``, a
config file, a notebook cell) into the typed value. :meth:`Parameters.check` runs the per-field checks in
the declared order, then the few rules that join two fields (``period`` with ``compare_to``, a rates file
with its reporting currency); the first bad value raises one :class:`~credit_reports.core.errors.UsageError`
line saying what to do. The notebook's validation (:func:`credit_reports.report.preparation.prepare`), the CLI's checks
and the render all read the names from here (:func:`parameter_names`), so no list is spelled twice.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from credit_reports.core import money, timestamps
from credit_reports.core.errors import UsageError
from credit_reports.figures import cohorts, periods
from credit_reports.report.parameter_text import parse_list
from credit_reports.store import reader as store

__all__ = [
    "COHORT_RULES", "DEFAULT_TITLE", "TREND_VIEWS", "Parameters", "parameter_names", "resolve_data_dir", "signature",
    "unknown_message", "validate_parameters",
]

#: Cohort rules a report accepts (besides ``custom_data.<key>``).
COHORT_RULES: tuple[str, ...] = cohorts.NAMED_RULES
TREND_VIEWS: tuple[str, ...] = ("month-end", "snapshot")
DEFAULT_TITLE = "Customer credit balances"
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MONTH = re.compile(r"^\d{4}-\d{2}$")
_CUSTOM_DATA = re.compile(r"^custom_data\.[A-Za-z0-9_\-]+$")


# -- per-field checks: (name, what the caller wrote) -> the typed value --------------------------------


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
    code = money.check_currency(_text(name, value), name)  # not ISO 4217: the closest codes; "eur" is EUR
    if not money.is_known_currency(code):
        raise UsageError(
            f"{name}: {value!r} is not a currency Paddle supports; use ISO 4217 codes such as "
            f"USD, EUR, JPY ({', '.join(money.PADDLE_CURRENCIES)})"
        )
    return code


def _existing_file(name: str, value: Any) -> Path | None:
    text = _text(name, value)
    if not text:
        return None
    path = Path(text).expanduser()
    if not path.is_file():
        raise UsageError(f"{name}: file {text!r} does not exist (a relative path is read from the folder "
                         "credit-reports runs in; in JupyterLab, from the notebook's folder)")
    return path


def resolve_data_dir(data_dir: str | Path | None = "") -> Path | None:
    """The snapshot store to read: ``data_dir`` when given, else ``$CREDIT_REPORTS_DATA_DIR`` or
    ``./data``; when neither exists and the notebook runs in ``notebooks/`` (JupyterLab, papermill),
    the repository's ``../data``. ``None`` leaves the choice to :mod:`credit_reports.store.reader`."""
    if data_dir:
        return Path(data_dir).expanduser()
    default = store.default_data_dir()
    if default.is_dir() or default.is_absolute():
        return None
    parent = Path("..") / default
    return parent if parent.is_dir() and Path.cwd().name == "notebooks" else None


def _data_dir(name: str, value: Any) -> Path | None:
    text = _text(name, value)
    if text and not Path(text).expanduser().is_dir():
        raise UsageError(f"data_dir: folder {text!r} does not exist; give the snapshot store's folder")
    return Path(text).expanduser() if text else resolve_data_dir("")


def _optional_text(name: str, value: Any) -> str | None:
    return _text(name, value) or None


def _snapshot(name: str, value: Any) -> str:
    """The store's one selector grammar (:func:`credit_reports.store.reader.selector_problem`): what
    ``--snapshot`` and ``load_snapshot`` accept, ``-p snapshot`` accepts."""
    snap = _text(name, value) or "latest"
    problem = store.selector_problem(snap)
    if problem:
        raise UsageError(problem)
    return snap


def _period(name: str, value: Any) -> str | None:
    """A close period as text; a bare year from YAML or TOML (``period: 2026``) is the year ``"2026"``."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return _optional_text(name, value)


def _compare_to(name: str, value: Any) -> str:
    compare = _text(name, value) or "previous"
    if compare not in {"previous", "none"} and not (timestamps.FOLDER_NAME.match(compare) or DAY.match(compare)
                                                    or MONTH.match(compare)):
        raise UsageError(
            f"compare_to: {value!r} must be 'previous', 'none', an as-of time like 20261130T235959Z, "
            "a date like 2026-11-30 or a month like 2026-11 (its last snapshot)"
        )
    return compare


def _currencies(name: str, value: Any) -> tuple[str, ...]:
    # one parser for every runner: papermill passes "[EUR, USD]" as text, credit-reports render a list
    return tuple(dict.fromkeys(_currency(name, c) for c in parse_list(value, name)))


def _cohort(name: str, value: Any) -> str:
    rule = _text(name, value) or "signup_month"
    if rule not in COHORT_RULES and not _CUSTOM_DATA.match(rule):
        raise UsageError(f"cohort: unknown rule {value!r}; use one of {', '.join(COHORT_RULES)} or custom_data.<key>")
    return rule


def _min_cohort_size(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"min_cohort_size must be a whole number of customers, at least 1; got {value!r}")
    return value


def _reporting_currency(name: str, value: Any) -> str | None:
    return _currency(name, value) if _text(name, value) else None


def _title(name: str, value: Any) -> str:
    return _text(name, value) or DEFAULT_TITLE


def _timezone(name: str, value: Any) -> str:
    zone = _text(name, value) or "UTC"
    periods.parse_timezone(zone)
    return zone


def _trend(name: str, value: Any) -> str:
    view = _text(name, value) or "month-end"
    if view not in TREND_VIEWS:
        raise UsageError(f"trend: {value!r} must be 'month-end' (one point per month) or 'snapshot' (every one)")
    return view


def _rate_type(name: str, value: Any) -> str:
    from credit_reports.figures.translation import RATE_TYPES

    kind = _text(name, value).lower() or "average"
    if kind not in RATE_TYPES:
        raise UsageError(f"rate_type: {value!r} must be 'average' (the period's average rate) or 'spot' "
                         "(each movement at its day's rate)")
    return kind


def _parameter(default: Any, raw: Any, check: Callable[[str, Any], Any], help: str) -> Any:
    """A field of :class:`Parameters`: its typed ``default``, what a caller writes for it unset (``raw``),
    its ``check`` and one line of ``help``."""
    return field(default=default, metadata={"raw": raw, "check": check, "help": help})


@dataclass(frozen=True)
class Parameters:
    """The report's parameters (validated: types and defaults resolved); see the module docstring."""

    data_dir: Path | None = _parameter(
        None, "", _data_dir, "snapshot store; empty means $CREDIT_REPORTS_DATA_DIR or ./data")
    environment: str | None = _parameter(
        None, "", _optional_text, "production, sandbox, local...; empty means the store's newest")
    snapshot: str = _parameter("latest", "latest", _snapshot,
                                 'as-of (e.g. 20261130T235959Z), a date (2026-11-30: the newest at or before its end, '
                                 'UTC), a date-time, a month (2026-11: its last snapshot, UTC) or "latest"')
    compare_to: str = _parameter(
        "previous", "previous", _compare_to,
        'roll-forward opening: "previous", an as-of, a date such as 2026-11-30, a month such as 2026-11 (its '
        'last snapshot), or "none"')
    currencies: tuple[str, ...] = _parameter(
        (), None, _currencies, 'codes to show, written [EUR, USD], ["EUR", "USD"] or EUR,USD; empty means all')
    cohort: str = _parameter(
        "signup_month", "signup_month", _cohort, "a cohort rule (COHORT_RULES) or custom_data.<key>")
    cohort_file: Path | None = _parameter(None, "", _existing_file, "CSV of customer_id,cohort for cohort = 'file'")
    min_cohort_size: int = _parameter(10, 10, _min_cohort_size, 'cohorts smaller than this are merged into "other"')
    rates_file: Path | None = _parameter(
        None, "", _existing_file, "CSV of currency,rate,date,source to convert totals (with reporting_currency)")
    reporting_currency: str | None = _parameter(
        None, "", _reporting_currency, "currency the rates file converts into")
    rate_type: str = _parameter(
        "average", "average", _rate_type,
        'translated roll-forward: movements at the period\'s "average" rate or each at its day\'s "spot" rate')
    pseudonymize: bool = _parameter(False, False, _flag, "replace customer IDs by stable hashes")
    show_pii: bool = _parameter(False, False, _flag, "show customer emails and names (never with pseudonymize)")
    title: str = _parameter(DEFAULT_TITLE, DEFAULT_TITLE, _title, "the report's heading")
    period: str | None = _parameter(
        None, "", _period,
        "close period: 2026-11, 2026-Q4, 2026, previous-month or previous-quarter; empty: newest snapshot")
    timezone: str = _parameter(
        "UTC", "UTC", _timezone, "IANA time zone of period boundaries, compare_to dates and month ends")
    trend: str = _parameter(
        "month-end", "month-end", _trend, 'trend points: "month-end" (one per month) or "snapshot" (every one)')
    allow_open_period: bool = _parameter(
        False, False, _flag,
        "render a period not yet ended as \"open period, figures to date\" (with an Attention) instead of refusing")

    @classmethod
    def check(cls, **values: Any) -> Parameters:
        """Check every parameter (unset ones take their default); the first bad one raises UsageError."""
        unknown = {k: v for k, v in values.items() if k not in parameter_names()}
        if unknown:
            raise UsageError(unknown_message(unknown))
        typed = {f.name: f.metadata["check"](f.name, values.get(f.name, f.metadata["raw"]))
                 for f in dataclasses.fields(cls)}
        _check_together(typed)
        return cls(**typed)


def _check_together(p: dict[str, Any]) -> None:
    """The rules that join two parameters (after each was checked on its own)."""
    if DAY.match(p["compare_to"]):
        periods.parse_day(p["compare_to"], p["timezone"])
    if MONTH.match(p["compare_to"]):
        periods.parse_period(p["compare_to"], p["timezone"])  # 2026-13 is refused before any snapshot is read
    if p["period"] is not None:
        periods.parse_period(p["period"], p["timezone"])
        if p["compare_to"] != "previous":
            raise UsageError("period and compare_to both choose the opening snapshot: give one of them")
    if p["cohort"] == "file" and p["cohort_file"] is None:
        raise UsageError("cohort = 'file' needs cohort_file: a CSV of customer_id,cohort")
    if p["rates_file"] is not None and p["reporting_currency"] is None:
        raise UsageError("rates_file is given but reporting_currency is empty: name the currency to convert into")
    if p["reporting_currency"] is not None and p["rates_file"] is None:
        raise UsageError("reporting_currency is set but rates_file is empty: give a CSV of currency,rate,date,source")
    if p["pseudonymize"] and p["show_pii"]:
        raise UsageError("pseudonymize and show_pii contradict each other: set at most one of them to True")


def _help_text() -> str:
    """:class:`Parameters`' docstring: every parameter with its type, its unset value and its help line."""
    lines = [
        "The report's parameters (validated: types and defaults resolved), declared once.",
        "",
        "Parameters.check(**values) turns what a caller wrote into this; the first bad value raises UsageError.",
        "",
    ]
    for f in dataclasses.fields(Parameters):
        lines.append(f"{f.name}: {f.type} (unset: {f.metadata['raw']!r})")
        lines.append(f"    {f.metadata['help']}")
    return "\n".join(lines)


Parameters.__doc__ = _help_text()


def parameter_names() -> tuple[str, ...]:
    """The report's parameter names, in the notebook's order."""
    return tuple(f.name for f in dataclasses.fields(Parameters))


def signature(*, unknown: bool = False) -> inspect.Signature:
    """The parameters as a keyword-only signature (what a caller writes for each unset: ``raw``), for the
    functions that take them (``prepare``), so ``help()`` and tab completion show the one declaration;
    ``unknown`` adds ``**unknown`` (answered with one UsageError line rather than a TypeError)."""
    params = [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.metadata["raw"])
              for f in dataclasses.fields(Parameters)]
    if unknown:
        params.append(inspect.Parameter("unknown", inspect.Parameter.VAR_KEYWORD, annotation="Any"))
    return inspect.Signature(params)


def validate_parameters(**values: Any) -> Parameters:
    """:meth:`Parameters.check`: check every report parameter; the first bad one raises UsageError."""
    return Parameters.check(**values)


def unknown_message(unknown: dict[str, Any]) -> str:
    """One line: which names are not parameters, and the valid ones."""
    import difflib

    names = parameter_names()
    bad = sorted(unknown)
    hint = difflib.get_close_matches(bad[0], names, n=1)
    maybe = f" (did you mean {hint[0]!r}?)" if hint else ""
    return (f"unknown report parameter{'s' if len(bad) > 1 else ''} {', '.join(map(repr, bad))}{maybe}; "
            f"valid: {', '.join(names)}")


validate_parameters.__signature__ = signature()  # type: ignore[attr-defined]


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
