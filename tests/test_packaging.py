"""A non-editable install carries what rendering needs: the notebooks and the nbconvert template."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path


def test_the_wheel_ships_the_notebooks_and_the_html_template(repo_root: Path, tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "-w", str(tmp_path), str(repo_root)],
        check=True, capture_output=True, timeout=180, cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("credit_reports-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for notebook in (repo_root / "notebooks").glob("*.ipynb"):
        assert f"credit_reports/notebooks/{notebook.name}" in names
    assert "credit_reports/templates/credit_reports/conf.json" in names
    assert "credit_reports/simulator/server.py" in names
