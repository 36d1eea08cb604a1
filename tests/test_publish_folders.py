"""The report asked for, published in its own folder, never overwritten by another snapshot's render.

Two snapshots of a small simulated account; a tiny two-cell report renders in a couple of seconds, through
the same ``credit-reports render`` command and ``render_report`` a scheduler uses.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup
from render_demo import two_cell_notebook

from credit_reports.app.cli import main
from credit_reports.fetch.snapshot import fetch_snapshot
from credit_reports.paddle.client import PaddleClient

pytestmark = pytest.mark.slow  # every test renders reports from two fetched snapshots

FAST = 100_000
TINY_PARAMETERS = 'snapshot = "latest"\nenvironment = ""\ndata_dir = ""\ntitle = "Tiny"'


@pytest.fixture(scope="module")
def two_snapshots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from credit_reports.simulator import Simulator

    root = tmp_path_factory.mktemp("folders")
    data_dir = root / "data"
    with Simulator(customers=60, seed=3) as sim:
        client = PaddleClient(api_key=sim.api_key, base_url=sim.base_url, max_rpm=FAST)
        first = fetch_snapshot(client, data_dir=data_dir, strategy="full", max_rpm=FAST, progress=False)
        sim.advance(seed=4, credits=10, reservations=5)  # the store gives the next fetch a new as-of second
        second = fetch_snapshot(client, data_dir=data_dir, strategy="full", max_rpm=FAST, progress=False)
    notebook = two_cell_notebook(root / "tiny.ipynb", TINY_PARAMETERS, "print(title, snapshot)")
    return {"data_dir": data_dir, "first": first.path.name, "second": second.path.name, "notebook": notebook}


def render(capsys: pytest.CaptureFixture[str], two_snapshots: dict[str, Any], out: Path, *extra: str) -> tuple:
    code = main(["--quiet", "render", "--data-dir", str(two_snapshots["data_dir"]), "--out", str(out),
                 "--notebook", str(two_snapshots["notebook"]), "--name", "tiny", *extra])
    stdout, stderr = capsys.readouterr()
    return code, stdout, stderr


def folder_of(as_of: str) -> str:
    """20261201T061500Z -> 2026-12-01T061500Z (computed here, not by the code under test)."""
    return f"{as_of[:4]}-{as_of[4:6]}-{as_of[6:8]}{as_of[8:]}"


def test_p_snapshot_renders_that_snapshot_not_the_latest(two_snapshots, tmp_path, capsys) -> None:
    code, out, err = render(capsys, two_snapshots, tmp_path, "-p", "snapshot", two_snapshots["first"])
    assert code == 0, err
    html = Path(out.strip())
    assert html.parent.name == folder_of(two_snapshots["first"])
    manifest = json.loads((html.parent / "tiny.manifest.json").read_text())
    assert manifest["requested_snapshot"] == two_snapshots["first"]
    assert manifest["snapshot"]["name"] == two_snapshots["first"]
    assert f"Tiny {two_snapshots['first']}" in html.read_text()
    assert f"snapshot {two_snapshots['first']}" in html.read_text()  # the report says which one was asked for


def test_the_configs_snapshot_is_honoured(two_snapshots, tmp_path, capsys) -> None:
    config = tmp_path / "credit-reports.toml"
    config.write_text(f'[[report]]\nname = "pinned"\nnotebook = "{two_snapshots["notebook"]}"\n'
                      f'[report.parameters]\nsnapshot = "{two_snapshots["first"]}"\n', encoding="utf-8")
    code = main(["--quiet", "render", "--data-dir", str(two_snapshots["data_dir"]), "--out", str(tmp_path / "r"),
                 "--config", str(config)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert Path(out.strip()).parent.name == folder_of(two_snapshots["first"])


def test_snapshot_option_and_parameter_that_disagree_are_one_line_exit_2(two_snapshots, tmp_path, capsys) -> None:
    code, out, err = render(capsys, two_snapshots, tmp_path, "--snapshot", two_snapshots["second"],
                            "-p", "snapshot", two_snapshots["first"])
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and "disagree" in err
    assert not list(tmp_path.rglob("*.html"))


def test_each_snapshot_has_its_own_folder_and_a_rerender_replaces_only_its_own_report(
    two_snapshots, tmp_path, capsys
) -> None:
    out = tmp_path / "reports"
    assert render(capsys, two_snapshots, out, "--snapshot", two_snapshots["first"])[0] == 0
    first_folder = out / folder_of(two_snapshots["first"])
    first_files = {p.name: p.read_bytes() for p in first_folder.iterdir()}
    assert render(capsys, two_snapshots, out)[0] == 0  # latest = the second snapshot
    second_folder = out / folder_of(two_snapshots["second"])
    assert second_folder.is_dir() and second_folder != first_folder
    assert {p.name: p.read_bytes() for p in first_folder.iterdir()} == first_files  # untouched

    # another report of the same snapshot shares the folder and is left alone by a re-render of "tiny"
    code = main(["--quiet", "render", "--data-dir", str(two_snapshots["data_dir"]), "--out", str(out),
                 "--notebook", str(two_snapshots["notebook"]), "--name", "other"])
    capsys.readouterr()
    assert code == 0
    other = {p.name: p.read_bytes() for p in second_folder.iterdir() if p.name.startswith("other.")}
    manifest_path = second_folder / "tiny.manifest.json"
    manifest = json.loads(manifest_path.read_text())
    stale = second_folder / "tiny.stale.csv"  # a file the previous render published, this one does not
    stale.write_text("old")
    manifest["files"].append(stale.name)
    manifest_path.write_text(json.dumps(manifest))
    before = manifest["rendered_at"]  # to the microsecond: no need to wait for the next second
    assert render(capsys, two_snapshots, out, "--snapshot", two_snapshots["second"])[0] == 0
    assert json.loads(manifest_path.read_text())["rendered_at"] != before
    assert not stale.exists()
    assert {p.name: p.read_bytes() for p in second_folder.iterdir() if p.name.startswith("other.")} == other
    assert not [p for p in out.iterdir() if p.name.startswith(".render-")]

    soup = BeautifulSoup((out / "index.html").read_text(), "html.parser")
    reports = [a["href"] for a in soup.find_all("a") if a["href"].endswith(".html")]
    assert sorted(reports) == sorted([
        f"{folder_of(two_snapshots['first'])}/tiny.html", f"{folder_of(two_snapshots['second'])}/tiny.html",
        f"{folder_of(two_snapshots['second'])}/other.html",
        f"{folder_of(two_snapshots['second'])}.v1/tiny.html",  # the earlier render, kept as published
    ])
    earlier = json.loads((out / f"{folder_of(two_snapshots['second'])}.v1" / "tiny.manifest.json").read_text())
    assert earlier["rendered_at"] == before and earlier["publication"]["version"] == 1
    assert json.loads(manifest_path.read_text())["publication"]["version"] == 3  # "other" made version 2
    rows = soup.select("tbody tr")
    assert all(row.select_one('[data-label="Period"]').get_text(strip=True) for row in rows)
    exports = [a["href"] for a in soup.select("ul.exports a")]
    assert f"{folder_of(two_snapshots['second'])}/tiny.xlsx" in exports
    assert all((out / href).is_file() for href in exports)


def test_pdf_without_chromium_is_one_line_and_the_report_is_still_published(
    two_snapshots, tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("CREDIT_REPORTS_CHROMIUM", str(tmp_path / "no-such-browser"))
    code, out, err = render(capsys, two_snapshots, tmp_path, "--pdf")
    assert code == 0
    assert Path(out.strip()).is_file()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "no PDF" in lines[0] and "Chromium" in lines[0]
    assert not list(tmp_path.rglob("*.pdf"))
    assert "tiny.pdf" not in Path(out.strip()).read_text()  # no link to a PDF that does not exist


@pytest.mark.browser
def test_pdf_is_printed_beside_the_html_and_linked_from_the_index(two_snapshots, tmp_path, capsys) -> None:
    from credit_reports.delivery.pdf import find_chromium

    if find_chromium() is None:
        pytest.skip("Chromium is not installed (Debian package 'chromium')")
    code, out, err = render(capsys, two_snapshots, tmp_path, "--pdf")
    assert code == 0, err
    pdf = Path(out.strip()).with_suffix(".pdf")
    assert pdf.read_bytes().startswith(b"%PDF-")
    manifest = json.loads((pdf.parent / "tiny.manifest.json").read_text())
    assert pdf.name in manifest["files"]
    assert f'href="{pdf.name}"' in Path(out.strip()).read_text()  # the report links to its PDF
    assert f'{pdf.parent.name}/{pdf.name}' in (tmp_path / "index.html").read_text()
