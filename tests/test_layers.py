"""The stages of docs/architecture.md hold: a stage (a subpackage of credit_reports) imports only the stages it
may use, so imports never run in a circle and the pure stages stay pure.

Every import of a ``credit_reports`` module is read from the source (module level and inside functions), so a
function-level import cannot hide a dependency. Left out, on purpose: the package's own ``__init__`` (the facade
that re-exports the public names), a module's ``__getattr__`` (lazy re-exports) and the simulator, which imports
nothing of the package (it is the oracle) and is started only by the app.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "credit_reports"


def _stages() -> dict[str, set[str]]:
    """Stage -> the stages it may import, read from the "Stages" list in docs/architecture.md."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Stages", 1)[1].split("\n## ", 1)[0]
    allowed: dict[str, set[str]] = {}
    for name, uses in re.findall(r"^- \*\*`([a-z_]+)/`\*\* uses: (.+)$", section, re.M):
        allowed[name] = set(re.findall(r"`([a-z_]+)/`", uses))
    return allowed


def _imports(path: Path) -> set[str]:
    """The credit_reports stages (first name after ``credit_reports.``) that ``path`` imports, outside any
    ``__getattr__``."""
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


STAGES = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists() and p.name != "simulator")
MODULES = sorted(str(p.relative_to(PACKAGE)) for stage in STAGES for p in (PACKAGE / stage).glob("*.py"))

#: Crossings that the move into stages made visible and that the merges of issue 25 remove; each one found must
#: be listed here, and each one listed must still exist, so the list only shrinks.
KNOWN_CROSSINGS: set[tuple[str, str]] = {
    ("ledger/movements.py", "figures"),
    ("ledger/movements.py", "store"),  # movements() and statement() read the store
    ("ledger/reconcile.py", "figures"),  # periods, for the windows between two snapshots
    ("ledger/reconcile.py", "store"),
}


def _crossings() -> set[tuple[str, str]]:
    allowed = _stages()
    found = set()
    for module in MODULES:
        stage = module.split("/", 1)[0]
        for used in _imports(PACKAGE / module):
            if used in allowed and used != stage and used not in allowed[stage]:
                found.add((module, used))
    return found


def test_every_stage_has_its_line_in_the_architecture_doc() -> None:
    missing = sorted(set(STAGES) - set(_stages()))
    assert not missing, f"add these stages to the Stages list of docs/architecture.md: {missing}"


def test_no_module_has_been_left_flat_beside_the_stages() -> None:
    flat = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "_version.py"))
    assert not flat, f"move these modules into the stage that owns them: {flat}"


@pytest.mark.parametrize("module", MODULES)
def test_no_module_imports_a_stage_its_own_may_not_use(module: str) -> None:
    stage = module.split("/", 1)[0]
    allowed = _stages()
    wrong = sorted(used for used in _imports(PACKAGE / module)
                   if used in allowed and used != stage and used not in allowed[stage]
                   and (module, used) not in KNOWN_CROSSINGS)
    assert not wrong, (f"{module} ({stage}/) imports {', '.join(f'{u}/' for u in wrong)}, which {stage}/ may not use: "
                       "move the shared piece down, or the module up")


def test_the_list_of_known_crossings_only_shrinks() -> None:
    gone = sorted(KNOWN_CROSSINGS - _crossings())
    assert not gone, f"these crossings are gone: take them off KNOWN_CROSSINGS: {gone}"


def test_the_stage_check_sees_an_upward_import(tmp_path: Path) -> None:
    # the check itself can fail: a low module importing the CLI inside a function is caught
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from credit_reports.app.cli import main\n    from credit_reports import render\n")
    assert _imports(probe) == {"app", "render"}
