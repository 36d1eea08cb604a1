"""What a render's kernel hands back to the render: the prepared report's export facts, computed once.

A render executes the notebook in a kernel (another process). The notebook prepares the report there
(``report.prepare``) to show it; the render needs the same figures for the manifest, the CSVs and the
workbook. Rather than preparing the report a second time in the rendering process, the notebook calls
:func:`save` right after preparing it: when the render has set ``$CREDIT_REPORTS_HANDOFF`` (a folder in
its private staging folder) the export tables are written there as Parquet files and everything else as
one JSON file, and the render reads them back with :func:`load`. Nothing is pickled: the files hold data
only, so reading them runs no code. Outside a render (JupyterLab, a script) :func:`save` does nothing.

:func:`save` returns None, so a notebook cell that ends with it shows nothing.

The facts carry the validated parameters they were prepared with, so the render uses them only when
they are the parameters it asked for (a notebook that prepares other ones, or none, makes the render
prepare its own, as before).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["ENV", "EarlyExports", "ExportFacts", "Opening", "facts_of", "load", "save"]

#: The environment variable a render sets for its kernel: the folder :func:`save` writes the facts to.
ENV = "CREDIT_REPORTS_HANDOFF"
_FACTS = "facts.json"
_FORMAT = 1


@dataclass(frozen=True)
class Opening:
    """The snapshot a roll-forward starts from: its folder and as-of."""

    path: Path
    as_of: Any


@dataclass(frozen=True)
class ExportFacts:
    """Everything a render publishes beside the HTML, from one prepared ``report.Report``.

    ``tables`` are ``Report.tables()`` (int64 minor units, pseudonymised as the report is);
    ``headline`` and ``roll_forward`` are what the manifest records (``roll_forward`` None when the
    report has no roll-forward); ``reconciled``/``evidence`` are None without a reconciliation;
    ``period_label`` names the close period (``November 2026``) when the report has one.
    """

    parameters: Any  # report.Parameters
    tables: dict[str, pd.DataFrame]
    headline: dict[str, dict[str, int]]
    roll_forward: dict[str, dict[str, Any]] | None
    opening: Opening | None
    failed_customers: int
    roll_forward_note: str
    reconciled: bool | None
    evidence: bool | None
    period_label: str = ""
    #: the manifest's ``maturity`` block (report/maturity_report.py), None when the split was not estimated
    maturity: dict[str, Any] | None = None

    def same_parameters(self, parameters: Any) -> bool:
        """True when these facts were prepared with ``parameters`` (the title aside: it changes no figure)."""
        if self.parameters is None or parameters is None:
            return False
        return dataclasses.replace(self.parameters, title="") == dataclasses.replace(parameters, title="")


def facts_of(report: Any) -> ExportFacts:
    """The export facts of a prepared ``report.Report``."""
    rec = report.reconciliation
    opening = report.opening
    period = getattr(report, "period", None)
    return ExportFacts(
        parameters=report.parameters,
        tables=dict(report.tables()),
        headline=report.headline(),
        roll_forward=report.roll_forward_dict() if report.roll_forward is not None else None,
        opening=Opening(Path(opening.path), opening.as_of) if opening is not None else None,
        failed_customers=int(report.failed_customers),
        roll_forward_note=str(report.notes.get("roll_forward") or ""),
        reconciled=bool(rec.reconciled) if rec is not None else None,
        evidence=bool(rec.evidence) if rec is not None else None,
        period_label=str(getattr(period, "label", "") or ""),
        maturity=report.maturity.block if getattr(report, "maturity", None) is not None else None,
    )


# ---------------------------------------------------------------------------------------------------
# plain data, both ways


def _encode(value: Any) -> Any:
    """A JSON value for a parameter or fact: paths and tuples tagged so they come back as they were."""
    if isinstance(value, Path):
        return {"__path__": str(value)}
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, pd.Timestamp):
        return {"__timestamp__": value.isoformat()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__path__"}:
            return Path(value["__path__"])
        if set(value) == {"__tuple__"}:
            return tuple(_decode(v) for v in value["__tuple__"])
        if set(value) == {"__timestamp__"}:
            return pd.Timestamp(value["__timestamp__"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _parameters_json(parameters: Any) -> dict[str, Any] | None:
    """The validated parameters as JSON: their class (a credit_reports dataclass) and field values."""
    if parameters is None or not dataclasses.is_dataclass(parameters):
        return None
    kind = type(parameters)
    values = {f.name: _encode(getattr(parameters, f.name)) for f in dataclasses.fields(parameters)}
    return {"class": f"{kind.__module__}:{kind.__qualname__}", "values": values}


def _parameters_from(data: dict[str, Any] | None) -> Any:
    """The parameters back from :func:`_parameters_json`; None when they cannot be rebuilt (the render
    then prepares the report itself). Only a dataclass of this package is ever constructed."""
    if not isinstance(data, dict) or not isinstance(data.get("class"), str):
        return None
    module, _, name = data["class"].partition(":")
    if module.split(".")[0] != "credit_reports":
        return None
    try:
        kind = getattr(importlib.import_module(module), name)
        if not dataclasses.is_dataclass(kind):
            return None
        return kind(**{k: _decode(v) for k, v in (data.get("values") or {}).items()})
    except (ImportError, AttributeError, TypeError, ValueError):
        return None


def _table_file(index: int) -> str:
    return f"table-{index:02d}.parquet"


def save(report: Any) -> None:
    """Write ``report``'s export facts to the folder ``$CREDIT_REPORTS_HANDOFF`` when a render set it.

    Outside a render it does nothing. Returns None, so a cell ending with it shows nothing.
    """
    target = os.environ.get(ENV)
    if not target:
        return None
    facts = facts_of(report)
    folder = Path(target)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    names = list(facts.tables)
    for index, name in enumerate(names):
        facts.tables[name].to_parquet(partial / _table_file(index), index=False)
    document = {
        "format": _FORMAT,
        "parameters": _parameters_json(facts.parameters),
        "tables": names,
        "headline": facts.headline,
        "roll_forward": _encode(facts.roll_forward),
        "opening": (None if facts.opening is None else
                    {"path": str(facts.opening.path), "as_of": _encode(facts.opening.as_of)}),
        "failed_customers": facts.failed_customers,
        "roll_forward_note": facts.roll_forward_note,
        "reconciled": facts.reconciled,
        "evidence": facts.evidence,
        "period_label": facts.period_label,
        "maturity": facts.maturity,
    }
    (partial / _FACTS).write_text(json.dumps(document, default=str), encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)  # the render never reads half a handoff
    return None


def load(path: Path) -> ExportFacts | None:
    """The facts a kernel saved in the folder ``path`` (then removed), or None when it saved none."""
    path = Path(path)
    try:
        document = json.loads((path / _FACTS).read_text(encoding="utf-8"))
        if not isinstance(document, dict) or document.get("format") != _FORMAT:
            return None
        tables = {name: pd.read_parquet(path / _table_file(i)) for i, name in enumerate(document["tables"])}
    except (OSError, ValueError, KeyError, TypeError):
        return None
    finally:
        shutil.rmtree(path, ignore_errors=True)
        shutil.rmtree(path.with_name(path.name + ".partial"), ignore_errors=True)
    opening = document.get("opening")
    return ExportFacts(
        parameters=_parameters_from(document.get("parameters")),
        tables=tables,
        headline={k: {kk: int(vv) for kk, vv in v.items()} for k, v in (document.get("headline") or {}).items()},
        roll_forward=_decode(document.get("roll_forward")),
        opening=(None if not opening else Opening(Path(opening["path"]), _decode(opening["as_of"]))),
        failed_customers=int(document.get("failed_customers") or 0),
        roll_forward_note=str(document.get("roll_forward_note") or ""),
        reconciled=document.get("reconciled"),
        evidence=document.get("evidence"),
        period_label=str(document.get("period_label") or ""),
        maturity=document.get("maturity"),
    )


class EarlyExports:
    """Start a render's exports the moment its kernel hands the tables over, while the kernel draws on.

    A thread watches the handoff folder ``path`` (:func:`save` makes it appear whole, with one rename), loads
    the facts once they are there and runs ``work(facts)`` on them (the CSVs and the workbook), so the
    exports use the second core while the kernel is still drawing charts instead of after it. The render
    calls :meth:`finish` once the notebook has run: it waits for the work and returns the facts and what
    ``work`` returned. Facts handed over again after the work began (a notebook that saves twice) win, and
    the early result is then dropped (``result`` None): the render exports those facts itself.
    """

    def __init__(self, path: Path, work: Callable[[ExportFacts], Any], *, poll: float = 0.05) -> None:
        self.path = Path(path)
        self.facts: ExportFacts | None = None
        self.result: Any = None
        self.seconds = 0.0  # spent by ``work``, beside the kernel
        self._work = work
        self._poll = poll
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="early-exports", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            if (self.path / _FACTS).is_file():
                self.facts = load(self.path)
                if self.facts is None:
                    return
                start = time.perf_counter()
                try:
                    self.result = self._work(self.facts)
                except BaseException as exc:  # raised again in the render's thread, by finish()
                    self._error = exc
                self.seconds = time.perf_counter() - start
                return
            self._stop.wait(self._poll)

    def finish(self) -> ExportFacts | None:
        """Stop watching, wait for the work, and return the facts (the last handed over); raises what the
        work raised."""
        self._stop.set()
        self._thread.join()
        if self._error is not None:
            raise self._error
        if (self.path / _FACTS).is_file():  # handed over (again) after the watch ended or the work began
            self.facts, self.result = load(self.path), None
        return self.facts

    def cancel(self) -> None:
        """Stop watching and drop whatever was done (the notebook failed; the staging folder goes)."""
        self._stop.set()
        self._thread.join()
        self.facts = self.result = self._error = None


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
