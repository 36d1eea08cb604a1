"""The layers of docs/architecture.md hold: no module imports one from a layer above its own.

Every import of a ``credit_reports`` module is read from the source (module level and inside functions), so a
function-level import cannot hide an upward dependency. Two things are left out, on purpose: the package's
own ``__init__`` (the facade that re-exports everything) and a module's ``__getattr__``, where fetch.py and
store.py keep their old names importable (``fetch.fetch_snapshot``, ``store.SnapshotWriter``) after the
split. The simulator is a separate package only ``demo`` and ``cli`` start.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "credit_reports"


def _layers() -> dict[str, int]:
    """Module -> layer number, read from the "Layers" list in docs/architecture.md (lowest first)."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    layers: dict[str, int] = {}
    for number, line in enumerate(re.findall(r"^\d+\. \*\*[^*]+\*\*: (.+)$", section, re.M)):
        for name in re.findall(r"`([a-z_]+)`", line):
            layers[name] = number
    return layers


def _imports(path: Path) -> set[str]:
    """The credit_reports modules ``path`` imports, outside any ``__getattr__``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name == "__getattr__"
               for n in ast.walk(f)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "credit_reports":
                found.update(a.name for a in node.names)
            elif node.module.startswith("credit_reports."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("credit_reports."))
    return found


MODULES = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def test_every_module_has_a_layer_in_the_architecture_doc() -> None:
    missing = sorted(set(MODULES) - set(_layers()))
    assert not missing, f"add these modules to the Layers list of docs/architecture.md: {missing}"


@pytest.mark.parametrize("module", MODULES)
def test_no_import_runs_up_the_layers(module: str) -> None:
    layers = _layers()
    own = layers[module]
    upward = sorted(m for m in _imports(PACKAGE / f"{module}.py")
                    if m in layers and layers[m] > own)
    assert not upward, (f"{module} (layer {own}) imports {', '.join(f'{m} (layer {layers[m]})' for m in upward)}: "
                        "move the shared piece down, or the module up")


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    # the check itself can fail: a low module importing the CLI inside a function is caught
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from credit_reports.cli import main\n    from credit_reports import render\n")
    assert _imports(probe) == {"cli", "render"}
