"""The scheduler's config file: which reports `run` renders, and clear errors for a bad file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from credit_reports.core.errors import UsageError
from credit_reports.delivery.config import DEFAULT_NOTEBOOK, ReportSpec, find_config, load_reports, load_settings


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
    settings = load_settings(repo_root / "examples" / "credit-reports.toml")
    assert len(settings.reports) == 3
    assert len({r.name for r in settings.reports}) == 3
    assert settings.mail is not None and settings.mail.password_env and settings.mail.security == "starttls"
    assert settings.alerts.outstanding_change_share is not None
    assert settings.exports.csv_bom is True
    assert settings.publish.base_url == "https://reports.example.com/credit"
    assert settings.close.prepared_by and settings.close.reviewed_by and settings.close.accounts_configured


def test_close_names_accounts_and_base_url_are_read_and_the_reversed_account_defaults_to_issued(tmp_path) -> None:
    path = write(tmp_path, """
[[report]]
name = "close"
[publish]
base_url = "https://reports.example.com/credit/"
[close]
prepared_by = "Ann Preparer"
[close.accounts]
liability = "2400 Customer credit"
issued = "4090 Proration credit"
""")
    settings = load_settings(path)
    assert settings.publish.url_for("2026-11-30T235959Z/close.html") == (
        "https://reports.example.com/credit/2026-11-30T235959Z/close.html")
    assert settings.close.prepared_by == "Ann Preparer" and settings.close.reviewed_by is None
    assert settings.close.accounts.liability == "2400 Customer credit"
    assert settings.close.accounts.reversed_account == "4090 Proration credit"


@pytest.mark.parametrize(("text", "needle"), [
    ('[publish]\nbase_url = "reports.example.com"\n', "http(s) address"),
    ('[publish]\nbase_url = "https://r.example.com/?token=x"\n', "no query"),
    ('[close]\nprepared_by = 3\n', "prepared_by must be text"),
    ('[close.accounts]\nliabilty = "2400"\n', "unknown key(s) liabilty"),
    ('[close.accounts]\nused = ""\n', "used must be an account"),
])
def test_a_bad_close_or_publish_setting_is_one_line_saying_what_to_fix(tmp_path, text, needle) -> None:
    with pytest.raises(UsageError, match=re.escape(needle)) as info:
        load_settings(write(tmp_path, '[[report]]\nname = "x"\n' + text))
    assert "\n" not in str(info.value)


def test_mail_exports_alerts_and_pdf_settings_are_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[report]]
name = "close"
pdf = true

[exports]
csv_bom = true

[mail]
host = "smtp.example.com"
security = "ssl"
sender = "Reports <reports@example.com>"
recipients = ["finance@example.com"]
username = "reports@example.com"
password_env = "SMTP_PASSWORD"

[alerts]
outstanding_change_share = 0.2
""",
    )
    settings = load_settings(path)
    assert settings.reports[0].pdf is True
    assert settings.exports.csv_bom is True
    assert settings.mail.port == 465  # the SSL port when none is given
    assert settings.mail.recipients == ("finance@example.com",)
    assert settings.alerts.outstanding_change_share == 0.2
    assert load_settings(None).mail is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[report]\nname = 'x'", "not valid TOML"),
        ("title = 'no reports'", "no [[report]] tables"),
        ("[[report]]\nname = 'a b/c'", "name 'a b/c' must be"),
        ("[[report]]\nnotebok = 'typo'", "unknown key(s) notebok"),
        ("[[report]]\nparameters = 3", "parameters must be a table"),
        ("[[report]]\nname = 'x'\n[[report]]\nname = 'x'", "repeated: x"),
        ("[[report]]\npdf = 'yes'", "pdf must be true or false"),
        ("[[report]]\n[mails]\nhost = 'h'", "unknown table(s) mails"),
        ("[[report]]\n[exports]\ncsv_bom = 1", "csv_bom must be true or false"),
        ("[[report]]\n[mail]\nhost = 'h'\nsender = 's@x'\nrecipients = ['a@b']\npassword = 'hunter2'",
         "never write the SMTP password"),
        ("[[report]]\n[mail]\nhost = 'h'\nsender = 's@x'\nrecipients = []", "recipients must be"),
        ("[[report]]\n[mail]\nhost = 'h'\nsender = 's@x'\nrecipients = ['a@b']\nsecurity = 'tls'",
         "security must be one of"),
        ("[[report]]\n[mail]\nhost = 'h'\nsender = 's@x'\nrecipients = ['a@b']\npassword_env = 'not a name'",
         "password_env must be the name"),
        ("[[report]]\n[alerts]\noutstanding_change_share = -1", "outstanding_change_share must be"),
    ],
)
def test_a_bad_config_file_is_one_clear_usage_error(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UsageError) as excinfo:
        load_settings(path)
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
