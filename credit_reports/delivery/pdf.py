"""Printing a rendered report to PDF with headless Chromium, when it is installed.

The report's print stylesheet (tables wrap, headings stay with what follows, charts are not split) does
the layout; Chromium only prints. It runs with a throwaway profile, networking off (the report loads
nothing from anywhere) and no background services, and is given a time limit so a stuck browser cannot
hang a scheduled run. ``$CREDIT_REPORTS_CHROMIUM`` names another Chromium-compatible browser.
"""

from __future__ import annotations

import html as html_text
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from credit_reports.core.errors import PdfUnavailableError

__all__ = ["CHROMIUM_ENV", "PdfUnavailableError", "find_chromium", "paper_links", "print_to_pdf"]

CHROMIUM_ENV = "CREDIT_REPORTS_CHROMIUM"
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PDF_TIMEOUT_SECONDS = 120


_RELATIVE_LINK = re.compile(r'<a href="(?![a-zA-Z][a-zA-Z0-9+.-]*:|#|/)([^"]+)"([^>]*)>(.*?)</a>', re.S)


def paper_links(page: str, base_url: str | None) -> str:
    """The page as it goes to paper: a PDF stores every link as an absolute address, so a relative link printed
    from a staging folder would point at that (soon renamed) folder on the server. With ``base_url`` (the
    published folder's address, ending in ``/``) relative links resolve there (a ``<base>``); without one
    they become the plain file name, which sits beside the PDF in the published folder."""
    if base_url:
        base = f'<base href="{html_text.escape(base_url, quote=True)}">'
        return page.replace("<head>", f"<head>\n{base}", 1) if "<head>" in page else base + page

    def unlink(match: re.Match[str]) -> str:
        name = html_text.unescape(match.group(1)).rsplit("/", 1)[-1]
        return f'<span class="credit-file">{match.group(3)} ({html_text.escape(name)})</span>'

    return _RELATIVE_LINK.sub(unlink, page)


def find_chromium() -> str | None:
    """The browser to print with: ``$CREDIT_REPORTS_CHROMIUM``, else the first Chromium on PATH."""
    named = os.environ.get(CHROMIUM_ENV)
    if named:
        return shutil.which(named) or (named if Path(named).is_file() else None)
    for candidate in _CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def chromium_arguments(browser: str, profile: Path, html: Path, target: Path) -> list[str]:
    """The command line: headless, no sandbox (containers), no network, no first-run or sync services."""
    return [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--disable-extensions", "--disable-dev-shm-usage", "--mute-audio",
        f"--user-data-dir={profile}",
        "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
        "--no-pdf-header-footer", "--print-to-pdf-no-header",
        f"--print-to-pdf={target}", html.resolve().as_uri(),
    ]


def print_to_pdf(html: Path, target: Path, *, timeout: float = PDF_TIMEOUT_SECONDS) -> Path:
    """Print ``html`` to ``target`` (a PDF); raise :class:`PdfUnavailableError` saying why not, in one line."""
    browser = find_chromium()
    if browser is None:
        raise PdfUnavailableError(
            "Chromium is not installed: run `make browser-deps` once (Debian's chromium), or set "
            "CREDIT_REPORTS_CHROMIUM to a Chromium-compatible browser"
        )
    target.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="credit-reports-chromium-") as profile:
        try:
            done = subprocess.run(
                chromium_arguments(browser, Path(profile), html, target),
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout, check=False,
            )
        except subprocess.TimeoutExpired:
            raise PdfUnavailableError(f"Chromium did not finish printing within {timeout:.0f} s") from None
        except OSError as exc:
            raise PdfUnavailableError(f"Chromium could not be started ({exc.strerror or exc})") from None
    if done.returncode != 0 or not target.is_file() or target.stat().st_size == 0:
        last = (done.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        detail = f": {last[-1][:160]}" if last else ""
        raise PdfUnavailableError(f"Chromium exited with code {done.returncode} and wrote no PDF{detail}")
    return target


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
