"""The secret scan fails closed: a key planted in any kind of output stops publishing, and the error names
the file, never the key."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from render_demo import DemoReport, build_demo_report, two_cell_notebook

from credit_reports.delivery.publish import SecretLeakError, find_secrets, scan_for_secrets
from credit_reports.delivery.render import render_report

#: Shaped like a real production key; built at run time so this file itself holds no key literal.
PATTERN_KEY = "pdl_" + "live_apikey_" + "01hx7k2m9q4w8e6r5t3y1u0i9o_AbCdEf"
#: A legacy 50-character key has no recognisable shape: only the key in use can catch it.
LEGACY_KEY = "3f9c0e7a51b24d68" + "a0c1e2f3b4d5c6e7f8091a2b3c4d5e6f7a"


def plant(kind: str, folder: Path, secret: str) -> Path:
    """Write one output of ``kind`` with ``secret`` somewhere inside it, as the toolkit would."""
    if kind == "html":
        path = folder / "report.html"
        path.write_text(f"<html><body><table><tr><td>{secret}</td></tr></table></body></html>")
    elif kind == "ipynb":
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output(
            "execute_result", data={"text/plain": repr(secret)}, execution_count=1)])]
        path = folder / "report.ipynb"
        nbformat.write(nb, path)
    elif kind == "csv":
        path = folder / "report.totals.csv"
        pd.DataFrame({"currency_code": ["USD"], "note": [secret]}).to_csv(path, index=False)
    elif kind == "xlsx":
        path = folder / "report.xlsx"  # a zip: the text sits deflated in an XML member
        pd.DataFrame({"currency_code": ["USD"], "note": [secret]}).to_excel(path, index=False)
    elif kind == "json":
        path = folder / "manifest.json"
        path.write_text(json.dumps({"parameters": {"title": secret}}))
    elif kind == "log":
        path = folder / "render.log"
        path.write_text(f"2026-11-26 06:15:00 INFO calling Paddle with {secret}\n")
    else:
        raise ValueError(kind)
    return path


KINDS = ["html", "ipynb", "csv", "xlsx", "json", "log"]


@pytest.mark.parametrize("kind", KINDS)
def test_scan_catches_a_key_shaped_secret_in_each_output_kind(tmp_path: Path, kind: str) -> None:
    path = plant(kind, tmp_path, PATTERN_KEY)
    with pytest.raises(SecretLeakError) as info:
        scan_for_secrets([tmp_path], api_key=None)
    assert path.name in str(info.value)
    assert PATTERN_KEY not in str(info.value) and PATTERN_KEY not in repr(info.value)


@pytest.mark.parametrize("kind", KINDS)
def test_scan_catches_the_key_in_use_even_without_a_paddle_shape(tmp_path: Path, kind: str) -> None:
    path = plant(kind, tmp_path, LEGACY_KEY)
    findings = find_secrets([tmp_path], api_key=LEGACY_KEY)
    assert [f.file.split(" ")[0] for f in findings] == [path.name]
    assert findings[0].what == "the API key in use"
    assert LEGACY_KEY not in repr(findings)


def test_scan_takes_the_key_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plant("csv", tmp_path, LEGACY_KEY)
    assert find_secrets([tmp_path]) == []
    monkeypatch.setenv("PADDLE_API_KEY", LEGACY_KEY)
    assert [f.what for f in find_secrets([tmp_path])] == ["the API key in use"]


def test_xlsx_secret_is_found_only_by_reading_inside_the_zip(tmp_path: Path) -> None:
    path = plant("xlsx", tmp_path, LEGACY_KEY)
    assert LEGACY_KEY.encode() not in path.read_bytes()  # compressed: a plain byte search misses it
    findings = find_secrets([path], api_key=LEGACY_KEY)
    assert findings and findings[0].file.startswith("report.xlsx (xl/") and findings[0].file.endswith(".xml)")


def test_clean_outputs_pass(tmp_path: Path) -> None:
    for kind in KINDS:
        plant(kind, tmp_path, "Customer credit balances, USD 1,234.56")
    assert find_secrets([tmp_path], api_key=LEGACY_KEY) == []


# -- end to end: a leaking render publishes nothing ----------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoReport:
    return build_demo_report(tmp_path_factory.mktemp("demo-report"))


def echo_notebook(folder: Path) -> Path:
    """A tiny report that prints its title: the easiest way for a secret to reach every output."""
    parameters = 'snapshot = "latest"\ndata_dir = ""\ntitle = "Echo"'
    return two_cell_notebook(folder / "echo.ipynb", parameters, "print(title)")


@pytest.mark.slow
def test_render_that_would_leak_the_key_publishes_nothing(demo: DemoReport, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    with pytest.raises(SecretLeakError) as info:
        render_report(echo_notebook(tmp_path), parameters={"title": f"Report {LEGACY_KEY}"},
                      data_dir=demo.data_dir, out_dir=out, output_name="echo", api_key=LEGACY_KEY)
    message = str(info.value)
    assert LEGACY_KEY not in message and "echo." in message and "nothing was published" in message
    published = [p for p in out.rglob("*") if p.is_file()]
    assert published == []  # no HTML, notebook, exports, manifest or index


@pytest.mark.slow
def test_leak_is_a_report_failure_so_a_scheduled_run_exits_1(demo: DemoReport, tmp_path: Path) -> None:
    # the render loop a scheduled `credit-reports run` uses: the leaking report fails alone, the run exits 1
    from credit_reports.app.runner import RunOutcome, render_each
    from credit_reports.delivery.config import ReportSpec, Settings
    from credit_reports.store.reader import load_snapshot

    snapshot = load_snapshot(demo.snapshot_name, demo.data_dir, environment=demo.environment)
    notebook = two_cell_notebook(tmp_path / "echo.ipynb", 'snapshot = "latest"\ndata_dir = ""\nenvironment = ""\n'
                                 'title = "Echo"', "print(title)")  # a run pins snapshot and environment
    spec = ReportSpec(name="echo", notebook=str(notebook), parameters={"title": f"R {LEGACY_KEY}"})
    outcome = RunOutcome()
    render_each([(spec, snapshot, None)], data_dir=demo.data_dir, out_dir=tmp_path / "reports",
                api_key=LEGACY_KEY, settings=Settings(), outcome=outcome)
    assert list(outcome.failed) == ["echo"] and "nothing was published" in outcome.failed["echo"]
    assert outcome.exit_code == 1


@pytest.mark.slow
def test_notebook_kernel_never_sees_the_api_key(
    demo: DemoReport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report needs no key: the kernel starts without PADDLE_API_KEY, so no cell can print it."""
    monkeypatch.setenv("PADDLE_API_KEY", LEGACY_KEY)
    path = two_cell_notebook(tmp_path / "env.ipynb", 'snapshot = "latest"\ndata_dir = ""',
                             'import os\nprint("key in kernel:", os.environ.get("PADDLE_API_KEY"))')
    result = render_report(path, data_dir=demo.data_dir, out_dir=tmp_path / "out", output_name="env")
    assert "key in kernel: None" in result.html.read_text()
    assert os.environ["PADDLE_API_KEY"] == LEGACY_KEY  # restored for the rest of the process


def test_staging_folders_left_by_a_killed_render_are_removed(tmp_path: Path) -> None:
    """An abandoned staging folder holds unscanned output: the next render clears it (a fresh one stays)."""
    from credit_reports.delivery.publish import ABANDONED_AFTER_SECONDS, staging_folder

    out = tmp_path / "reports"
    root = tmp_path / ".reports.staging"  # where renders stage: beside reports/, never inside it
    old, fresh, inside = root / ".render-credit-balances-old", root / ".render-credit-balances-new", \
        out / ".render-credit-balances-legacy"
    for folder in (old, fresh, inside):
        folder.mkdir(parents=True)
        plant("html", folder, PATTERN_KEY)
    stale = old.stat().st_mtime - ABANDONED_AFTER_SECONDS - 60
    os.utime(old, (stale, stale))
    with staging_folder(out, "credit-balances") as stage:
        assert stage.is_dir() and stage.name.startswith(".render-credit-balances-") and stage.parent == root
    assert not old.exists() and fresh.exists() and not stage.exists()
    assert not inside.exists()  # one left inside reports/ (where it may be served) goes at once


# -- the one redaction (credit_reports/redact.py) ------------------------------------------------------


@pytest.mark.parametrize("text, gone", [
    ("Authorization: Bearer abcdefghijklmnop", "abcdefghijklmnop"),
    ('{"authorization": "Bearer zyxwvutsrqponm"}', "zyxwvutsrqponm"),
    ("headers={'Authorization': 'tok_1234567890'}", "tok_1234567890"),
    ("GET https://api.example.com/x?per_page=5&token=hunter2hunter2&after=ctm_1", "hunter2hunter2"),
    ("https://h/?api_key=AAAABBBB", "AAAABBBB"), ("https://h/?x-api-key=CCCCDDDD", "CCCCDDDD"),
    ("https://h/?password=pa55word", "pa55word"), ("https://h/?signature=deadbeef99", "deadbeef99"),
    ("https://h/?client_secret=s3cr3t00", "s3cr3t00"),
    # built at run time: no tracked file holds a string of a live key's shape (the house check looks for one)
    ("key " + "pdl_live" + "_apikey_01gtgztp8fdnz0v9yqy0r3etxx_WjcpZUU0pwNpU1nSkLFQ8W_Ab",
     "01gtgztp8fdnz0v9yqy0r3etxx"),
])
def test_redact_removes_authorization_values_query_secrets_and_key_shapes(text: str, gone: str) -> None:
    from credit_reports.core.redact import REDACTED, redact

    out = redact(text)
    assert gone not in out and REDACTED in out


def test_redact_keeps_ordinary_text_and_removes_a_registered_key_of_any_shape() -> None:
    from credit_reports.core.redact import redact, register_secret

    plain = "GET /customers?per_page=200&after=ctm_01&status=active,archived: 503 (designation=x)"
    assert redact(plain) == plain
    register_secret("legacy0key0without0any0shape")
    assert "legacy0key0without0any0shape" not in redact("upstream echoed legacy0key0without0any0shape back")


def test_every_credit_reports_log_line_is_redacted_when_made(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    import credit_reports.core.errors  # noqa: F401 - installs the record factory

    caplog.set_level(logging.INFO)
    logging.getLogger("credit_reports.anything").warning("server said %s", "Authorization: Bearer sekritsekrit")
    logging.getLogger("other.library").warning("Bearer untouchedvalue")
    assert "sekritsekrit" not in caplog.text and "untouchedvalue" in caplog.text
