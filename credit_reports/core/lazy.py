"""Lazy exports for a package ``__init__`` (PEP 562): each public name is imported from its module on first use.

Every stage's ``__init__`` names its verbs in one table and hands it to :func:`exports`, so ``import
credit_reports.store`` (and the CLI's ``--help``) stays fast and no ``__init__`` can make an import cycle:
nothing is imported until a caller asks for the name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["exports"]


def exports(package: str, table: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``, whose public names live in the modules ``table`` names.

    ``table`` maps a public name to the module (relative to ``package``) that defines it, e.g.
    ``{"load_snapshot": "reader"}``. A name looked up once is kept in the package's namespace.
    """

    def __getattr__(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(table)

    return __getattr__, __dir__
