"""The report and explore notebooks, executed with papermill on the project kernel (cwd notebooks/).

Snapshots are fetched from the local simulator over real HTTP; expected figures come from the
simulator's ledger (``account.expected_balances()``), summed here by hand, never from the code under
test. One executed notebook per situation is shared across the assertions about it.
"""

from __future__ import annotations

import ast
import html
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import nbformat
import papermill as pm
import pytest
from ledger import currency_sums

from credit_reports.core.errors import UsageError
from credit_reports.fetch.snapshot import fetch_snapshot
from credit_reports.paddle.client import PaddleClient
from credit_reports.simulator import Simulator

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
REPORT = NOTEBOOKS / "credit_balances.ipynb"
EXPLORE = NOTEBOOKS / "explore.ipynb"
KERNEL = "credit-reports"
PARAMETERS = [
    "data_dir", "environment", "snapshot", "compare_to", "period", "timezone", "trend", "allow_open_period",
    "currencies", "cohort", "cohort_file", "min_cohort_size", "rates_file", "reporting_currency", "rate_type",
    "pseudonymize", "show_pii", "title",
]
BANNER = "This report is incomplete"


# ---------------------------------------------------------------------------------------------------
# fixtures: two stores fetched from one simulator, and the executed notebooks


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Store ``two``: two complete snapshots with the account moved on between them.
    Store ``one``: a single snapshot in which two credited customers could not be fetched."""
    two = tmp_path_factory.mktemp("two")
    one = tmp_path_factory.mktemp("one")
    with Simulator(customers=240, seed=21) as sim:
        client = PaddleClient(api_key=sim.api_key, base_url=sim.base_url, max_rpm=2000, rate_window=1.0,
                              max_attempts=1)
        fetch_snapshot(client, data_dir=two, strategy="full", progress=False)
        opening = sim.account.expected_balances()
        sim.advance(5, credits=25, reservations=12, completions=6, cancellations=2, new_customers=4)
        closing_snap = fetch_snapshot(client, data_dir=two, strategy="full", progress=False)
        closing = sim.account.expected_balances()
        customers = [dict(c) for c in sim.account.customers]  # active and archived
        credited = sorted({r["customer_id"] for r in closing})
        failed = credited[:2]
        for customer_id in failed:
            sim.fail_customer(customer_id, status=500)
        incomplete = fetch_snapshot(client, data_dir=one, strategy="full", progress=False)
        client.close()
    assert closing_snap.complete and not incomplete.complete
    return {"two": two, "one": one, "opening": opening, "closing": closing, "failed": failed,
            "customer_ids": credited, "customers": customers}


def _execute(tmp: Path, notebook: Path, **parameters: Any) -> nbformat.NotebookNode:
    out = tmp / f"{notebook.stem}-out.ipynb"
    pm.execute_notebook(str(notebook), str(out), parameters=parameters, kernel_name=KERNEL,
                        cwd=str(NOTEBOOKS), progress_bar=False, log_output=False)
    return nbformat.read(out, as_version=4)


def _outputs_text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            parts.extend(str(data[k]) for k in ("text/html", "text/markdown", "text/plain") if k in data)
            parts.append(str(output.get("text", "")))
    return "\n".join(parts)


def _cell_html(nb: nbformat.NotebookNode, source: str) -> str:
    """The HTML the cell whose source is exactly ``source`` displayed."""
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.strip() == source:
            return "\n".join(o["data"]["text/html"] for o in cell.outputs if "text/html" in o.get("data", {}))
    raise AssertionError(f"no cell {source!r}")


def _rows(table_html: str) -> list[list[str]]:
    """Cell texts of each body row of an HTML table."""
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", table_html, flags=re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
        if cells:
            rows.append([html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in cells])
    return rows


def _usd(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}${abs(minor) // 100:,}.{abs(minor) % 100:02d}"


@pytest.fixture(scope="module")
def rates_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rates") / "rates.csv"
    lines = ["currency,rate,date,source"] + [
        f"{code},{rate},2026-11-25,Test rates"
        for code, rate in {"USD": "1", "EUR": "1.05", "GBP": "1.25", "JPY": "0.0067", "AUD": "0.65",
                           "CAD": "0.72", "BRL": "0.19", "KRW": "0.00072", "CHF": "1.1", "SEK": "0.09",
                           "MXN": "0.055", "INR": "0.012"}.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def executed(stores: dict[str, Any], rates_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every notebook run this module needs, started together: kernels start in parallel on both cores.

    ``report``: the two-snapshot store, pseudonymised, with a converted view into USD; ``incomplete``:
    the single incomplete snapshot, with a title of its own; ``explore``: explore.ipynb on that one-snapshot
    store; ``bad_cohort``: the report with an unknown cohort rule (the exception papermill raised).
    """
    runs = {
        "report": (REPORT, {"data_dir": str(stores["two"]), "rates_file": str(rates_file),
                            "reporting_currency": "USD", "pseudonymize": True}),
        "incomplete": (REPORT, {"data_dir": str(stores["one"]), "title": "Finance review <Q4>"}),
        "explore": (EXPLORE, {"data_dir": str(stores["one"])}),
        "bad_cohort": (REPORT, {"data_dir": str(stores["two"]), "cohort": "nope"}),
    }

    def run(name: str) -> Any:
        notebook, parameters = runs[name]
        try:
            return _execute(tmp_path_factory.mktemp(name), notebook, **parameters)
        except pm.PapermillExecutionError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        futures = {name: pool.submit(run, name) for name in runs}
        return {name: future.result() for name, future in futures.items()}


@pytest.fixture(scope="module")
def report_nb(executed: dict[str, Any]) -> nbformat.NotebookNode:
    return executed["report"]


@pytest.fixture(scope="module")
def incomplete_nb(executed: dict[str, Any]) -> nbformat.NotebookNode:
    return executed["incomplete"]


# ---------------------------------------------------------------------------------------------------
# the notebooks as stored in git


@pytest.mark.parametrize("path", [REPORT, EXPLORE], ids=lambda p: p.name)
def test_notebook_in_git_has_no_outputs_and_uses_the_project_kernel(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == KERNEL
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]


def test_parameters_cell_is_tagged_and_holds_only_documented_literals() -> None:
    nb = nbformat.read(REPORT, as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    source = tagged[0].source
    for statement in ast.parse(source).body:
        assert isinstance(statement, ast.AnnAssign), ast.unparse(statement)
        ast.literal_eval(statement.value)  # raises on anything but a literal
    for line in source.splitlines():
        assert re.match(r"^\w+: \w+ = .+  # \S", line), line
    # papermill (and --help-notebook) must read every parameter with its help text
    inspected = pm.inspect_notebook(str(REPORT))
    assert list(inspected) == PARAMETERS
    assert all(p["help"] for p in inspected.values())


def test_notebook_code_does_no_arithmetic() -> None:
    nb = nbformat.read(REPORT, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code" or "parameters" in cell.metadata.get("tags", []):
            continue
        code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith("%"))
        for node in ast.walk(ast.parse(code)):
            assert not isinstance(node, ast.BinOp | ast.AugAssign), ast.unparse(node)
            if isinstance(node, ast.Attribute):
                assert node.attr not in {"sum", "groupby", "sub", "add", "diff", "agg", "pivot_table"}


# ---------------------------------------------------------------------------------------------------
# the executed report


@pytest.mark.slow
def test_report_executes_without_errors_or_stderr(report_nb: nbformat.NotebookNode) -> None:
    for cell in report_nb.cells:
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error"
            assert output.get("name") != "stderr", output.get("text")


@pytest.mark.slow
def test_totals_table_equals_the_simulator_ledger(report_nb, stores) -> None:
    expected = currency_sums(stores["closing"], holders=True)
    before = currency_sums(stores["opening"])
    rows = {r[0]: r for r in _rows(_cell_html(
        report_nb, 'display(report.headline_table())\ndisplay(report.note("currencies"))'))}
    assert set(rows) == set(expected)
    usd, prior = expected["USD"], before.get("USD", {"outstanding": 0})["outstanding"]
    outstanding = usd["available"] + usd["reserved"]
    assert rows["USD"][1:] == [  # this period's end beside the prior one's; lifetime used is not in it
        _usd(outstanding), _usd(prior), _usd(outstanding - prior), _usd(usd["available"]), _usd(usd["reserved"]),
        f"{usd['customers_with_credit']:,}",
    ]
    jpy = expected["JPY"]  # zero-decimal currency: minor units are yen
    assert rows["JPY"][1] == f"¥{jpy['available'] + jpy['reserved']:,}"
    assert rows["JPY"][4] == f"¥{jpy['available']:,}"


@pytest.mark.slow
def test_roll_forward_table_matches_the_ledger_movement(report_nb, stores) -> None:
    before, after = currency_sums(stores["opening"]), currency_sums(stores["closing"])
    html_text = _cell_html(report_nb, next(
        c.source.strip() for c in report_nb.cells if "roll_forward_table()" in c.source))
    rows = {r[0]: r for r in _rows(html_text)}
    o, c = before.get("USD", {"available": 0, "reserved": 0, "used": 0}), after["USD"]
    opening = o["available"] + o["reserved"]
    closing = c["available"] + c["reserved"]
    used = c["used"] - o["used"]
    issued = (c["available"] + c["reserved"] + c["used"]) - (o["available"] + o["reserved"] + o["used"])
    assert rows["USD"][1:] == [_usd(opening), _usd(issued), _usd(used), _usd(closing)]


@pytest.mark.slow
def test_report_shows_every_section_with_charts_as_2x_png(report_nb) -> None:
    text = _outputs_text(report_nb)
    assert BANNER not in text
    for heading in ("Credit per currency", "Credit per cohort", "Roll-forward", "Trend", "Age of available credit",
                    "Concentration", "Reserved credit", "In one reporting currency"):
        assert any(c.cell_type == "markdown" and heading in c.source for c in report_nb.cells), heading
    images = [o for c in report_nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 6  # totals, cohorts, heatmap, waterfall, trend, ageing: one figure each
    for image in images:
        assert image["metadata"]["image/png"]["width"] > 0  # displayed at half its pixel size
    assert "Test rates" in text and "2026-11-25" in text  # rate source and date beside converted figures


@pytest.mark.slow
def test_pseudonymised_report_shows_no_customer_id_email_or_name(report_nb, stores) -> None:
    text = _outputs_text(report_nb)
    assert "cust_" in text
    assert not re.search(r"ctm_[a-z0-9]{26}", text)
    assert "@" not in re.sub(r"@media|@import|@font-face|@keyframes|@supports", "", text)


@pytest.mark.slow
def test_incomplete_snapshot_shows_the_banner_with_the_failed_count(incomplete_nb, stores) -> None:
    text = _outputs_text(incomplete_nb)
    assert BANNER in text
    assert f"the balances of {len(stores['failed'])} customers could not be fetched" in text
    first_output = next(c for c in incomplete_nb.cells if c.cell_type == "code" and c.get("outputs")
                        and "header" in c.source)
    assert BANNER in _outputs_text(nbformat.v4.new_notebook(cells=[first_output]))
    assert "There is no earlier snapshot of this environment yet" in text  # said plainly, once
    assert "Opening outstanding" not in text  # and no empty roll-forward table or chart


def _headings(nb: nbformat.NotebookNode) -> list[str]:
    """Every H1 the report shows: Markdown cells' ``# `` lines and ``<h1>`` in outputs, in order."""
    found = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            found += [line[2:].strip() for line in cell.source.splitlines() if line.startswith("# ")]
        for output in cell.get("outputs", []):
            text = str(output.get("data", {}).get("text/html", ""))
            found += [html.unescape(h).strip() for h in re.findall(r"<h1[^>]*>(.*?)</h1>", text, flags=re.S)]
    return found


@pytest.mark.slow
def test_title_parameter_is_the_reports_one_heading(report_nb, incomplete_nb) -> None:
    assert _headings(report_nb) == ["Customer credit balances"]  # the default title
    assert _headings(incomplete_nb) == ["Finance review <Q4>"]  # escaped in the HTML, shown as given
    assert "Customer credit balances" not in _outputs_text(incomplete_nb)


@pytest.mark.slow
def test_incomplete_banner_comes_before_the_heading_and_the_intro(incomplete_nb) -> None:
    header = next(c for c in incomplete_nb.cells if c.cell_type == "code" and "report.header()" in c.source)
    shown = "".join(str(o.get("data", {}).get("text/html", "")) for o in header.outputs)
    assert 0 <= shown.index(BANNER) < shown.index("<h1")
    cells = incomplete_nb.cells
    intro = next(i for i, c in enumerate(cells) if c.cell_type == "markdown" and "This close pack shows" in c.source)
    assert cells.index(header) < intro
    assert not any(c.cell_type == "markdown" or c.get("outputs") for c in cells[:cells.index(header)])


@pytest.mark.slow
def test_cohorts_are_sized_by_their_customers_and_small_ones_merged_alike_in_every_currency(stores) -> None:
    from credit_reports.report.preparation import prepare

    minimum = 3  # signups span 45 months (both credit regimes), 240 customers: a few months are small
    # signup month of every customer (created_at is UTC, "...Z"), active and archived, counted by hand
    month = {c["id"]: c["created_at"][:7] for c in stores["customers"]}
    sizes = Counter(month.values())
    small = sorted(m for m, n in sizes.items() if n < minimum)
    assert 0 < len(small) <= 10 and len(small) < len(sizes)  # the situation this test is about
    cohort_of = {cid: "other" if m in small else m for cid, m in month.items()}
    expected_size = {m: n for m, n in sizes.items() if n >= minimum} | {"other": sum(sizes[m] for m in small)}
    holders = Counter((cohort_of[r["customer_id"]], r["currency_code"]) for r in stores["closing"])

    report = prepare(data_dir=str(stores["two"]), compare_to="none", min_cohort_size=minimum)
    assert report.merged_cohorts == [{"cohort": m, "customers": sizes[m]} for m in small]
    rows = report.cohorts.to_dict("records")
    assert {(r["cohort"], r["currency_code"]): r["customers_with_balance"] for r in rows} == dict(holders)
    assert all(r["customers"] == expected_size[r["cohort"]] for r in rows)  # the same n in every currency
    assert report.heatmap.sizes.to_dict() == {c: expected_size[c] for c in report.heatmap.sizes.index}
    assert report.heatmap.available.attrs["merged"] == report.merged_cohorts
    note = report.notes["cohorts"]
    assert f"fewer than {minimum} customers are merged into \"other\"" in note
    for m in small:
        assert f"{m} ({sizes[m]})" in note


@pytest.mark.slow
def test_explore_notebook_executes_against_a_store_with_one_snapshot(executed) -> None:
    nb = executed["explore"]
    assert isinstance(nb, nbformat.NotebookNode), nb
    assert "USD" in _outputs_text(nb)
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o["output_type"] == "error"]


# ---------------------------------------------------------------------------------------------------
# bad parameters fail fast with one clear line


@pytest.mark.slow
def test_unknown_cohort_rule_stops_the_notebook_with_the_usage_error(executed) -> None:
    error = executed["bad_cohort"]
    assert isinstance(error, pm.PapermillExecutionError)
    assert error.ename == "UsageError"
    assert "cohort: unknown rule 'nope'" in error.evalue


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"currencies": ["XXX"]}, "currencies: 'XXX' is not a currency Paddle supports"),
        ({"cohort": "nope"}, "cohort: unknown rule 'nope'"),
        ({"min_cohort_size": 0}, "min_cohort_size must be a whole number of customers, at least 1"),
        ({"snapshot": "yesterday"}, "snapshot 'yesterday' is not 'latest', an as-of like 20261130T235959Z"),
        ({"snapshot": "20200101T000000Z"}, "no snapshot 20200101T000000Z"),
        ({"rates_file": "missing.csv", "reporting_currency": "USD"}, "rates_file: file 'missing.csv'"),
        ({"cohort": "file"}, "cohort = 'file' needs cohort_file"),
        ({"pseudonymize": True, "show_pii": True}, "pseudonymize and show_pii contradict"),
    ],
)
@pytest.mark.slow
def test_bad_parameter_raises_one_line_usage_error(stores, parameters, message) -> None:
    from credit_reports.report.preparation import prepare

    with pytest.raises(UsageError) as caught:
        prepare(data_dir=str(stores["two"]), **parameters)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.slow
def test_rates_without_reporting_currency_is_refused(stores, rates_file) -> None:
    from credit_reports.report.preparation import prepare

    with pytest.raises(UsageError, match="reporting_currency is empty"):
        prepare(data_dir=str(stores["two"]), rates_file=str(rates_file))


@pytest.mark.slow
def test_currency_filter_keeps_only_the_chosen_currencies(stores) -> None:
    from credit_reports.report.preparation import prepare

    report = prepare(data_dir=str(stores["two"]), currencies=["usd", "JPY"], compare_to="none")
    assert list(report.totals["currency_code"]) == ["JPY", "USD"]
    assert set(report.cohorts["currency_code"]) == {"JPY", "USD"}
    assert report.roll_forward is None
    expected = currency_sums(stores["closing"])["USD"]["available"]
    assert int(report.totals.set_index("currency_code").loc["USD", "available"]) == expected
