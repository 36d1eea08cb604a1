"""From a snapshot of the simulator to a published report: issue 2's end-to-end check, and issue 5's
publishing rules (self-contained HTML, no parameters or stderr leaking, failed notebooks, index, size).

Expected figures come from the simulator's ledger (``sim.account.expected_balances()``), summed here by
hand per currency; never from the code under test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from decimal import Decimal
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from bs4 import BeautifulSoup
from ledger import currency_sums
from render_demo import DemoReport, build_demo_report, two_cell_notebook

from credit_reports.core.errors import UsageError
from credit_reports.delivery.render import ReportFailedError, render_report
from credit_reports.figures.privacy import SALT_ENV

pytestmark = pytest.mark.slow

SIZE_BUDGET = 1_500_000  # bytes, issue 5
ZERO_DECIMALS = {"JPY", "KRW"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoReport:
    return build_demo_report(tmp_path_factory.mktemp("demo-report"))


def digits(text: str) -> int:
    """'$1,234.56' -> 123456, '¥380,000' -> 380000: a formatted amount's minor units."""
    return int(re.sub(r"\D", "", text))


def html_table(html: str, header: str) -> list[dict[str, str]]:
    """The rows of the first table whose header row has a column starting with ``header``."""
    soup = BeautifulSoup(html, "html.parser")
    for table in soup.find_all("table"):
        heads = [th.get_text(" ", strip=True) for th in table.find("tr").find_all("th")]
        if any(h.startswith(header) for h in heads):
            rows = []
            for tr in table.find_all("tr")[1:]:
                cells = [td.get_text(" ", strip=True) for td in tr.find_all(["td", "th"])]
                if cells:
                    rows.append(dict(zip(heads, cells, strict=False)))
            return rows
    raise AssertionError(f"no table with a column {header!r} in the report")


def read_html(demo: DemoReport) -> str:
    return demo.result.html.read_text(encoding="utf-8")


# -- the numbers ---------------------------------------------------------------------------------------


def test_html_shows_per_currency_totals_equal_to_the_simulator_ledger(demo: DemoReport) -> None:
    expected = currency_sums(demo.closing_ledger, holders=True)
    assert len(expected) >= 5 and "JPY" in expected  # the demo account's promise
    rows = {row["Currency"]: row for row in html_table(read_html(demo), "Outstanding (available + reserved)")}
    assert set(rows) == set(expected)
    for code, figures in expected.items():
        row = rows[code]
        assert digits(row["Available"]) == figures["available"], code
        assert digits(row["Reserved"]) == figures["reserved"], code
        assert digits(row["Used"]) == figures["used"], code
        assert digits(row["Outstanding (available + reserved)"]) == figures["outstanding"], code
        assert digits(row["Customers holding credit"]) == figures["customers_with_credit"], code
        if code in ZERO_DECIMALS:
            assert "." not in row["Available"], f"{code} has no minor unit: {row['Available']}"
        else:
            assert re.search(r"\.\d\d$", row["Available"]), f"{code} shows two decimals: {row['Available']}"


def test_manifest_headline_and_roll_forward_equal_the_ledger(demo: DemoReport) -> None:
    manifest = json.loads(demo.result.manifest.read_text())
    closing = currency_sums(demo.closing_ledger, holders=True)
    opening = currency_sums(demo.opening_ledger, holders=True)
    for code, figures in closing.items():
        for field in ("available", "reserved", "used", "outstanding", "customers_with_credit"):
            assert manifest["headline"][code][field] == figures[field], (code, field)
    for code, figures in closing.items():
        before = opening.get(code, {"available": 0, "reserved": 0, "used": 0, "outstanding": 0})
        issued = (figures["available"] + figures["reserved"] + figures["used"]) - (
            before["available"] + before["reserved"] + before["used"])
        rf = manifest["roll_forward"][code]
        assert set(rf) == {"opening", "issued", "used", "closing", "reversed", "expected_closing", "unexplained",
                           "evidence"}, code
        # issued is gross of reversals when movements evidence it (reversed 0 when derived from balances)
        assert (rf["opening"], rf["issued"] - rf["reversed"], rf["used"], rf["closing"]) == (
            before["outstanding"], issued, figures["used"] - before["used"], figures["outstanding"]), code
        if rf["evidence"]:
            assert (rf["expected_closing"], rf["unexplained"]) == (figures["outstanding"], 0), code
        else:  # never dressed up as reconciled
            assert (rf["expected_closing"], rf["unexplained"]) == (None, None), code
    as_of = pd.Timestamp(manifest["snapshot"]["as_of"])
    assert demo.result.directory.name == as_of.strftime("%Y-%m-%dT%H%M%SZ")  # one folder per snapshot
    assert manifest["snapshot"]["complete"] is True
    assert manifest["snapshot"]["environment"] == demo.environment
    assert manifest["snapshot"]["path"].endswith(demo.snapshot_name)
    assert manifest["parameters"]["snapshot"] == demo.snapshot_name
    assert set(manifest["files"]) <= {p.name for p in demo.result.directory.iterdir()}
    assert demo.result.html.name == "credit-balances.html"
    assert demo.result.manifest.name == "manifest.json"


def test_exports_read_back_with_pandas_equal_the_tables_shown(demo: DemoReport) -> None:
    expected = currency_sums(demo.closing_ledger, holders=True)
    shown = {row["Currency"]: row for row in html_table(read_html(demo), "Outstanding (available + reserved)")}
    folder = demo.result.directory
    csv = pd.read_csv(folder / "credit-balances.totals.csv", dtype=str).set_index("currency_code")
    xlsx = pd.read_excel(folder / "credit-balances.xlsx", sheet_name="Credit per currency").set_index("Currency")
    assert set(csv.index) == set(xlsx.index) == set(expected)
    for code, figures in expected.items():
        scale = 1 if code in ZERO_DECIMALS else 100
        for field, label in (("available", "Available"), ("reserved", "Reserved"), ("used", "Used"),
                             ("outstanding", "Outstanding (available + reserved)")):
            from_csv = Decimal(csv.loc[code, field]) * scale
            minor_csv = int(csv.loc[code, f"{field}_minor"])
            from_xlsx = Decimal(str(xlsx.loc[code, label])) * scale
            assert from_csv == minor_csv == from_xlsx == figures[field] == digits(shown[code][label]), (code, field)
    # number formats follow each currency's decimals
    from openpyxl import load_workbook

    sheet = load_workbook(folder / "credit-balances.xlsx")["Credit per currency"]
    header = [c.value for c in sheet[1]]
    col = header.index("Available") + 1
    formats = {sheet.cell(row=r, column=1).value: sheet.cell(row=r, column=col).number_format
               for r in range(2, sheet.max_row + 1)}
    assert formats["JPY"] == "#,##0" and formats["USD"] == "#,##0.00"


# -- what must not travel --------------------------------------------------------------------------------


def test_executed_notebook_keeps_no_injected_parameters(demo: DemoReport) -> None:
    nb = nbformat.read(demo.result.notebook, as_version=4)
    tags = [t for cell in nb.cells for t in cell.metadata.get("tags", [])]
    assert "injected-parameters" not in tags
    assert "parameters" not in nb.metadata.get("papermill", {})
    assert demo.snapshot_name not in json.dumps(nb.metadata)
    sources = "\n".join(cell.source for cell in nb.cells)
    assert "# Parameters" not in sources  # papermill's injected-cell header
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert not (out.get("output_type") == "stream" and out.get("name") == "stderr")


def test_html_has_no_code_prompts_warnings_or_stderr(demo: DemoReport) -> None:
    html = read_html(demo)
    soup = BeautifulSoup(html, "html.parser")
    assert not soup.select(
        ".jp-CodeCell .jp-InputArea, .jp-InputPrompt, .jp-OutputPrompt, .jp-CodeMirrorEditor, .highlight"
    )
    text = soup.get_text(" ")
    for fragment in ("import ", "credit_report.prepare", "display(", "charts.balance_bars", "%matplotlib"):
        assert fragment not in text, fragment
    assert "Warning" not in html and "Traceback" not in html
    assert 'data-mime-type="application/vnd.jupyter.stderr"' not in html


def test_html_loads_nothing_from_anywhere(demo: DemoReport) -> None:
    html = read_html(demo)
    fetching = re.findall(
        r"<(?:script|img|link|iframe|source|video|audio|embed|object|input)\b[^>]*?"
        r"\b(?:src|href|data|srcset)\s*=\s*[\"']?\s*(?:https?:)?//[^\"'\s>]*", html, re.I)
    assert fetching == []
    assert re.findall(r"url\(\s*[\"']?(?:https?:)?//", html, re.I) == []
    assert re.findall(r"@import", html, re.I) == []
    # one inline script, no loader: it opens the folded appendix when the reader prints from the browser
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.I | re.S)
    assert len(scripts) == 1 and scripts[0][0].strip() == "", scripts
    assert "beforeprint" in scripts[0][1] and "afterprint" in scripts[0][1]
    assert "require.min.js" not in html and "mathjax" not in html.lower()
    # the styling stays, inline
    assert "<style" in html and ".jp-RenderedHTMLCommon" in html
    # charts are embedded PNGs, with alt text
    soup = BeautifulSoup(html, "html.parser")
    images = soup.find_all("img")
    assert images and all(img["src"].startswith("data:image/png;base64,") for img in images)
    assert all(img.get("alt", "").startswith("Chart") for img in images)


def test_demo_report_fits_the_size_budget(demo: DemoReport) -> None:
    size = demo.result.html.stat().st_size
    assert size <= SIZE_BUDGET, f"demo report is {size:,} bytes, budget {SIZE_BUDGET:,}"


def test_index_lists_the_report_with_outstanding_credit_and_a_link_that_resolves(demo: DemoReport) -> None:
    index = demo.out_dir / "index.html"
    soup = BeautifulSoup(index.read_text(), "html.parser")
    links = [a["href"] for a in soup.find_all("a") if a["href"].endswith(".html")]
    assert links == [f"{demo.result.directory.name}/credit-balances.html"]
    assert (demo.out_dir / links[0]).resolve() == demo.result.html.resolve()
    text = soup.get_text(" ")
    expected = currency_sums(demo.closing_ledger, holders=True)
    listed = {digits(li.get_text(" ").split(" ", 1)[1]): li.get_text(" ")
              for li in soup.select("ul.money li")}
    for code, figures in expected.items():
        assert figures["outstanding"] in listed, code
        assert listed[figures["outstanding"]].startswith(code)
    assert "http" not in "".join(links) and "<script" not in index.read_text()
    assert demo.snapshot_name in text


# -- bad input ---------------------------------------------------------------------------------------------


def test_undeclared_parameter_is_refused_naming_it_and_the_valid_ones(
    demo: DemoReport, tmp_path: Path
) -> None:
    with pytest.raises(UsageError) as info:
        render_report(parameters={"colour": "red"}, data_dir=demo.data_dir, out_dir=tmp_path)
    message = str(info.value)
    assert "colour" in message and "currencies" in message and "cohort" in message
    assert "\n" not in message
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("name", ["api_key", "PADDLE_API_KEY", "token", "authToken", "client_secret",
                                  "password", "auth"])
def test_credential_like_parameter_is_refused(demo: DemoReport, tmp_path: Path, name: str) -> None:
    with pytest.raises(UsageError, match="credential") as info:
        render_report(parameters={name: "x" * 40}, data_dir=demo.data_dir, out_dir=tmp_path)
    assert name in str(info.value) and "x" * 40 not in str(info.value)
    assert not any(tmp_path.iterdir())


def test_unknown_notebook_name_is_a_usage_error(demo: DemoReport, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="credit_balances"):
        render_report("no_such_report", data_dir=demo.data_dir, out_dir=tmp_path)


# -- failure keeps the last good report ------------------------------------------------------------------


def failing_copy(repo_root: Path, folder: Path) -> Path:
    """The report notebook with a cell that raises right after the figures are prepared."""
    nb = nbformat.read(repo_root / "notebooks" / "credit_balances.ipynb", as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "prepare(" in c.source) + 1
    nb.cells.insert(at, nbformat.v4.new_code_cell('raise RuntimeError("the report broke on purpose")'))
    path = folder / "credit_balances_broken.ipynb"
    nbformat.write(nb, path)
    return path


def test_failing_notebook_leaves_the_last_good_report_and_the_index(
    demo: DemoReport, repo_root: Path, tmp_path: Path
) -> None:
    folder = demo.result.directory
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    index_before = (demo.out_dir / "index.html").read_bytes()
    broken = failing_copy(repo_root, tmp_path)
    with pytest.raises(ReportFailedError) as info:
        render_report(
            broken,
            parameters={"snapshot": demo.snapshot_name, "environment": demo.environment},
            data_dir=demo.data_dir, out_dir=demo.out_dir, api_key=demo.api_key,
        )
    assert "RuntimeError" in str(info.value) and "the report broke on purpose" in str(info.value)
    kept = demo.out_dir / "failed" / folder.name / "credit-balances.failed.ipynb"  # never inside a published folder
    assert info.value.failed_notebook == kept and kept.is_file()
    after = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert after == before  # the published report, exports and manifest untouched
    assert (demo.out_dir / "index.html").read_bytes() == index_before
    failed = nbformat.read(kept, as_version=4)
    errors = [o for c in failed.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors and errors[0]["ename"] == "RuntimeError"
    assert not any("injected-parameters" in c.metadata.get("tags", []) for c in failed.cells)
    assert not [p for p in demo.out_dir.iterdir() if p.name.startswith(".render-")]
    assert not list((demo.out_dir.parent / f".{demo.out_dir.name}.staging").iterdir())


def test_next_good_render_replaces_the_failed_notebook(demo: DemoReport, tmp_path: Path) -> None:
    """A tiny notebook renders fast: publishing clears the failed notebook of the same report name."""
    path = two_cell_notebook(tmp_path / "tiny.ipynb", 'snapshot = "latest"\nenvironment = ""\ndata_dir = ""\n'
                             'title = "Tiny"', "print(title, snapshot)")
    out = tmp_path / "reports"
    shutil.copytree(demo.out_dir, out)
    failed = out / "failed" / demo.result.directory.name / "tiny.failed.ipynb"
    failed.parent.mkdir(parents=True, exist_ok=True)
    failed.write_text("{}")
    result = render_report(path, parameters={"title": "Tiny report"}, data_dir=demo.data_dir, out_dir=out,
                           output_name="tiny")
    assert not failed.exists()
    assert result.manifest.name == "tiny.manifest.json"
    assert f"Tiny report {demo.snapshot_name}" in result.html.read_text()
    index = (out / "index.html").read_text()
    assert "tiny.html" in index and "credit-balances.html" in index


def tiny_notebook(folder: Path) -> Path:
    """A report of two cells: renders in a couple of seconds."""
    parameters = 'snapshot = "latest"\ndata_dir = ""\ntitle = "Tiny"'
    return two_cell_notebook(folder / "tiny.ipynb", parameters, "print(title)")


def test_missing_kernel_falls_back_to_this_interpreter_with_a_warning(
    demo: DemoReport, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="credit_reports.render"):
        result = render_report(tiny_notebook(tmp_path), data_dir=demo.data_dir, out_dir=tmp_path / "out",
                               output_name="tiny", kernel_name="no-such-kernel-registered")
    assert "Tiny" in result.html.read_text()
    # a notebook that hands nothing over still gets its exports: the render prepares the report itself
    assert any("preparing it here" in r.getMessage() for r in caplog.records)
    assert (result.directory / "tiny.totals.csv").is_file()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("no-such-kernel-registered" in w and "is not registered" in w for w in warnings), warnings


def test_bad_parameter_value_is_a_usage_error_before_any_kernel_starts(
    demo: DemoReport, tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match="XYZ"):
        render_report(parameters={"currencies": ["XYZ"]}, data_dir=demo.data_dir, out_dir=tmp_path)
    assert not any(tmp_path.iterdir())


def test_resource_check_flags_every_way_a_page_loads_from_elsewhere() -> None:
    from credit_reports.delivery.render import external_resources

    page = """<html><head>
    <script src="https://cdn.example.com/require.js"></script>
    <link rel="stylesheet" href="//fonts.example.com/font.css">
    <style>body { background: url('http://img.example.com/bg.png') } @import "https://x.example/a.css";</style>
    </head><body>
    <img src="data:image/png;base64,AAAA"><img srcset="a.png 1x, https://img.example.com/b.png 2x">
    <iframe src="https://frame.example.com/"></iframe>
    <div style="background-image: url(https://img.example.com/c.png)"></div>
    <a href="https://developer.paddle.com/">a link loads nothing until clicked</a>
    </body></html>"""
    found = external_resources(page)
    assert found == [
        "https://cdn.example.com/require.js", "//fonts.example.com/font.css", "http://img.example.com/bg.png",
        "https://x.example/a.css", "https://img.example.com/b.png", "https://frame.example.com/",
        "https://img.example.com/c.png",
    ]
    clean = '<p><a href="https://example.com">x</a><img src="data:image/png;base64,A"></p>'
    assert external_resources(clean) == []


def test_index_lists_reports_newest_first_and_skips_unpublished_ones(tmp_path: Path) -> None:
    from credit_reports.delivery.index import build_index

    def publish(day: str, name: str, as_of: str, outstanding: int, html: bool = True) -> None:
        folder = tmp_path / day
        folder.mkdir(exist_ok=True)
        manifest = "manifest.json" if name == "credit-balances" else f"{name}.manifest.json"
        (folder / manifest).write_text(json.dumps({
            "report": name, "title": f"Title {name} {day}", "snapshot": {"as_of": as_of, "complete": True},
            "headline": {"JPY": {"outstanding": outstanding}}, "rendered_at": as_of,
        }))
        if html:
            (folder / f"{name}.html").write_text("<html></html>")

    publish("2026-10-01", "credit-balances", "2026-10-01T06:00:00Z", 1000)
    publish("2026-11-01", "credit-balances", "2026-11-01T06:00:00Z", 2000)
    publish("2026-11-01", "by-plan", "2026-11-01T06:00:00Z", 3000)
    publish("2026-11-02", "credit-balances", "2026-11-02T06:00:00Z", 4000, html=False)  # half-written
    publish(".render-credit-balances-x", "credit-balances", "2026-12-01T06:00:00Z", 5000)  # staging
    soup = BeautifulSoup(build_index(tmp_path).read_text(), "html.parser")
    links = [a["href"] for a in soup.find_all("a")]
    assert links == [
        "2026-11-01/credit-balances.html", "2026-11-01/by-plan.html", "2026-10-01/credit-balances.html"
    ]
    amounts = [li.get_text(" ", strip=True) for li in soup.select("ul.money li")]
    assert amounts == ["JPY ¥2,000", "JPY ¥3,000", "JPY ¥1,000"]
    assert all((tmp_path / link).is_file() for link in links)


def test_pseudonymized_report_and_its_exports_use_the_same_pseudonyms_and_no_customer_ids(
    demo: DemoReport, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The kernel prepares the report once and hands its exports over: this process prepares nothing."""
    with caplog.at_level("INFO", logger="credit_reports.render"):
        result = render_report(parameters={"snapshot": demo.snapshot_name, "pseudonymize": True},
                               data_dir=demo.data_dir, out_dir=tmp_path, output_name="private")
    assert not [r for r in caplog.records if "preparing it here" in r.getMessage()]
    html = result.html.read_text()
    exported = pd.read_csv(result.directory / "private.concentration.csv", dtype=str)
    shown = set(re.findall(r"\b[a-z]+_[0-9a-f]{12}\b", html))
    assert set(exported["customer_id"]) and set(exported["customer_id"]) <= shown
    customer_ids = {row["customer_id"] for row in demo.closing_ledger}
    for path in result.directory.iterdir():
        text = path.read_text(errors="ignore") if path.suffix != ".xlsx" else ""
        assert not any(cid in text for cid in customer_ids), path.name
    assert SALT_ENV not in os.environ  # the render's own salt is gone with it


def test_hung_cell_fails_the_report_instead_of_hanging_the_schedule(
    demo: DemoReport, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import credit_reports.delivery.notebook_run as notebook_run

    monkeypatch.setattr(notebook_run, "CELL_TIMEOUT_SECONDS", 1)
    nb = nbformat.read(tiny_notebook(tmp_path), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import time\ntime.sleep(30)"))
    path = tmp_path / "hung.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(ReportFailedError, match="(?i)timed out|timeout"):
        render_report(path, data_dir=demo.data_dir, out_dir=tmp_path / "out", output_name="hung")
    assert not (tmp_path / "out" / "index.html").exists()


def test_the_footer_says_when_the_report_was_rendered_in_whole_seconds(demo: DemoReport) -> None:
    footer = BeautifulSoup(read_html(demo), "html.parser").find("footer", class_="credit-reports-footer")
    assert footer is not None
    assert re.search(r" rendered \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ by credit-reports ", footer.get_text()), footer
