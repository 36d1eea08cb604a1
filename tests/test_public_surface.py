"""dir() of the package and of each public module shows its public names only, from one list (__all__),
and that list names every public function and class the module defines (issue 19, item 3)."""

from __future__ import annotations

import importlib
import inspect
import types

import pytest

import credit_reports

PUBLIC_MODULES = (
    "ledger.ageing", "report.alerts", "figures.charts", "figures.cohorts", "figures.comparison", "fetch.history",
    "ledger.movements", "core.errors", "delivery.excel", "fetch.readers", "core.logs", "store.manifests",
    "figures.metrics", "core.money", "core.rows", "paddle.client", "report.parameter_text", "figures.periods",
    "fetch.progress", "ledger.rebuild", "ledger.reconcile", "ledger.sums", "report.preparation",
    "report.history_notes", "store.reader", "core", "paddle", "fetch", "ledger", "store", "figures", "report",
    "delivery", "app",
)


def test_the_package_dir_is_its_all_and_every_name_resolves():
    for name in ("metrics", "charts", "report"):  # importing submodules must not leak into dir()
        getattr(credit_reports, name)
    assert dir(credit_reports) == sorted(credit_reports.__all__)
    for name in credit_reports.__all__:
        assert getattr(credit_reports, name) is not None, name
    assert "importlib" not in dir(credit_reports) and "annotations" not in dir(credit_reports)


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_a_public_module_dir_shows_its_public_names_only(name):
    module = importlib.import_module(f"credit_reports.{name}")
    listed = sorted(module.__all__)
    assert dir(module) == listed
    for public in listed:
        assert hasattr(module, public), f"{name}.__all__ names {public}, which does not exist"
        assert not isinstance(getattr(module, public), types.ModuleType), f"{name}.__all__ lists module {public}"
    defined = [n for n, v in vars(module).items() if not n.startswith("_")
               and (inspect.isfunction(v) or inspect.isclass(v)) and v.__module__ == module.__name__]
    assert set(defined) <= set(listed), f"{name} defines public names missing from __all__"


def test_the_imports_a_user_saw_in_tab_completion_are_gone():
    assert not {"np", "pd", "csv", "dt", "Decimal"} & set(dir(credit_reports.metrics))
    assert not {"matplotlib", "io", "math", "plt"} & set(dir(credit_reports.charts))
