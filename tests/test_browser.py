"""The rendered report in a real browser: headless Chromium with networking disabled.

Opened from disk the way a finance lead opens an attachment, the report must make no external or failed
requests, log no console errors, and decode every chart. Chromium is driven over the DevTools protocol
(``--remote-debugging-port`` on loopback, ``websocket-client``); a full-page screenshot is saved under
``test-artifacts/`` for a person to look at. Skipped, with the reason, when Chromium is not installed
(``make test`` installs Debian's ``chromium`` when it can).
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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

    def screenshot(self, target: Path) -> None:
        """A full-page PNG of what the reader sees."""
        metrics = self.call("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        width, height = int(size["width"]), min(int(size["height"]), 16000)
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=False)
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
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoReport:
    return build_demo_report(tmp_path_factory.mktemp("demo-report"))


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
    demo: DemoReport, browser: Browser, repo_root: Path
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
    browser.screenshot(repo_root / "test-artifacts" / "report.png")
    assert (repo_root / "test-artifacts" / "report.png").stat().st_size > 10_000


def test_index_opens_offline_and_its_link_reaches_the_report(
    demo: DemoReport, browser: Browser, repo_root: Path
) -> None:
    index = demo.out_dir / "index.html"
    browser.open(index)
    assert problems(browser.events, index) == {
        "external requests": [], "failed requests": [], "console errors": []
    }
    href = browser.evaluate("document.querySelector('a').href")
    assert href == demo.result.html.resolve().as_uri()
    browser.screenshot(repo_root / "test-artifacts" / "index.png")
