"""What a render's kernel hands back to the render: the prepared report's export facts, computed once.

A render executes the notebook in a kernel (another process). The notebook prepares the report there
(``report.prepare``) to show it; the render needs the same figures for the manifest, the CSVs and the
workbook. Rather than preparing the report a second time in the rendering process, the notebook calls
:func:`save` right after preparing it: when the render has set ``$CREDIT_REPORTS_HANDOFF`` (a path in its
private staging folder) the export tables and headline figures are pickled there, and the render reads
them back with :func:`load`. Outside a render (JupyterLab, a script) :func:`save` does nothing.

The facts carry the validated parameters they were prepared with, so the render uses them only when
they are the parameters it asked for (a notebook that prepares other ones, or none, makes the render
prepare its own, as before).
"""

from __future__ import annotations

import dataclasses
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["ENV", "ExportFacts", "Opening", "facts_of", "load", "save"]

#: The environment variable a render sets for its kernel: where :func:`save` writes the facts.
ENV = "CREDIT_REPORTS_HANDOFF"


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
    report has no roll-forward); ``reconciled``/``evidence`` are None without a reconciliation.
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

    def same_parameters(self, parameters: Any) -> bool:
        """True when these facts were prepared with ``parameters`` (the title aside: it changes no figure)."""
        if self.parameters is None or parameters is None:
            return False
        return dataclasses.replace(self.parameters, title="") == dataclasses.replace(parameters, title="")


def facts_of(report: Any) -> ExportFacts:
    """The export facts of a prepared ``report.Report``."""
    rec = report.reconciliation
    opening = report.opening
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
    )


def save(report: Any) -> Path | None:
    """Pickle ``report``'s export facts to ``$CREDIT_REPORTS_HANDOFF`` when a render set it; else nothing.

    Returns the path written, or None outside a render.
    """
    target = os.environ.get(ENV)
    if not target:
        return None
    path = Path(target)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as handle:
        pickle.dump(facts_of(report), handle, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(partial, path)  # the render never reads half a file
    return path


def load(path: Path) -> ExportFacts | None:
    """The facts a kernel saved at ``path`` (then removed), or None when it saved none.

    Only the render's own kernel writes there (a private staging folder), so unpickling is safe.
    """
    try:
        with open(path, "rb") as handle:
            facts = pickle.load(handle)
    except FileNotFoundError:
        return None
    finally:
        path.unlink(missing_ok=True)
    return facts if isinstance(facts, ExportFacts) else None


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
