"""The scheduler's config file, ``credit-reports.toml``: which reports ``run`` renders.

A team keeps several reports from one fetch (by plan, by signup quarter, one per currency)::

    [[report]]
    name = "credit-balances-by-plan"      # output file name (without .html)
    notebook = "credit_balances"          # a notebook in notebooks/, or a path
    [report.parameters]
    cohort = "custom_data.plan"

Without a config file, ``run`` renders the default report alone.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UsageError

DEFAULT_CONFIG_NAME = "credit-reports.toml"
DEFAULT_NOTEBOOK = "credit_balances"
DEFAULT_REPORT_NAME = "credit-balances"
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_REPORT_KEYS = {"name", "notebook", "parameters"}


@dataclass(frozen=True)
class ReportSpec:
    """One report to render: the notebook, its parameters and the output file name."""

    name: str = DEFAULT_REPORT_NAME
    notebook: str = DEFAULT_NOTEBOOK
    parameters: dict[str, Any] = field(default_factory=dict)


def default_reports() -> list[ReportSpec]:
    """The report rendered when no config file exists: the credit balances report, defaults only."""
    return [ReportSpec()]


def find_config(explicit: str | Path | None) -> Path | None:
    """The config file to use: the one named, else ``./credit-reports.toml`` when present, else None."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise UsageError(f"config file {path} does not exist: check the --config path")
        return path
    candidate = Path.cwd() / DEFAULT_CONFIG_NAME
    return candidate if candidate.is_file() else None


def load_reports(path: str | Path | None) -> list[ReportSpec]:
    """Read the ``[[report]]`` tables of a config file; no file means the default report.

    Every problem is a UsageError naming the file and the report, so a scheduler's log says what to fix.
    """
    if path is None:
        return default_reports()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path} is not valid TOML ({exc}): fix the syntax") from None
    tables = data.get("report")
    if not isinstance(tables, list) or not tables:
        raise UsageError(f"config file {path} lists no [[report]] tables: add at least one")
    reports = [_report_from_table(path, index, table) for index, table in enumerate(tables, start=1)]
    names = [report.name for report in reports]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise UsageError(f"config file {path}: report names must be unique, repeated: {', '.join(duplicates)}")
    return reports


def _report_from_table(path: Path, index: int, table: Any) -> ReportSpec:
    """Validate one ``[[report]]`` table and turn it into a ReportSpec."""
    where = f"config file {path}, report {index}"
    if not isinstance(table, dict):
        raise UsageError(f"{where}: expected a table of name, notebook and parameters")
    unknown = sorted(set(table) - _REPORT_KEYS)
    if unknown:
        raise UsageError(f"{where}: unknown key(s) {', '.join(unknown)}; allowed: name, notebook, parameters")
    name = table.get("name", DEFAULT_REPORT_NAME)
    if not isinstance(name, str) or not _NAME_PATTERN.match(name):
        raise UsageError(f"{where}: name {name!r} must be letters, digits, '.', '_' or '-' (it names a file)")
    notebook = table.get("notebook", DEFAULT_NOTEBOOK)
    if not isinstance(notebook, str) or not notebook:
        raise UsageError(f"{where}: notebook must be a notebook name or path")
    parameters = table.get("parameters", {})
    if not isinstance(parameters, dict):
        raise UsageError(f"{where}: parameters must be a table of name = value")
    return ReportSpec(name=name, notebook=notebook, parameters=dict(parameters))
