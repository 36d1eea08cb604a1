"""The rendered report in a real browser: headless Chromium with networking disabled.

Opened from disk the way a finance lead opens an attachment, the report must make no external or failed
requests, log no console errors, and decode every chart. At 1280 px (a laptop), at 390 px (a phone) and
on paper (print media at the printable width of A4 landscape) no table may be wider than its box and no
column may be cut; the PDF printed by ``credit_reports.delivery.pdf`` must come out. Chromium is driven over the
DevTools protocol (``--remote-debugging-port`` on loopback, ``websocket-client``); full-page screenshots
go to the test's temporary folder (set ``CREDIT_REPORTS_SHOTS=DIR`` to keep them for a person to look
at). Skipped, with the reason, when Chromium is not installed (``make test`` installs Debian's
``chromium`` when it can).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
from render_demo import DemoReport, build_demo_report

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
websocket = pytest.importorskip("websocket", reason="websocket-client is needed to drive Chromium")

if CHROMIUM is None:
    pytest.skip("Chromium is not installed (Debian package 'chromium'; `make test` installs it when it can)",
                allow_module_level=True)


class Browser:
    """One headless Chromium process and a DevTools session on its first page."""

    def __init__(self, profile: Path) -> None:
        args = [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-extensions", "--mute-audio", "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            # networking off: no name resolves and every proxied connection goes nowhere
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
            "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
            "--remote-allow-origins=*", "--window-size=1280,900", "about:blank",
        ]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.is_file() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                pytest.fail("Chromium did not start its DevTools endpoint within 30 s")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
            targets = json.load(answer)
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result, keeping the events that arrive meanwhile."""
        call_id = next(self.ids)
        self.ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == call_id:
                if "error" in message:
                    raise AssertionError(f"{method} failed: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > deadline:
                raise AssertionError(f"no {method} within {timeout} s")
            self.events.append(json.loads(self.ws.recv()))

    def open(self, path: Path) -> None:
        self.events.clear()
        self.call("Page.navigate", url=path.resolve().as_uri())
        self.wait_for("Page.loadEventFired")
        self.call("Runtime.evaluate", expression="1", awaitPromise=True)  # drain late events
        time.sleep(0.3)
        self.call("Runtime.evaluate", expression="1")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result["result"].get("value")

    def viewport(self, width: int, *, mobile: bool = False, media: str = "") -> None:
        """Lay the page out at ``width`` CSS px (a phone with ``mobile``), on screen or as ``media="print"``."""
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1,
                  mobile=mobile)
        self.call("Emulation.setEmulatedMedia", media=media)
        time.sleep(0.2)

    def reset_viewport(self) -> None:
        self.call("Emulation.clearDeviceMetricsOverride")
        self.call("Emulation.setEmulatedMedia", media="")

    def screenshot(self, target: Path, width: int | None = None, *, mobile: bool = False) -> None:
        """A full-page PNG of what the reader sees (at ``width`` CSS px when given)."""
        metrics = self.call("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        width = width or int(size["width"])
        height = min(int(size["height"]), 16000)
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=mobile)
        shot = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(shot["data"]))
        self.call("Emulation.clearDeviceMetricsOverride")

    def close(self) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            ws.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: $CREDIT_REPORTS_SHOTS when set, else a temporary folder (never the checkout)."""
    named = os.environ.get("CREDIT_REPORTS_SHOTS")
    if named:
        Path(named).mkdir(parents=True, exist_ok=True)
        return Path(named)
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoReport:
    return build_demo_report(tmp_path_factory.mktemp("demo-report"))


@pytest.fixture(scope="module")
def converted(demo: DemoReport, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo report with a rates file: its converted table is the widest the report has."""
    from credit_reports.core.money import PADDLE_CURRENCIES
    from credit_reports.delivery.render import render_report

    folder = tmp_path_factory.mktemp("converted")
    rates = folder / "rates.csv"
    rates.write_text("currency,rate,date,source\n" + "".join(
        f"{code},{'1' if code == 'EUR' else '0.0123456'},2026-11-30,European Central Bank reference rate\n"
        for code in PADDLE_CURRENCIES), encoding="utf-8")
    result = render_report(
        parameters={"snapshot": demo.snapshot_name, "rates_file": str(rates), "reporting_currency": "EUR"},
        data_dir=demo.data_dir, out_dir=folder / "reports", output_name="converted",
    )
    return result.html


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    chromium = Browser(tmp_path_factory.mktemp("chromium-profile"))
    try:
        for domain in ("Page", "Network", "Runtime", "Log"):
            chromium.call(f"{domain}.enable")
        yield chromium
    finally:
        chromium.close()


def problems(events: list[dict[str, Any]], page: Path) -> dict[str, list[str]]:
    """Requests that left the page's own file, failed loads and console errors, from DevTools events."""
    own = page.resolve().as_uri()
    found: dict[str, list[str]] = {"external requests": [], "failed requests": [], "console errors": []}
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if url != own and not url.startswith("data:"):
                found["external requests"].append(url)
        elif method == "Network.loadingFailed":
            found["failed requests"].append(f"{params.get('errorText')} ({params.get('requestId')})")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in {"error", "assert"}:
            found["console errors"].append(json.dumps(params.get("args"))[:200])
        elif method == "Runtime.exceptionThrown":
            found["console errors"].append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            found["console errors"].append(params["entry"].get("text", "")[:200])
    return found


def test_report_opens_offline_with_no_requests_no_errors_and_every_chart_decoded(
    demo: DemoReport, browser: Browser, shots: Path
) -> None:
    page = demo.result.html
    browser.open(page)
    assert problems(browser.events, page) == {
        "external requests": [], "failed requests": [], "console errors": []
    }
    images = browser.evaluate(
        "Array.from(document.images).map(i => ({complete: i.complete, width: i.naturalWidth,"
        " height: i.naturalHeight, alt: i.alt}))"
    )
    assert images, "the report shows charts"
    assert all(i["complete"] and i["width"] > 0 and i["height"] > 0 for i in images), images
    tables = browser.evaluate("document.querySelectorAll('table').length")
    assert tables >= 3
    assert browser.evaluate("document.title") == "Customer credit balances"
    assert "Outstanding" in browser.evaluate("document.body.innerText")
    browser.screenshot(shots / "report.png")
    assert (shots / "report.png").stat().st_size > 10_000


def test_index_opens_offline_and_its_link_reaches_the_report(
    demo: DemoReport, browser: Browser, shots: Path
) -> None:
    index = demo.out_dir / "index.html"
    browser.open(index)
    assert problems(browser.events, index) == {
        "external requests": [], "failed requests": [], "console errors": []
    }
    href = browser.evaluate("document.querySelector('a').href")
    # the index links to the folder readers use (a link to the current version), which holds the report
    assert href == demo.result.html.as_uri()
    assert Path(unquote(urlparse(href).path)).resolve() == demo.result.html.resolve()
    browser.screenshot(shots / "index.png")


#: Every way a table can lose content: wider than its box, its box scrolling, a cell past the page edge,
#: a cell hidden, or a cell's own content clipped. Returns one line per problem (empty when all fit).
LAYOUT_PROBLEMS = """
(() => {
  const vw = document.documentElement.clientWidth;
  const found = [];
  const hiddenHead = el => { const h = el.closest('thead');
    return h !== null && (getComputedStyle(h).position === 'absolute' || getComputedStyle(h).display === 'none'); };
  document.querySelectorAll('table').forEach((table, i) => {
    const name = `table ${i + 1} (${(table.querySelector('th, td') || {}).innerText || ''})`;
    if (table.scrollWidth > table.clientWidth + 1)
      found.push(`${name}: content ${table.scrollWidth}px wider than its box ${table.clientWidth}px`);
    const box = table.parentElement;
    if (box.scrollWidth > box.clientWidth + 1)
      found.push(`${name}: its box scrolls sideways (${box.scrollWidth}px in ${box.clientWidth}px)`);
    const rect = table.getBoundingClientRect();
    if (rect.right > vw + 1) found.push(`${name}: right edge at ${Math.round(rect.right)}px, page ${vw}px`);
    let widest = 0;
    table.querySelectorAll('tr').forEach(row => { widest = Math.max(widest, row.cells.length); });
    table.querySelectorAll('tr').forEach((row, r) => {
      Array.from(row.cells).forEach((cell, c) => {
        if (hiddenHead(cell)) return;
        const style = getComputedStyle(cell);
        const box = cell.getBoundingClientRect();
        if (style.display === 'none' || style.visibility === 'hidden' || box.width < 1)
          found.push(`${name}: row ${r + 1} column ${c + 1} is hidden`);
        else if (box.left < -1 || box.right > vw + 1)
          found.push(`${name}: row ${r + 1} column ${c + 1} is cut at the page edge`);
        else if (cell.scrollWidth > cell.clientWidth + 1)
          found.push(`${name}: row ${r + 1} column ${c + 1} is clipped (${cell.scrollWidth} > ${cell.clientWidth})`);
      });
    });
  });
  if (document.documentElement.scrollWidth > vw + 1)
    found.push(`the page scrolls sideways (${document.documentElement.scrollWidth}px at ${vw}px)`);
  return found.slice(0, 20);
})()
"""

#: On a phone a wide table may scroll in its own box, but only with a visible cue (a line saying so, over
#: shadows on the side with more to show); its cells are then past the page edge on purpose. Everything
#: else must fit: no table wider than the page without that, no cell clipped, no chart cut without its
#: own scroll and a visible cue, and no page scrolling sideways. One line per problem.
PHONE_PROBLEMS = """
(() => {
  const vw = document.documentElement.clientWidth;
  const found = [];
  const scrolls = el => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
  const textCue = el => { const b = getComputedStyle(el, '::before');
    return b.content && b.content !== 'none' && b.content !== 'normal' && b.display !== 'none'; };
  const shadow = el => getComputedStyle(el).backgroundImage.includes('gradient');
  document.querySelectorAll('table').forEach((table, i) => {
    const name = `table ${i + 1} (${(table.querySelector('th, td') || {}).innerText || ''})`;
    const wide = table.scrollWidth > table.clientWidth + 1;
    const own = scrolls(table) && textCue(table) && shadow(table);
    if (wide && !own) found.push(`${name}: ${table.scrollWidth}px in ${table.clientWidth}px, no scroll box with a cue`);
    const box = table.parentElement;
    if (box.scrollWidth > box.clientWidth + 1 && !(scrolls(box) && textCue(box)))
      found.push(`${name}: its box scrolls sideways without a cue`);
    const rect = table.getBoundingClientRect();
    if (rect.right > vw + 1) found.push(`${name}: right edge at ${Math.round(rect.right)}px, page ${vw}px`);
    table.querySelectorAll('tr').forEach((row, r) => {
      Array.from(row.cells).forEach((cell, c) => {
        const style = getComputedStyle(cell);
        const b = cell.getBoundingClientRect();
        if (style.display === 'none' || style.visibility === 'hidden' || b.width < 1)
          found.push(`${name}: row ${r + 1} column ${c + 1} is hidden`);
        else if (cell.scrollWidth > cell.clientWidth + 1)
          found.push(`${name}: row ${r + 1} column ${c + 1} is clipped (${cell.scrollWidth} > ${cell.clientWidth})`);
        else if ((b.left < -1 || b.right > vw + 1) && !own)
          found.push(`${name}: row ${r + 1} column ${c + 1} is cut at the page edge`);
      });
    });
  });
  document.querySelectorAll('img').forEach((img, i) => {
    const box = img.closest('.jp-RenderedImage') || img.parentElement;
    if (img.getBoundingClientRect().width <= box.clientWidth + 1) return;
    const cue = box.querySelector('.credit-chart-cue');
    if (!scrolls(box)) found.push(`chart ${i + 1} (${img.alt}): wider than its box, which does not scroll`);
    else if (!cue || cue.offsetHeight === 0) found.push(`chart ${i + 1} (${img.alt}): scrolls with no visible cue`);
  });
  if (document.documentElement.scrollWidth > vw + 1)
    found.push(`the page scrolls sideways (${document.documentElement.scrollWidth}px at ${vw}px)`);
  return found.slice(0, 20);
})()
"""

#: Words broken inside (``Op eni ng``): each word of the page's visible text, split at spaces and after a
#: hyphen or slash (where a line may break), must lie on one line. Returns the broken words.
BROKEN_WORDS = r"""
(() => {
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  let node;
  while ((node = walker.nextNode())) {
    const parent = node.parentElement;
    if (!parent || parent.closest('style, script, details:not([open]) > :not(summary)')) continue;
    if (parent.getClientRects().length === 0) continue;
    const re = /[^\s\-\/]+[\-\/]?/g;
    let m;
    while ((m = re.exec(node.data))) {
      range.setStart(node, m.index);
      range.setEnd(node, m.index + m[0].length);
      const tops = new Set(Array.from(range.getClientRects()).filter(r => r.width > 0).map(r => Math.round(r.top)));
      if (tops.size > 1) found.push(m[0]);
    }
  }
  return found.slice(0, 20);
})()
"""

#: The printable width of A4 landscape with the print stylesheet's 12 mm margins, in CSS px.
A4_LANDSCAPE_PRINTABLE_PX = round((297 - 24) / 25.4 * 96)


@pytest.mark.parametrize(
    ("label", "width", "mobile", "media"),
    [("laptop", 1280, False, ""), ("phone", 390, True, ""), ("paper", A4_LANDSCAPE_PRINTABLE_PX, False, "print")],
)
def test_every_table_of_the_report_fits_its_box_with_no_column_cut(
    converted: Path, browser: Browser, shots: Path, label: str, width: int, mobile: bool, media: str
) -> None:
    browser.open(converted)
    try:
        browser.viewport(width, mobile=mobile, media=media)
        assert browser.evaluate("document.querySelectorAll('table').length") >= 5
        assert browser.evaluate(PHONE_PROBLEMS if mobile else LAYOUT_PROBLEMS) == [], label
        assert browser.evaluate(BROKEN_WORDS) == [], label
        if not media:
            browser.screenshot(shots / f"report-{width}.png", width, mobile=mobile)
    finally:
        browser.reset_viewport()


def test_charts_keep_their_designed_size_on_a_phone_so_labels_stay_legible(demo: DemoReport, browser: Browser) -> None:
    """At 390 px a chart is not shrunk to a third (3 px labels): it keeps its size and scrolls in its own box,
    under a line saying so; at 1280 px, where it fits, no such line shows."""
    browser.open(demo.result.html)
    try:
        browser.viewport(390, mobile=True)
        sizes = browser.evaluate(
            "Array.from(document.images).map(i => ({shown: i.getBoundingClientRect().width,"
            " designed: parseFloat(i.getAttribute('width')) || i.naturalWidth / 2,"
            " cue: (i.closest('.jp-RenderedImage').querySelector('.credit-chart-cue') || {}).offsetHeight || 0,"
            " box: i.closest('.jp-RenderedImage').clientWidth}))"
        )
        assert browser.evaluate(PHONE_PROBLEMS) == []
        browser.viewport(1280)
        cues = browser.evaluate("Array.from(document.querySelectorAll('.credit-chart-cue')).map(c => c.offsetHeight)")
    finally:
        browser.reset_viewport()
    assert sizes
    assert all(s["shown"] >= 0.95 * s["designed"] for s in sizes), sizes
    assert all(s["cue"] > 0 for s in sizes if s["shown"] > s["box"] + 1), sizes
    assert cues and set(cues) == {0}


def test_the_index_fits_a_phone_and_a_laptop(demo: DemoReport, browser: Browser, shots: Path) -> None:
    index = demo.out_dir / "index.html"
    browser.open(index)
    try:
        for width, mobile in ((1280, False), (390, True)):
            browser.viewport(width, mobile=mobile)
            assert browser.evaluate(LAYOUT_PROBLEMS) == [], width
            browser.screenshot(shots / f"index-{width}.png", width, mobile=mobile)
    finally:
        browser.reset_viewport()


def test_the_report_prints_to_a_pdf_beside_it(demo: DemoReport, tmp_path: Path, shots: Path) -> None:
    from credit_reports.delivery.pdf import print_to_pdf

    target = print_to_pdf(demo.result.html, tmp_path / "report.pdf")
    data = target.read_bytes()
    assert data.startswith(b"%PDF-")
    pages = data.count(b"/Type /Page") - data.count(b"/Type /Pages")
    assert pages >= 3, pages
    shutil.copy(target, shots / "report.pdf")


def test_on_paper_no_table_or_chart_may_split_across_pages_and_the_appendix_prints_open(
    converted: Path, browser: Browser
) -> None:
    """Print media: every table and chart outside the appendix asks not to be split (break-inside: avoid),
    a long appendix table breaks between rows with its header repeated, and the running header and page
    numbers are the page's margin boxes (checked in the PDF by test_close_pack)."""
    browser.open(converted)
    try:
        browser.viewport(A4_LANDSCAPE_PRINTABLE_PX, media="print")
        found = browser.evaluate("""(() => {
          const out = [];
          document.querySelectorAll('table.credit-table, .jp-RenderedImage').forEach((el, i) => {
            const inAppendix = el.closest('details.credit-appendix') !== null;
            const rule = getComputedStyle(el).breakInside;
            if (!inAppendix && rule !== 'avoid') out.push(`${el.tagName} ${i}: break-inside ${rule}`);
            if (el.tagName === 'TABLE' && el.tHead && getComputedStyle(el.tHead).display !== 'table-header-group')
              out.push(`table ${i}: header not repeated on each page`);
          });
          return out;
        })()""")
    finally:
        browser.reset_viewport()
    assert found == []


def test_printing_from_the_browser_opens_the_folded_appendix_and_folds_it_back_afterwards(
    demo: DemoReport, browser: Browser
) -> None:
    """The page says printing opens the appendix: the browser's own print (its beforeprint event) opens every
    folded <details> as ``render --pdf`` does, and afterprint folds back only those it opened."""
    page = demo.result.html
    browser.open(page)
    state = "Array.from(document.querySelectorAll('details')).map(d => d.open)"
    before = browser.evaluate(state)
    assert before and not any(before), "the demo report has a folded appendix"
    browser.evaluate("document.querySelector('details').open = true; 1")  # the reader opened the first one
    browser.evaluate("window.dispatchEvent(new Event('beforeprint')); 1")
    printing = browser.evaluate(state)
    browser.evaluate("window.dispatchEvent(new Event('afterprint')); 1")
    after = browser.evaluate(state)
    assert all(printing)
    assert after == [True] + [False] * (len(before) - 1)
    assert problems(browser.events, page)["console errors"] == []
