"""`credit-reports run`, the scheduler's command: lock, config, exit codes, never a half-published report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from credit_reports.app.cli import main
from credit_reports.app.runner import run_lock

TWO_REPORTS = """
[[report]]
name = "all-customers"

[[report]]
name = "by-plan"
[report.parameters]
cohort = "custom_data.plan"
min_cohort_size = 3
"""


@pytest.fixture
def account(make_sim, monkeypatch):
    """A small simulated account whose key is in PADDLE_API_KEY, as a scheduler would set it."""
    sim = make_sim(customers=120)
    monkeypatch.setenv("PADDLE_API_KEY", sim.api_key)
    return sim


def run_args(sim, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "--quiet", "run", "--base-url", sim.base_url, "--max-rpm", "6000",
        "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "reports"), *extra,
    ]


def every_file(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


@pytest.mark.slow
def test_a_config_with_two_reports_renders_both_and_indexes_them(account, tmp_path, capsys) -> None:
    config = tmp_path / "credit-reports.toml"
    config.write_text(TWO_REPORTS, encoding="utf-8")
    code = main(run_args(account, tmp_path, "--config", str(config)))
    out, err = capsys.readouterr()
    assert code == 0, err
    printed = [Path(line) for line in out.split()]
    assert sorted(p.name for p in printed) == ["all-customers.html", "by-plan.html"]
    assert all(p.is_file() for p in printed)
    index = (tmp_path / "reports" / "index.html").read_text(encoding="utf-8")
    for html in printed:
        assert html.relative_to(tmp_path / "reports").as_posix() in index
    manifests = [json.loads(p.read_text()) for p in (tmp_path / "reports").rglob("*manifest*.json")]
    assert manifests, "each report has a manifest beside it"
    key = account.api_key.encode()
    for written in every_file(tmp_path):
        assert key not in written.read_bytes(), f"the key leaked into {written}"


def test_a_second_run_while_one_holds_the_lock_exits_4_and_does_nothing(account, tmp_path, capsys) -> None:
    data = tmp_path / "data"
    with run_lock(data):
        code = main(run_args(account, tmp_path))
    _, err = capsys.readouterr()
    assert code == 4
    assert "another credit-reports run" in err
    assert account.stats["requests"] == 0
    assert not (tmp_path / "reports").exists()


@pytest.mark.slow
def test_a_run_from_an_incomplete_snapshot_exits_3_and_the_report_says_so(account, tmp_path, capsys) -> None:
    credited = sorted({row["customer_id"] for row in account.account.expected_balances()})
    account.fail_customer(credited[0], status=500)
    code = main(run_args(account, tmp_path))
    out, err = capsys.readouterr()
    assert code == 3, err
    html = Path(out.split()[0]).read_text(encoding="utf-8")
    assert "incomplete" in html.lower()


@pytest.mark.slow
def test_a_failing_report_exits_1_and_the_last_good_report_stays_published(
    account, tmp_path, capsys, repo_root
) -> None:
    assert main(run_args(account, tmp_path)) == 0
    out, _ = capsys.readouterr()
    good = Path(out.split()[0])
    good_html = good.read_bytes()
    index = (tmp_path / "reports" / "index.html").read_bytes()

    broken = json.loads((repo_root / "notebooks" / "credit_balances.ipynb").read_text(encoding="utf-8"))
    broken["cells"].append(
        {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
         "source": "raise RuntimeError('chart service down')"}
    )
    notebook = tmp_path / "broken.ipynb"
    notebook.write_text(json.dumps(broken), encoding="utf-8")
    code = main(run_args(account, tmp_path, "--notebook", str(notebook)))
    _, err = capsys.readouterr()
    assert code == 1
    assert "failed" in err
    assert good.read_bytes() == good_html
    assert (tmp_path / "reports" / "index.html").read_bytes() == index
    assert list((tmp_path / "reports").rglob("*failed*")), "the failed notebook is kept for debugging"


def test_a_config_naming_an_undeclared_parameter_exits_2_before_any_api_call(account, tmp_path, capsys) -> None:
    config = tmp_path / "credit-reports.toml"
    config.write_text("[[report]]\nname = 'x'\n[report.parameters]\ncohrt = 'locale'\n", encoding="utf-8")
    code = main(run_args(account, tmp_path, "--config", str(config)))
    _, err = capsys.readouterr()
    assert code == 2
    assert "cohrt" in err
    assert account.stats["requests"] == 0


def test_a_report_pinned_to_a_snapshot_is_refused_by_run_before_any_api_call(account, tmp_path, capsys) -> None:
    """run reports the snapshot it fetches; a pinned snapshot belongs to `render --snapshot`."""
    config = tmp_path / "credit-reports.toml"
    config.write_text("[[report]]\nname = 'x'\n[report.parameters]\nsnapshot = '20261101T061500Z'\n",
                      encoding="utf-8")
    code = main(run_args(account, tmp_path, "--config", str(config)))
    _, err = capsys.readouterr()
    assert code == 2
    assert "render --snapshot" in err and len(err.strip().splitlines()) == 1
    assert account.stats["requests"] == 0


def test_an_unwritable_out_folder_exits_2_in_one_line_before_any_api_call(account, tmp_path, capsys) -> None:
    blocked = tmp_path / "a-file"  # a folder that cannot be made, even by root: its parent is a file
    blocked.write_text("not a folder", encoding="utf-8")
    code = main([*run_args(account, tmp_path)[:-2], "--out", str(blocked / "reports")])
    _, err = capsys.readouterr()
    assert code == 2
    assert "is not writable" in err and len(err.strip().splitlines()) == 1
    assert account.stats["requests"] == 0


def test_a_relative_rates_file_is_read_from_where_the_user_runs_and_checked_before_any_api_call(
        account, tmp_path, capsys, monkeypatch) -> None:
    from credit_reports.app.runner import resolve_file_parameters
    from credit_reports.delivery.config import ReportSpec

    monkeypatch.chdir(tmp_path)
    config = tmp_path / "credit-reports.toml"
    config.write_text("[[report]]\nname = 'x'\n[report.parameters]\nrates_file = 'rates/missing.csv'\n"
                      "reporting_currency = 'EUR'\n", encoding="utf-8")
    code = main(run_args(account, tmp_path, "--config", str(config)))
    _, err = capsys.readouterr()
    assert code == 2 and "missing.csv" in err and str(tmp_path) in err  # named where it was looked for
    assert account.stats["requests"] == 0
    (tmp_path / "rates").mkdir()
    (tmp_path / "rates" / "here.csv").write_text("currency,rate,date,source\n", encoding="utf-8")
    (spec,) = resolve_file_parameters([ReportSpec(parameters={"rates_file": "rates/here.csv", "cohort": "locale"})])
    assert spec.parameters["rates_file"] == str(tmp_path / "rates" / "here.csv")  # the kernel gets this path
    assert spec.parameters["cohort"] == "locale"


@pytest.mark.slow
def test_a_run_that_publishes_a_pack_needing_attention_exits_7_with_the_reasons_on_its_summary_line(
        account, tmp_path, capsys) -> None:
    import datetime as dt

    today = dt.datetime.now(dt.UTC).date().isoformat()  # the run's snapshot closes today (UTC)
    config = tmp_path / "credit-reports.toml"
    config.write_text(f"[[report]]\nname = 'close'\n[close]\n[[close.gl]]\ndate = {today}\ncurrency = 'USD'\n"
                      "balance = '-0.01'\n", encoding="utf-8")  # no sub-ledger is ever -$0.01: a difference
    code = main(run_args(account, tmp_path, "--config", str(config), "--no-mail"))
    err = capsys.readouterr().err
    assert code == 7, err
    summary = [line for line in err.splitlines() if "run done" in line]
    assert len(summary) == 1 and "exit 7" in summary[0] and "ATTENTION: close: GL tie-out check off by" in summary[0]
    (manifest,) = (tmp_path / "reports").rglob("close.manifest.json")
    assert any(r.startswith("GL tie-out check off by") for r in json.loads(manifest.read_text())["attention"])
    code = main(run_args(account, tmp_path, "--config", str(config), "--no-mail", "--attention-exit-code", "0"))
    assert code == 0, capsys.readouterr().err
