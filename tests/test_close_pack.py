"""The month-end close pack: what a controller signs and books (issue 18).

One render of the demo-size report (tests/render_demo.py: two snapshots fetched from the simulator over
real HTTP) with a rates file, ``[close]`` names and accounts, ``[publish] base_url`` and the PDF; the
simulator's ledger at both snapshots is the expected answer, and rates are numbers chosen here, so every
converted figure is worked out by hand in the test. Unit tests pin the translation and the journal on
numbers small enough to check on paper.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from bs4 import BeautifulSoup
from ledger import currency_sums
from render_demo import DemoReport, build_demo_report

from credit_reports.core.errors import UsageError
from credit_reports.core.money import minor_unit_decimals
from credit_reports.delivery.config import CloseSettings
from credit_reports.figures import journal, translation
from credit_reports.figures.journal import Accounts

ACCOUNTS = Accounts(liability="2400 Customer credit", issued="4090 Proration credit", reversed="4091 Credit reversed",
                    used="1200 Receivables", translation="7950 FX translation")
CLOSE = CloseSettings(entity="Example GmbH", prepared_by="Ann Preparer", reviewed_by="Bob Reviewer",
                      accounts=ACCOUNTS, accounts_configured=True)
BASE_URL = "https://reports.example.com/credit"
#: Hand-picked rates into EUR: the opening day's, an average over the period, and the closing day's.
OPENING_RATE, AVERAGE_RATE, CLOSING_RATE = Decimal("0.90"), Decimal("0.92"), Decimal("0.95")


# ---------------------------------------------------------------------------------------------------
# the translation and the journal on paper


def _rates(tmp_path: Path, rows: str) -> list[translation.Rate]:
    path = tmp_path / "rates.csv"
    path.write_text("currency,rate,date,source,type\n" + rows, encoding="utf-8")
    return translation.load_rate_history(path)


ROLL = pd.DataFrame({"currency_code": ["USD", "EUR"], "opening": [10_000, 5_000], "issued": [5_000, 1_000],
                     "reversed": [0, 0], "used": [2_000, 500], "unexplained": [0, 0], "closing": [13_000, 5_500]})


def test_translation_opens_at_the_opening_rate_moves_at_the_average_and_closes_at_the_closing_rate(tmp_path):
    rates = _rates(tmp_path, "USD,0.90,2026-10-31,ECB,spot\nUSD,0.92,2026-11-30,ECB average,average\n"
                             "USD,0.95,2026-11-30,ECB,spot\n")
    table, note = translation.translate(ROLL, rates, "EUR", opening_date=dt.date(2026, 10, 31),
                                        closing_date=dt.date(2026, 11, 30), rate_type="average")
    usd = table[table["currency_code"] == "USD"].iloc[0]
    # $100.00 x 0.90 = 90.00; $50.00 x 0.92 = 46.00; $20.00 x 0.92 = 18.40; $130.00 x 0.95 = 123.50
    assert (usd["opening_converted"], usd["issued_converted"], usd["used_converted"], usd["closing_converted"]) == (
        9_000, 4_600, 1_840, 12_350)
    assert usd["translation_converted"] == 12_350 - 9_000 - 4_600 + 1_840 == 590  # rates alone: EUR 5.90
    eur = table[table["currency_code"] == "EUR"].iloc[0]
    assert eur["translation_converted"] == 0 and eur["closing_converted"] == 5_500
    total = table[table["currency_code"] == "TOTAL"].iloc[0]
    assert total["closing_converted"] == 12_350 + 5_500 and total["translation_converted"] == 590
    assert usd["opening_rate_date"] == "2026-10-31" and usd["movement_rate_source"] == "ECB average"
    assert "average" in note


def test_spot_translation_takes_each_movement_at_its_days_rate(tmp_path):
    rates = _rates(tmp_path, "USD,0.90,2026-10-31,ECB,spot\nUSD,0.91,2026-11-10,ECB,spot\n"
                             "USD,0.95,2026-11-30,ECB,spot\n")
    moves = pd.DataFrame({"currency_code": ["USD", "USD", "USD"], "kind": ["issued", "issued", "used"],
                          "amount": [3_000, 2_000, 2_000],
                          "occurred_at": pd.to_datetime(["2026-11-05T10:00Z", "2026-11-20T10:00Z",
                                                         "2026-11-25T10:00Z"], utc=True)})
    table, _ = translation.translate(ROLL[ROLL["currency_code"] == "USD"], rates, "EUR", rate_type="spot",
                                     opening_date=dt.date(2026, 10, 31), closing_date=dt.date(2026, 11, 30),
                                     movements=moves)
    usd = table.iloc[0]
    assert usd["issued_converted"] == 2_700 + 1_820  # $30 at 0.90 (5 Nov: the 31 Oct rate), $20 at 0.91
    assert usd["used_converted"] == 1_820
    assert usd["translation_converted"] == 12_350 - 9_000 - 4_520 + 1_820


def test_a_missing_opening_or_average_rate_is_one_line_naming_currency_and_day(tmp_path):
    rates = _rates(tmp_path, "USD,0.95,2026-11-30,ECB,spot\n")
    with pytest.raises(UsageError, match=r"no spot rate for USD on or before 2026-10-31") as info:
        translation.translate(ROLL, rates, "EUR", opening_date=dt.date(2026, 10, 31),
                              closing_date=dt.date(2026, 11, 30))
    assert "\n" not in str(info.value)
    rates = _rates(tmp_path, "USD,0.90,2026-10-31,ECB,spot\nUSD,0.95,2026-11-30,ECB,spot\n")
    with pytest.raises(UsageError, match="no average rate for USD"):
        translation.translate(ROLL, rates, "EUR", opening_date=dt.date(2026, 10, 31),
                              closing_date=dt.date(2026, 11, 30), rate_type="average")


def test_every_journal_entry_balances_and_books_each_line_on_the_configured_accounts(tmp_path):
    roll = ROLL.assign(reversed=[300, 0], issued=[5_000, 200], evidence=True)
    trans = pd.DataFrame({"currency_code": ["USD", "EUR", "TOTAL"], "reporting_currency": ["EUR"] * 3,
                          "issued_converted": [4_600, 200, 4_800], "reversed_converted": [276, 0, 276],
                          "used_converted": [1_840, 500, 2_340], "movement_rate": ["0.92", "1", None],
                          "translation_converted": [-590, 0, -590]})
    entries = journal.entries(roll, ACCOUNTS, date="2026-11-30", period="November 2026", reference="CR-2026-11",
                              translation=trans)
    assert journal.unbalanced(entries) == []
    lines = {(e, a): (d, c) for e, a, d, c in entries[["entry", "account", "debit", "credit"]].itertuples(index=False)}
    assert lines[("CR-2026-11-USD-ISSUED", "4090 Proration credit")] == (5_000, 0)
    assert lines[("CR-2026-11-USD-ISSUED", "2400 Customer credit")] == (0, 5_000)
    assert lines[("CR-2026-11-USD-REVERSED", "2400 Customer credit")] == (300, 0)
    assert lines[("CR-2026-11-USD-REVERSED", "4091 Credit reversed")] == (0, 300)
    assert lines[("CR-2026-11-USD-USED", "2400 Customer credit")] == (2_000, 0)
    assert lines[("CR-2026-11-USD-USED", "1200 Receivables")] == (0, 2_000)
    assert lines[("CR-2026-11-EUR-ISSUED", "2400 Customer credit")] == (0, 200)
    # the USD liability fell in EUR: debit the liability, credit the translation account, in EUR
    assert lines[("CR-2026-11-USD-FX", "2400 Customer credit")] == (590, 0)
    fx = entries[entries["entry"] == "CR-2026-11-USD-FX"]
    assert set(fx["currency_code"]) == {"EUR"} and set(fx["source_currency"]) == {"USD"}
    assert not (entries["entry"] == "CR-2026-11-EUR-REVERSED").any()  # nothing to book: no entry
    assert (entries[["debit", "credit"]] >= 0).all().all()
    assert set(entries["date"]) == {dt.date(2026, 11, 30)}  # a date, so the workbook writes a real date


def test_no_entry_is_booked_from_a_window_without_evidence_or_a_negative_issued_or_used():
    roll = ROLL.assign(reversed=[0, 0], issued=[5_000, -200], evidence=[False, True])
    assert journal.withheld(roll) == {"USD": "the roll-forward has no event evidence (derived from balances)",
                                      "EUR": "issued is negative, which no credit movement can be"}
    entries = journal.entries(roll, ACCOUNTS, date="2026-11-30", period="November 2026", reference="CR-2026-11")
    assert entries.empty


def test_with_a_reporting_currency_every_line_carries_both_amounts_and_its_rate():
    roll = ROLL.assign(reversed=[0, 0], evidence=True)
    # hand-made translation: USD movements at 0.92 into EUR; EUR is the reporting currency (rate 1)
    trans = pd.DataFrame({
        "currency_code": ["USD", "EUR", "TOTAL"], "reporting_currency": ["EUR"] * 3,
        "issued_converted": [2_760, 0, 2_760], "reversed_converted": [0, 0, 0], "used_converted": [1_840, 0, 1_840],
        "translation_converted": [-590, 0, -590], "movement_rate": ["0.92", "1", None]})
    roll = roll.assign(issued=[3_000, 0], used=[2_000, 0])
    entries = journal.entries(roll, ACCOUNTS, date="2026-11-30", period="November 2026", reference="CR-2026-11",
                              translation=trans)
    issued = entries[entries["entry"] == "CR-2026-11-USD-ISSUED"].set_index("line")
    assert issued.loc[2, "credit"] == 3_000 and issued.loc[2, "credit_converted"] == 2_760
    assert issued.loc[1, "debit_converted"] == 2_760 and set(issued["rate"]) == {"0.92"}
    used = entries[entries["entry"] == "CR-2026-11-USD-USED"].set_index("line")
    assert used.loc[1, "debit"] == 2_000 and used.loc[1, "debit_converted"] == 1_840
    assert set(entries["reporting_currency"]) == {"EUR"}
    assert journal.unbalanced(entries) == []


def test_entry_numbers_name_the_period_so_a_month_its_quarter_and_two_windows_never_collide():
    assert journal.period_key("November 2026") == "2026-11"
    assert journal.period_key("Q4 2026") == "2026-Q4"
    assert journal.period_key("2026") == "2026"
    one = journal.period_key("", pd.Timestamp("2026-11-29T06:15Z"), pd.Timestamp("2026-11-30T06:15Z"))
    two = journal.period_key("", pd.Timestamp("2026-11-30T06:15Z"), pd.Timestamp("2026-12-01T06:15Z"))
    assert one == "20261129T061500Z-20261130T061500Z" and one != two
    assert journal.entry_reference("2026-11") == "CR-2026-11"
    assert journal.entry_reference("2026-11", 2) == "CR-2026-11-V2"


def test_a_re_rendered_period_keeps_its_numbers_and_changed_figures_take_the_next_version(tmp_path):
    import json

    from credit_reports.delivery.close_pack import journal_reference

    roll = ROLL.assign(reversed=[0, 0], evidence=True)
    reference, info = journal_reference(tmp_path, "2026-11", roll, None)
    assert reference == "CR-2026-11" and info["version"] == 1
    (tmp_path / "2026-11-30T235959Z").mkdir()
    (tmp_path / "2026-11-30T235959Z" / "manifest.json").write_text(json.dumps({"journal": info}))
    assert journal_reference(tmp_path, "2026-11", roll, None)[0] == "CR-2026-11"  # same figures, same numbers
    changed = roll.assign(issued=roll["issued"] + 1)
    assert journal_reference(tmp_path, "2026-11", changed, None)[0] == "CR-2026-11-V2"
    assert journal_reference(tmp_path, "2026-Q4", roll, None)[0] == "CR-2026-Q4"  # another period: no version


def test_a_gl_balance_that_differs_from_the_sub_ledger_after_reconciling_items_is_an_attention():
    from credit_reports.delivery.close_pack import gl_tieout, pack_checks
    from credit_reports.delivery.config import GlLine
    from credit_reports.report.alerts import attention_reasons
    from credit_reports.report.status import checks_json

    day = dt.date(2026, 11, 30)
    settings = CloseSettings(accounts=ACCOUNTS, accounts_configured=True, gl=(
        GlLine(day, "USD", "balance", 10_000), GlLine(day, "USD", "reconciling", 250, description="JE-7 late"),
        GlLine(day, "EUR", "balance", 4_000), GlLine(dt.date(2026, 10, 31), "EUR", "balance", 1)))
    headline = {"USD": {"outstanding": 10_250}, "EUR": {"outstanding": 4_100}}
    tie = gl_tieout(settings, headline, day).set_index("currency_code")
    assert tie.loc["USD", "difference"] == 0 and tie.loc["EUR", "difference"] == 100
    assert tie.loc["EUR", "gl_balance"] == 4_000  # the 31 Oct balance is another day's
    checks = pack_checks({"gl_tieout": tie.reset_index()}, headline, settings)
    reasons = attention_reasons({"extra": {}, "checks": checks_json(checks)})
    assert reasons == ["GL tie-out check off by \u20ac1.00 (EUR on 2400 Customer credit): see GL tie-out (under the "
                       "sign-off, and its sheet)"]


def test_a_failed_reserved_check_is_an_attention_even_when_nothing_is_unexplained():
    from credit_reports.delivery.close_pack import pack_checks
    from credit_reports.report.alerts import attention_reasons
    from credit_reports.report.status import checks_json

    # issue 24: a seller credit stored as reserved; roll-forward reconciles, reserved is off by $15.54
    roll = pd.DataFrame({"currency_code": ["USD"], "opening": [10_000], "issued": [777], "reversed": [0],
                         "used": [0], "closing": [10_777], "unexplained": [0], "used_change": [0],
                         "used_difference": [0], "reserved_expected": [1_554], "reserved": [0],
                         "reserved_difference": [-1_554], "evidence": [True]})
    checks = pack_checks({"roll_forward": roll}, {"USD": {"outstanding": 10_777}}, CloseSettings())
    manifest = {"roll_forward": {"USD": {"opening": 10_000, "closing": 10_777, "unexplained": 0}},
                "checks": checks_json(checks)}
    assert attention_reasons(manifest) == [
        "reserved check off by -$15.54 (USD): see Roll-forward, reserved check (reserved balance against open "
        "invoices)"]


def test_the_workbook_cuts_a_sheet_at_the_row_limit_and_says_where_every_row_is(tmp_path):
    from openpyxl import load_workbook

    from credit_reports.delivery.exports import major_units_table
    from credit_reports.delivery.workbook import write_workbook

    ledger = pd.DataFrame({"currency_code": ["EUR"] * 30, "customer_id": [f"ctm_{i:03d}" for i in range(30)],
                           "outstanding": list(range(30))})
    data = major_units_table(ledger)
    path = write_workbook(tmp_path / "cut.xlsx", {"customer_subledger": data}, max_rows=12,
                          titles={"customer_subledger": "Customer sub-ledger"},
                          headers={"customer_subledger": ["Currency", "Customer", "Outstanding"]},
                          csv_names={"customer_subledger": "x.customer-subledger.csv"})
    sheet = load_workbook(path)["Customer sub-ledger"]
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 12  # never past the limit: header, 10 rows, the note
    note = rows[-1][0]
    assert note.startswith("Cut at Excel's row limit: 10 of 30 rows") and "x.customer-subledger.csv" in note


# ---------------------------------------------------------------------------------------------------
# the rendered pack


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoReport:
    return build_demo_report(tmp_path_factory.mktemp("demo-report"))


def _day(as_of: Any) -> str:
    return pd.Timestamp(as_of).tz_convert("UTC").strftime("%Y-%m-%d")


@pytest.fixture(scope="module")
def pack(demo: DemoReport, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo report rendered as a close pack: rates into EUR, names, accounts, base URL and the PDF."""
    from credit_reports.delivery.render import render_report

    folder = tmp_path_factory.mktemp("pack")
    rates = folder / "rates.csv"  # both snapshots fall on one day: one rate per currency serves both ends
    rates.write_text("currency,rate,date,source\n" + "".join(
        f"{code},{CLOSING_RATE},2026-01-01,Test rate\n" for code in ("AUD", "BRL", "CAD", "GBP", "JPY", "KRW", "USD")),
        encoding="utf-8")
    result = render_report(
        parameters={"snapshot": demo.snapshot_name, "environment": demo.environment, "rates_file": str(rates),
                    "reporting_currency": "EUR", "rate_type": "spot"},
        data_dir=demo.data_dir, out_dir=folder / "reports", output_name="close", close=CLOSE, base_url=BASE_URL,
        pdf=shutil.which("chromium") is not None,
    )
    return {"result": result, "folder": folder, "html": result.html.read_text(encoding="utf-8")}


def _text(page: str) -> str:
    return BeautifulSoup(page, "html.parser").get_text(" ")


MACHINERY = [
    (r"PosixPath\(|WindowsPath\(|PurePath\(", "a path repr"),
    (r"<[A-Za-z_][\w.]* object at 0x[0-9a-f]+>", "an object repr"),
    (r"\bpickle\b|\.pickle", "a pickle"),
    (r"Traceback \(most recent call last\)|\bWarning: |\w+Warning\b", "a warning or traceback"),
    (r"\bReport\(|\bSnapshot\(|\bParameters\(", "a dataclass repr"),
]


@pytest.mark.slow
@pytest.mark.parametrize("which", ["demo", "pack"])
def test_no_repr_path_pickle_warning_or_stderr_shows_anywhere_in_the_report(demo, pack, which) -> None:
    page = demo.result.html.read_text(encoding="utf-8") if which == "demo" else pack["html"]
    text = _text(page)
    found = [what for pattern, what in MACHINERY if re.search(pattern, text)]
    local = [str(p) for p in (demo.data_dir, demo.out_dir, pack["folder"], Path.home(), Path.cwd(), Path("/tmp"))]
    found += [f"a local path ({p})" for p in local if p in text]
    assert found == [], found
    import nbformat

    notebook = nbformat.read(Path(demo.result.notebook if which == "demo" else pack["result"].notebook), 4)
    streams = [o for c in notebook.cells for o in c.get("outputs", []) if o.get("name") == "stderr"]
    assert streams == []
    shown = [o for c in notebook.cells if "handoff.save" in c.source for o in c.get("outputs", [])]
    assert shown == []  # the cell that hands the report over shows nothing
    folder = Path(pack["result"].directory if which == "pack" else demo.result.directory)
    assert not list(folder.rglob("*.pickle")) and not list(folder.rglob(".handoff*"))


@pytest.mark.slow
def test_the_pack_reads_in_close_order_with_the_long_tables_folded_into_an_appendix(pack) -> None:
    soup = BeautifulSoup(pack["html"], "html.parser")
    headings = [h.get_text(" ", strip=True) for h in soup.find_all(["h2"])]
    order = ["Credit per currency", "Sign-off", "Roll-forward", "Unexplained items", "Age of available credit",
             "Trend", "Concentration", "Credit per cohort", "Appendix: detail tables"]
    positions = [next(i for i, h in enumerate(headings) if h.startswith(name)) for name in order]
    assert positions == sorted(positions), headings
    h3 = [h.get_text(" ", strip=True) for h in soup.find_all(["h2", "h3"])]
    assert h3.index("Checks beside the roll-forward") < h3.index("Unexplained items")
    summaries = [d.summary.get_text(strip=True) for d in soup.find_all("details", class_="credit-appendix")]
    assert {"Cohort table", "Largest holders", "Customers with reserved credit"} <= set(summaries)
    appendix = soup.find("h2", string=re.compile("Appendix"))
    for details in soup.find_all("details", class_="credit-appendix"):
        assert not details.has_attr("open")  # folded in HTML
        assert appendix.sourceline < details.sourceline
    signoff = soup.find(class_="credit-signoff")
    rows = {tr.th.get_text(strip=True): tr.td.get_text(strip=True) for tr in signoff.find("tbody").find_all("tr")}
    assert rows == {"Prepared by": "Ann Preparer", "Reviewed by": "Bob Reviewer"}
    assert [th.get_text(strip=True) for th in signoff.find("thead").find_all("th")] == [
        "Role", "Name", "Signature", "Date"]


def _table_after(soup: BeautifulSoup, heading: str, nth: int = 0) -> list[list[str]]:
    h = soup.find(["h2", "h3"], string=re.compile("^" + re.escape(heading)))
    table = h.find_all_next("table")[nth]
    return [[c.get_text(" ", strip=True) for c in row.find_all(["th", "td"])] for row in table.find_all("tr")]


def _money_minor(text: str, code: str) -> int:
    """A displayed amount in minor units; ``-`` or accounting parentheses make it negative."""
    digits = re.sub(r"[^0-9]", "", text)
    return -int(digits) if "-" in text or text.strip().startswith("(") else int(digits)


@pytest.mark.slow
def test_the_headline_sets_this_period_beside_the_prior_one_and_keeps_lifetime_used_apart(demo, pack) -> None:
    soup = BeautifulSoup(pack["html"], "html.parser")
    rows = _table_after(soup, "Credit per currency")
    header, body = rows[0], {r[0]: r for r in rows[1:]}
    assert header[1].startswith("Outstanding at") and header[2].startswith("Prior period, at")
    assert not any("Used" in h for h in header)  # lifetime used is not beside the liability
    closing, opening = currency_sums(demo.closing_ledger), currency_sums(demo.opening_ledger)
    for code, figures in closing.items():
        before = opening.get(code, {}).get("outstanding", 0)
        assert _money_minor(body[code][1], code) == figures["outstanding"], code
        assert _money_minor(body[code][2], code) == before, code
        assert _money_minor(body[code][3], code) == figures["outstanding"] - before, code
    used = {r[0]: r for r in _table_after(soup, "Credit used to date")[1:]}
    for code, figures in closing.items():
        assert _money_minor(used[code][1], code) == figures["used"], (code, used[code])


def _csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_the_journal_csv_imports_with_debits_equal_to_credits_and_moves_the_liability_as_the_ledger_did(
    demo, pack
) -> None:
    folder = pack["result"].directory
    rows = _csv(folder / "close.journal-entries.csv")
    assert rows and {"entry", "date", "account", "debit", "credit", "currency_code"} <= set(rows[0])
    per_entry: dict[str, list[int]] = {}
    liability: dict[str, int] = {}
    for row in rows:
        debit, credit = int(row["debit_minor"]), int(row["credit_minor"])
        assert Decimal(row["debit"]) * 10 ** minor_unit_decimals(row["currency_code"]) == debit
        sums = per_entry.setdefault(row["entry"], [0, 0])
        sums[0] += debit
        sums[1] += credit
        if row["account"] == ACCOUNTS.liability and not row["entry"].endswith("-FX"):
            liability[row["currency_code"]] = liability.get(row["currency_code"], 0) + credit - debit
    assert all(d == c > 0 for d, c in per_entry.values()), per_entry
    closing, opening = currency_sums(demo.closing_ledger), currency_sums(demo.opening_ledger)
    for code, figures in closing.items():  # credits to the liability less debits = the change the ledger shows
        assert liability.get(code, 0) == figures["outstanding"] - opening.get(code, {}).get("outstanding", 0), code
    from openpyxl import load_workbook

    sheet = load_workbook(folder / "close.xlsx")["Journal entries"]
    header = [c.value for c in sheet[1]]
    values = [dict(zip(header, r, strict=True)) for r in sheet.iter_rows(min_row=2, values_only=True)]
    assert len(values) == len(rows)
    by_entry: dict[str, Decimal] = {}
    for v in values:
        by_entry[v["Journal entry"]] = by_entry.get(v["Journal entry"], Decimal(0)) + Decimal(str(v["Debit"] or 0)) \
            - Decimal(str(v["Credit"] or 0))
    assert all(abs(x) < Decimal("0.000001") for x in by_entry.values())


@pytest.mark.slow
def test_the_workbook_checks_are_formulas_that_tie_the_sub_ledger_and_roll_the_balance_forward(demo, pack) -> None:
    from openpyxl import load_workbook

    path = pack["result"].directory / "close.xlsx"
    formulas, values = load_workbook(path)["Checks"], load_workbook(path, data_only=True)["Checks"]
    cells = [(f.value, v.value) for row_f, row_v in zip(formulas.iter_rows(), values.iter_rows(), strict=True)
             for f, v in zip(row_f, row_v, strict=True) if isinstance(f.value, str) and f.value.startswith("=")]
    sumifs = [c for c in cells if c[0].startswith("=SUMIFS('Customer sub-ledger'")]
    assert len(sumifs) >= 4 * len(currency_sums(demo.closing_ledger))
    roll = [c for c in cells if "'Roll-forward'!" in c[0] and "-" in c[0] and "+" in c[0]]
    assert roll, "opening + issued - reversed - used is a formula over the Roll-forward sheet"
    statuses = [v for f, v in cells if f.startswith("=IF(") and "COUNTIF" not in f]
    assert statuses and set(statuses) == {"OK"}
    # one summary cell at the top over every check below it; the closing against the headline, the translated
    # roll-forward and the journal against the roll-forward are formulas too
    assert formulas["B3"].value.startswith('=IF(COUNTIF(') and values["B3"].value == "OK: every check below passes"
    about = load_workbook(path)["About"]
    assert (about["A2"].value, about["B2"].value) == ("Status", "Ready to sign")  # the status comes first
    texts = [r[0].value for r in formulas.iter_rows() if isinstance(r[0].value, str)]
    assert any(t.startswith("Roll-forward closing against the headline") for t in texts)
    assert any(t.startswith("Journal against the roll-forward") for t in texts)
    assert any("'Journal entries'!" in f and "'Roll-forward'!" not in f and "2400" in f for f, _v in cells)
    closing = currency_sums(demo.closing_ledger)
    scale = {c: 10 ** minor_unit_decimals(c) for c in closing}
    labels = [r[0].value for r in formulas.iter_rows()]
    for code, figures in closing.items():
        row = labels.index(f"{code} outstanding") + 1
        assert round(Decimal(str(values.cell(row, 3).value)) * scale[code]) == figures["outstanding"]
    book = load_workbook(path)
    ledger = book["Customer sub-ledger"]
    header = [c.value for c in ledger[1]]
    assert header[:3] == ["Currency", "GL account", "Customer"]
    assert "Outstanding (available + reserved) (converted)" in header and "Reporting currency" in header
    assert {c.data_type for c in ledger["C"][1:]} == {"s"}  # customer ids stay text
    assert {c.value for c in ledger["B"][1:]} == {ACCOUNTS.liability}
    roll_header = [c.value for c in book["Roll-forward"][1]]
    for label in ("Opening outstanding", "+ Issued", "- Reversed", "- Used", "= Expected closing outstanding"):
        assert label in roll_header
    customer_formulas = [c.coordinate for s in ("Customer sub-ledger", "Movements") if s in book.sheetnames
                         for row in book[s].iter_rows() for c in row if c.data_type == "f"]
    assert customer_formulas == []


@pytest.fixture(scope="module")
def monthly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small demo store: month-end snapshots over a year, so a close period opens and closes on two days."""
    from credit_reports.app.demo import take_demo_snapshots

    data_dir = tmp_path_factory.mktemp("monthly")
    take_demo_snapshots(data_dir, customers=150, seed=11, progress=False, months=3)
    return data_dir


def _outstanding(snapshot_path: Path) -> dict[str, int]:
    balances = pd.read_parquet(snapshot_path / "balances.parquet")
    out: dict[str, int] = {}
    for code, available, reserved in balances[["currency_code", "available", "reserved"]].itertuples(index=False):
        out[str(code)] = out.get(str(code), 0) + int(available) + int(reserved)
    return out


@pytest.mark.slow
def test_the_translated_roll_forward_uses_the_stated_rates_and_shows_their_date_and_source(monthly, tmp_path) -> None:
    from credit_reports.report.preparation import prepare

    probe = prepare(data_dir=str(monthly), environment="demo", period="previous-month")
    opening_day = probe.opening.as_of.strftime("%Y-%m-%d")
    closing_day = probe.snapshot.as_of.strftime("%Y-%m-%d")
    rates = tmp_path / "rates.csv"
    rates.write_text("currency,rate,date,source,type\n" + "".join(
        f"{code},{OPENING_RATE},{opening_day},Test opening rate,spot\n{code},{CLOSING_RATE},{closing_day},Test "
        f"closing rate,spot\n{code},{AVERAGE_RATE},{closing_day},Test average rate,average\n"
        for code in ("AUD", "BRL", "CAD", "GBP", "JPY", "KRW", "USD")), encoding="utf-8")
    report = prepare(data_dir=str(monthly), environment="demo", period="previous-month", rates_file=str(rates),
                     reporting_currency="EUR", rate_type="average")
    t = report.translation.set_index("currency_code")
    opening, closing = _outstanding(Path(report.opening.path)), _outstanding(Path(report.snapshot.path))
    cents = {c: 10 ** (2 - minor_unit_decimals(c)) for c in closing}  # EUR cents per minor unit at rate 1
    for code in (c for c in closing if c != "EUR"):
        row = t.loc[code]
        assert int(row["opening"]) == opening.get(code, 0) and int(row["closing"]) == closing[code]
        assert row["opening_converted"] == round(Decimal(opening.get(code, 0) * cents[code]) * OPENING_RATE)
        assert row["closing_converted"] == round(Decimal(closing[code] * cents[code]) * CLOSING_RATE)
        assert row["issued_converted"] == round(Decimal(int(row["issued"]) * cents[code]) * AVERAGE_RATE)
        assert (row["opening_converted"] + row["issued_converted"] - row["reversed_converted"]
                - row["used_converted"] + row["unexplained_converted"] + row["translation_converted"]
                == row["closing_converted"])
        assert (row["opening_rate_source"], row["movement_rate_source"], row["closing_rate_source"]) == (
            "Test opening rate", "Test average rate", "Test closing rate")
        assert (row["opening_rate_date"], row["closing_rate_date"]) == (opening_day, closing_day)
    assert t.loc["EUR", "translation_converted"] == 0
    shown = report.translation_table().to_html() + report.translation_rates_table().to_html()
    assert "+ Translation difference" in shown and "Test average rate" in shown
    assert f"0.92 ({pd.Timestamp(closing_day):%d %b %Y})" in shown  # the rate with its date


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("pdftotext") is None or shutil.which("chromium") is None,
                    reason="needs Chromium and poppler-utils (pdftotext)")
def test_every_pdf_page_has_its_number_and_a_running_header_with_period_as_of_and_account(pack) -> None:
    pdf = pack["result"].pdf
    assert pdf is not None and pdf.is_file()
    pages = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                           check=True).stdout.split("\f")
    pages = [p for p in pages if p.strip()]
    assert len(pages) >= 3
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in page, number
        assert "Example GmbH" in page and "as of " in page and "Customer credit balances" in page, number
    assert "Cohort table" in "".join(pages) and "Ann Preparer" in pages[0] + pages[1] + pages[2]


@pytest.mark.slow
def test_the_pdf_links_point_at_the_published_address_never_at_a_staging_folder(pack) -> None:
    pdf = pack["result"].pdf
    listed = subprocess.run(["pdfinfo", "-url", str(pdf)], capture_output=True, text=True, check=True).stdout
    urls = [line.split()[-1] for line in listed.splitlines()[1:] if line.strip()]
    folder = pack["result"].directory.name
    assert urls, "the exports are linked"
    assert all(u.startswith(f"{BASE_URL}/{folder}/") for u in urls), urls
    assert not any("file:" in u or ".render-" in u for u in urls)
    first = subprocess.run(["pdftotext", "-l", "1", str(pdf), "-"], capture_output=True, text=True,
                           check=True).stdout
    assert "Ready to sign" in first  # the status is on the first page, before any figure


def test_without_chromium_the_one_command_that_fixes_the_pdf_is_named_in_one_line(tmp_path, monkeypatch):
    from credit_reports.delivery.pdf import PdfUnavailableError, print_to_pdf

    monkeypatch.setenv("CREDIT_REPORTS_CHROMIUM", str(tmp_path / "no-such-browser"))
    page = tmp_path / "r.html"
    page.write_text("<p>x</p>", encoding="utf-8")
    with pytest.raises(PdfUnavailableError) as info:
        print_to_pdf(page, tmp_path / "r.pdf")
    assert "make browser-deps" in str(info.value) and "\n" not in str(info.value)
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert "make browser-deps" in readme


@pytest.mark.slow
def test_the_email_has_an_html_headline_the_plain_text_alternative_the_pdf_and_the_served_link(pack) -> None:
    import email
    import email.policy
    import json

    from aiosmtpd.controller import Controller
    from test_mail import Inbox, free_port  # the suite's local SMTP sink

    from credit_reports.delivery.config import MailSettings
    from credit_reports.delivery.mail import send_report

    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = MailSettings(host="127.0.0.1", port=port, security="none",
                                sender="Credit reports <reports@example.com>", recipients=("finance@example.com",))
        send_report(pack["result"].manifest, settings)
    finally:
        controller.stop()
    raw = inbox.messages[-1]["raw"]
    message = email.message_from_bytes(raw, policy=email.policy.default)
    manifest = json.loads(Path(pack["result"].manifest).read_text(encoding="utf-8"))
    url = f"{BASE_URL}/{pack['result'].directory.name}/close.html"
    assert manifest["url"] == url
    plain = message.get_body(preferencelist=("plain",)).get_content()
    rich = message.get_body(preferencelist=("html",)).get_content()
    assert url in plain and f'href="{url}"' in rich
    soup = BeautifulSoup(rich, "html.parser")
    headline = [[c.get_text(strip=True) for c in r.find_all(["th", "td"])] for r in soup.find_all("tr")]
    assert headline[0][:3] == ["Currency", "Outstanding", "At opening"]
    codes = {row[0] for row in headline[1:]}
    assert codes == set(manifest["headline"])
    assert "Roll-forward:" in rich and "Roll-forward:" in plain
    names = [part.get_filename() for part in message.iter_attachments()]
    expected = ["close.xlsx"] + (["close.pdf"] if pack["result"].pdf else [])
    assert sorted(names) == sorted(expected)  # the report is linked, not attached
    print(f"message size: {len(raw):,} bytes")
    index = (pack["result"].directory.parent / "index.html").read_text(encoding="utf-8")
    assert f'href="{url}"' in index


@pytest.mark.slow
def test_the_handoff_is_parquet_and_json_that_read_back_equal_and_save_shows_nothing(monthly, tmp_path, monkeypatch):
    from credit_reports.report import handoff
    from credit_reports.report.preparation import prepare, validate_parameters

    report = prepare(data_dir=str(monthly), environment="demo", period="previous-month")
    target = tmp_path / ".handoff"
    monkeypatch.setenv(handoff.ENV, str(target))
    assert handoff.save(report) is None  # a cell ending with it displays nothing
    files = sorted(p.name for p in target.iterdir())
    assert files[0] == "facts.json" and all(f.endswith(".parquet") for f in files[1:])
    assert not any(b"pickle" in (target / f).read_bytes()[:64] for f in files)
    facts = handoff.load(target)
    assert not target.exists()  # read once, then removed
    assert facts.same_parameters(validate_parameters(data_dir=str(monthly), environment="demo",
                                                     period="previous-month"))
    assert facts.headline == report.headline() and facts.period_label == report.period.label
    for name, table in report.tables().items():
        pd.testing.assert_frame_equal(facts.tables[name].reset_index(drop=True), table.reset_index(drop=True),
                                      check_dtype=False, obj=name)


def test_without_a_base_url_the_printed_links_are_file_names_never_a_server_path():
    from credit_reports.delivery.pdf import paper_links

    page = ('<html><head></head><body><a href="close.totals.csv">Credit per currency (CSV)</a> '
            '<a href="https://example.com/x">site</a> <a href="#s">section</a></body></html>')
    plain = paper_links(page, None)
    assert '<a href="close.totals.csv"' not in plain and "Credit per currency (CSV) (close.totals.csv)" in plain
    assert '<a href="https://example.com/x">' in plain and '<a href="#s">' in plain  # absolute and in-page stay
    based = paper_links(page, "https://reports.example.com/credit/2026-11/")
    assert '<base href="https://reports.example.com/credit/2026-11/">' in based
