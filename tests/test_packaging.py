"""A non-editable install carries what rendering needs: the notebooks and the nbconvert template."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

#: What a build reads: the project's metadata, its package and the notebooks it ships.
BUILD_INPUTS = ("pyproject.toml", "README.md", "credit_reports", "notebooks")


def _copy_of_the_tree(repo_root: Path, target: Path) -> Path:
    """The build inputs copied into ``target``, so setuptools' ``build/`` and egg-info land there."""
    target.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".ipynb_checkpoints")
    for name in BUILD_INPUTS:
        source = repo_root / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore)
        else:
            shutil.copy2(source, target / name)
    return target


@pytest.mark.slow
def test_the_wheel_ships_the_notebooks_and_the_html_template(repo_root: Path, tmp_path: Path) -> None:
    tree = _copy_of_the_tree(repo_root, tmp_path / "tree")
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", str(wheels), str(tree)],
        check=True, capture_output=True, timeout=180, cwd=tmp_path,
    )
    (wheel,) = wheels.glob("credit_reports-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for notebook in (repo_root / "notebooks").glob("*.ipynb"):
        assert f"credit_reports/notebooks/{notebook.name}" in names
    assert "credit_reports/delivery/templates/credit_reports/conf.json" in names
    assert "credit_reports/simulator/server.py" in names
