"""The scheduler's config file: which reports `run` renders, and clear errors for a bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from credit_reports.config import DEFAULT_NOTEBOOK, ReportSpec, find_config, load_reports
from credit_reports.errors import UsageError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "credit-reports.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_config_file_means_the_default_report_alone() -> None:
    assert load_reports(None) == [ReportSpec()]


def test_two_reports_are_read_with_their_parameters(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[report]]
name = "all"

[[report]]
name = "by-plan"
notebook = "other.ipynb"
[report.parameters]
cohort = "custom_data.plan"
currencies = ["USD", "JPY"]
""",
    )
    reports = load_reports(path)
    assert [r.name for r in reports] == ["all", "by-plan"]
    assert reports[0].notebook == DEFAULT_NOTEBOOK and reports[0].parameters == {}
    assert reports[1].notebook == "other.ipynb"
    assert reports[1].parameters == {"cohort": "custom_data.plan", "currencies": ["USD", "JPY"]}


def test_the_example_config_shipped_in_examples_is_valid(repo_root: Path) -> None:
    reports = load_reports(repo_root / "examples" / "credit-reports.toml")
    assert len(reports) == 3
    assert len({r.name for r in reports}) == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[report]\nname = 'x'", "not valid TOML"),
        ("title = 'no reports'", "no [[report]] tables"),
        ("[[report]]\nname = 'a b/c'", "name 'a b/c' must be"),
        ("[[report]]\nnotebok = 'typo'", "unknown key(s) notebok"),
        ("[[report]]\nparameters = 3", "parameters must be a table"),
        ("[[report]]\nname = 'x'\n[[report]]\nname = 'x'", "repeated: x"),
    ],
)
def test_a_bad_config_file_is_one_clear_usage_error(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UsageError) as excinfo:
        load_reports(path)
    assert message in str(excinfo.value)
    assert str(path) in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


def test_a_named_config_that_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        find_config(tmp_path / "missing.toml")


def test_the_config_in_the_working_folder_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "[[report]]\nname = 'x'\n")
    monkeypatch.chdir(tmp_path)
    assert find_config(None) == path
    path.unlink()
    assert find_config(None) is None
