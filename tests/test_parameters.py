"""One parameter, one meaning: papermill and credit-reports read ``-p currencies "[EUR, USD]"`` alike."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from render_demo import two_cell_notebook

from credit_reports.app import cli
from credit_reports.core.errors import UsageError
from credit_reports.report.parameter_text import parse_list, parse_value
from credit_reports.report.preparation import validate_parameters

PAPERMILL = Path(sys.executable).with_name("papermill")


@pytest.mark.parametrize(
    "value",
    ["[EUR, USD]", '["EUR", "USD"]', "['EUR', 'USD']", "EUR,USD", "EUR, USD", "EUR USD", ["EUR", "USD"],
     ("EUR", "USD")],
)
def test_every_list_form_gives_the_same_codes(value):
    assert parse_list(value, "currencies") == ["EUR", "USD"]
    assert validate_parameters(currencies=value).currencies == ("EUR", "USD")


@pytest.mark.parametrize("value", ["", "[]", None, []])
def test_empty_forms_mean_every_currency(value):
    assert validate_parameters(currencies=value).currencies == ()


@pytest.mark.parametrize("value", ["[EUR, USD", 12, [1, 2], {"EUR": 1}])
def test_a_malformed_list_is_one_line_naming_the_accepted_forms(value):
    with pytest.raises(UsageError) as info:
        parse_list(value, "currencies")
    assert "\n" not in str(info.value) and '[EUR, USD], ["EUR", "USD"] or EUR,USD' in str(info.value)


def test_cli_values_parse_as_yaml_but_dates_stay_text():
    assert parse_value("[EUR, USD]") == ["EUR", "USD"]
    assert parse_value("12") == 12 and parse_value("true") is True
    assert parse_value("2026-12-01") == "2026-12-01"  # a snapshot name, not a datetime.date
    assert parse_value("a: [") == "a: ["


@pytest.mark.slow
def test_papermill_and_credit_reports_render_read_the_same_currencies(tmp_path):
    """The real papermill CLI runs a notebook whose validation is the report's; the CLI path is the
    ``-p`` parsing credit-reports render uses. Both must give ("EUR", "USD")."""
    notebook = two_cell_notebook(
        tmp_path / "nb.ipynb",
        "currencies: list = []",
        "from credit_reports.report.preparation import validate_parameters\n"
        "import json\nprint(json.dumps(list(validate_parameters(currencies=currencies).currencies)))",
    )
    out = tmp_path / "out.ipynb"
    done = subprocess.run([str(PAPERMILL), str(notebook), str(out), "-p", "currencies", "[EUR, USD]",
                           "--no-progress-bar", "-k", "credit-reports", "--language", "python"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    executed = nbformat.read(out, as_version=4)
    injected = next(c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", []))
    assert "currencies = \"[EUR, USD]\"" in injected.source  # papermill passes the raw text
    printed = "".join(o.get("text", "") for o in executed.cells[-1].outputs)
    assert json.loads(printed) == ["EUR", "USD"]
    args = cli.build_parser().parse_args(["render", "-p", "currencies", "[EUR, USD]"])
    spec = cli._report_specs(args)[0]
    assert validate_parameters(currencies=spec.parameters["currencies"]).currencies == ("EUR", "USD")


@pytest.mark.slow
def test_papermill_help_shows_the_accepted_list_forms(repo_root):
    done = subprocess.run([str(PAPERMILL), "--help-notebook", str(repo_root / "notebooks" / "credit_balances.ipynb")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    line = next(i for i, text in enumerate(done.stdout.splitlines()) if text.strip().startswith("currencies:"))
    help_text = " ".join(done.stdout.splitlines()[line:line + 2])
    assert '[EUR, USD], ["EUR", "USD"] or EUR,USD' in help_text
