"""Publishing a rendered report safely: stage outside, scan for secrets, then one rename.

A report is written into a staging folder beside the output folder (``<parent>/.reports.staging/``, never
inside what is served). The folder it is published in is assembled there whole: the other reports of the
same folder (hard links), then this report's files. Only when every file has passed the secret scan is it
renamed into place as a new version, ``reports/2026-11.v2/``, and ``reports/2026-11`` (a link) is switched
to it by one rename: a reader sees the old folder or the new one, never half, and the earlier version stays
beside it (``reports/2026-11.v1/``), never overwritten. A failed, killed or leaking render publishes nothing.

The scan fails closed: it looks for the API key in use (the ``api_key`` argument or
``$PADDLE_API_KEY``) and for anything shaped like a Paddle secret, in every file written, including
the XML inside XLSX workbooks. Errors name the file and what was found, never the secret itself.

Two more checks guard what is published: the HTML must load nothing from elsewhere
(:func:`external_resources`, :func:`refuse_external_resources`), and error text built from a notebook's
output has the key in use removed (:func:`redact_key`).
"""

from __future__ import annotations

import errno
import glob
import logging
import os
import re
import shutil
import signal
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path

from credit_reports.core.errors import Finding, ReportFailedError, SecretLeakError

__all__ = [
    "ReportFailedError",
    "SecretLeakError",
    "SECRET_PATTERNS",
    "Finding",
    "external_resources",
    "find_secrets",
    "redact_key",
    "refuse_external_resources",
    "scan_for_secrets",
    "staging_folder",
    "staging_root",
    "publish_files",
    "Terminated",
    "VERSION_FOLDER",
    "assemble_version",
    "current_version",
    "next_version",
    "publish_version",
    "versions",
]

log = logging.getLogger("credit_reports.publish")

#: Shapes of Paddle secrets: API keys (``pdl_live_apikey_...``, ``pdl_sdbx_apikey_...``) and
#: notification-destination secret keys (``pdl_ntfset_...``). Legacy 50-character keys have no
#: recognisable shape; the scan catches them through the key in use.
SECRET_PATTERNS: dict[str, re.Pattern[bytes]] = {
    "a Paddle API key": re.compile(rb"pdl_(?:live|sdbx)_apikey_[A-Za-z0-9_]{10,}"),
    "a Paddle key": re.compile(rb"pdl_(?:live|sdbx)_[A-Za-z0-9]{2,}_[A-Za-z0-9_]{16,}"),
    "a Paddle notification secret": re.compile(rb"pdl_ntfset_[A-Za-z0-9_]{10,}"),
}

#: A key shorter than this is not searched for literally: it would match ordinary text.
MIN_LITERAL_KEY_LENGTH = 12

#: Files larger than this are read in chunks with an overlap, so memory stays flat.
_CHUNK = 8 * 1024 * 1024
_OVERLAP = 256


Literals = dict[bytes, str]


def _literals(api_key: str | None, others: Mapping[str, str | None] | None) -> Literals:
    """Exact strings to search for -> what to call them: the key in use (the argument, else
    $PADDLE_API_KEY) and any other secret of the run (e.g. the pseudonymisation salt). Values shorter
    than :data:`MIN_LITERAL_KEY_LENGTH` are skipped: they would match ordinary text."""
    found: Literals = {}
    key = api_key if api_key is not None else os.environ.get("PADDLE_API_KEY")
    for what, value in [("the API key in use", key), *(others or {}).items()]:
        text = (value or "").strip()
        if len(text) >= MIN_LITERAL_KEY_LENGTH:
            found.setdefault(text.encode("utf-8"), what)
    return found


def _scan_bytes(data: bytes, literals: Literals) -> list[str]:
    """The kinds of secret present in ``data`` (empty when clean)."""
    found = [what for literal, what in literals.items() if literal in data]
    for what, pattern in SECRET_PATTERNS.items():
        if pattern.search(data):
            found.append(what)
            break
    return found


def _chunks(path: Path) -> Iterator[bytes]:
    """The file's bytes in overlapping chunks, so a secret across a boundary is still seen."""
    with open(path, "rb") as handle:
        tail = b""
        while block := handle.read(_CHUNK):
            yield tail + block
            tail = block[-_OVERLAP:]


def _scan_file(path: Path, label: str, literals: Literals) -> list[Finding]:
    """Scan one file; a zip container (XLSX) is scanned member by member, decompressed."""
    findings: list[Finding] = []
    seen: set[str] = set()
    for chunk in _chunks(path):
        for what in _scan_bytes(chunk, literals):
            if what not in seen:
                seen.add(what)
                findings.append(Finding(label, what))
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                for member in archive.infolist():
                    if member.is_dir():
                        continue
                    data = archive.read(member)
                    for what in _scan_bytes(data, literals):
                        findings.append(Finding(f"{label} ({member.filename})", what))
        except zipfile.BadZipFile:
            findings.append(Finding(label, "an unreadable zip archive (cannot prove it holds no secret)"))
    return findings


def find_secrets(
    paths: Iterable[str | Path],
    api_key: str | None = None,
    *,
    other_secrets: Mapping[str, str | None] | None = None,
) -> list[Finding]:
    """Every secret found in ``paths`` (files, or folders scanned recursively); empty when clean.

    Looks for ``api_key`` (or ``$PADDLE_API_KEY`` when None) and each value of ``other_secrets``
    (``{"the pseudonymisation salt": salt}``) literally, and for :data:`SECRET_PATTERNS`, in the raw bytes
    of every file and in every member of zip containers (XLSX workbooks).
    """
    literals = _literals(api_key, other_secrets)
    findings: list[Finding] = []
    for raw in paths:
        path = Path(raw)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            findings.extend(_scan_file(file, file.name, literals))
    return findings


def scan_for_secrets(
    paths: Iterable[str | Path],
    api_key: str | None = None,
    *,
    other_secrets: Mapping[str, str | None] | None = None,
) -> None:
    """Raise :class:`SecretLeakError` when any of ``paths`` holds a secret (see :func:`find_secrets`)."""
    findings = find_secrets(paths, api_key, other_secrets=other_secrets)
    if findings:
        raise SecretLeakError(findings)


#: A staging folder older than this was left by a render that was killed: it is removed.
ABANDONED_AFTER_SECONDS = 24 * 3600

#: A published version of a report folder: ``2026-11.v2`` (the folder ``2026-11`` is a link to the current one).
VERSION_FOLDER = re.compile(r"^(?P<folder>[A-Za-z0-9][A-Za-z0-9_-]*)\.v(?P<version>[1-9][0-9]*)$")


def staging_root(out_dir: Path) -> Path:
    """Where renders stage: ``<parent>/.<out_dir name>.staging``, beside ``out_dir`` and never inside what is
    served; ``out_dir`` itself (hidden ``.render-*`` folders, removed on any exit, SIGTERM included) only
    when the parent is another file system or not writable, because publishing must be one rename."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sibling = out_dir.parent / f".{out_dir.name}.staging"
    try:
        sibling.mkdir(mode=0o700, exist_ok=True)
        if sibling.stat().st_dev == out_dir.stat().st_dev:
            return sibling
        sibling.rmdir()
    except OSError:
        pass
    return out_dir


def _remove_abandoned(root: Path, older_than: float = ABANDONED_AFTER_SECONDS) -> None:
    """Remove staging folders a killed render left behind (never published, never scanned clean)."""
    now = time.time()
    for folder in root.glob(".render-*"):
        try:
            if folder.is_dir() and now - folder.stat().st_mtime >= older_than:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


class Terminated(SystemExit):
    """SIGTERM arrived while a render was staging: raised (exit 143, as a killed process) so every
    ``finally`` removes what it staged and the kernel is shut down."""


@contextmanager
def _terminate_cleanly() -> Iterator[None]:
    """While staging, SIGTERM raises :class:`Terminated` (then the process exits 143) instead of killing the
    process with its staging folder still on disk; only in the main thread, where Python runs handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        log.error("terminated (signal %d) while rendering: nothing was published, the staging folder is "
                  "removed", signum)
        raise Terminated(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def staging_folder(out_dir: Path, name: str) -> Iterator[Path]:
    """A private folder to render into, outside ``out_dir`` (see :func:`staging_root`); always removed
    afterwards, also when SIGTERM ends the render (the signal is re-raised as :class:`Terminated`)."""
    root = staging_root(out_dir)
    _remove_abandoned(root)
    if root != out_dir:  # left inside reports/ by an older version: no render stages there now, remove at once
        _remove_abandoned(out_dir, older_than=0)
    with _terminate_cleanly():
        folder = Path(tempfile.mkdtemp(prefix=f".render-{name}-", dir=root))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def publish_files(files: list[Path], destination: Path, *, last: Iterable[Path] = ()) -> list[Path]:
    """Move staged ``files`` into ``destination`` (replacing same-named files); ``last`` ones moved last.

    Each move is an atomic rename, so a reader sees either the old file or the new one, never half.
    Returns the published paths in the order given.
    """
    destination.mkdir(parents=True, exist_ok=True)
    last_set = {Path(p) for p in last}
    ordered = [f for f in files if Path(f) not in last_set] + [f for f in files if Path(f) in last_set]
    published: dict[Path, Path] = {}
    for source in ordered:
        target = destination / Path(source).name
        os.replace(source, target)
        published[Path(source)] = target
    return [published[Path(f)] for f in files]


# ---------------------------------------------------------------------------------------------------
# versioned folders: a folder appears whole, a re-render keeps the earlier version beside it


def versions(out_dir: Path, folder: str) -> list[int]:
    """The published versions of ``folder`` (``2026-11.v1``, ``2026-11.v2``, ...), oldest first."""
    found = []
    for path in out_dir.glob(f"{glob.escape(folder)}.v*"):
        match = VERSION_FOLDER.match(path.name)
        if match and match["folder"] == folder and path.is_dir() and not path.is_symlink():
            found.append(int(match["version"]))
    return sorted(found)


def current_version(out_dir: Path, folder: str) -> Path | None:
    """The folder ``out_dir/folder`` shows now: the version its link points at, a folder of the older
    unversioned layout, or None when nothing of that name is published."""
    link = out_dir / folder
    if link.is_symlink():
        target = out_dir / os.readlink(link)
        return target if target.is_dir() else None
    return link if link.is_dir() else None


def next_version(out_dir: Path, folder: str) -> int:
    """The number the next publication of ``folder`` gets (1 for the first; a real, unversioned folder of the
    older layout is kept as the version before it, renamed when it is replaced)."""
    numbers = versions(out_dir, folder)
    legacy = (out_dir / folder).is_dir() and not (out_dir / folder).is_symlink()
    return max(numbers, default=0) + (2 if legacy else 1)  # a real folder first becomes the version before


def assemble_version(version_dir: Path, current: Path | None, own_files: set[str]) -> None:
    """Fill the staged ``version_dir`` with the current version's files that belong to other reports (hard
    links, else copies): a folder holds every report of its period, and each version is whole on its own.
    ``own_files`` are the names the report being published had there (its previous manifest's files): left out."""
    version_dir.mkdir(parents=True, exist_ok=True)
    if current is None:
        return
    for path in sorted(current.iterdir()):
        target = version_dir / path.name
        if path.name in own_files or path.name.startswith(".") or not path.is_file() or target.exists():
            continue
        try:
            os.link(path, target)
        except OSError:
            shutil.copy2(path, target)


def publish_version(version_dir: Path, out_dir: Path, folder: str, version: int) -> Path:
    """Publish the whole, scanned ``version_dir`` as ``out_dir/<folder>.v<version>``, then point
    ``out_dir/<folder>`` at it in one step (a link swapped by rename); the earlier version stays beside it.

    A real folder of the older unversioned layout is first renamed to ``<folder>.v<version - 1>``. Returns the
    folder path readers use (``out_dir/<folder>``). A version published meanwhile by another render is refused
    (one line).
    """
    from credit_reports.core.errors import UsageError

    final = out_dir / f"{folder}.v{version}"
    link = out_dir / folder
    if link.is_dir() and not link.is_symlink():  # the older layout (or a copy): keep it as the version before
        os.rename(link, out_dir / f"{folder}.v{version - 1}")
    try:
        os.rename(version_dir, final)
    except OSError as exc:
        if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
            raise UsageError(f"another render published {final.name} meanwhile; render {folder} again") from None
        raise
    temp = version_dir.parent / f".link-{folder}"  # made in staging, renamed over the link: reports/ never holds it
    temp.unlink(missing_ok=True)
    os.symlink(final.name, temp)
    os.replace(temp, link)
    return link


# ---------------------------------------------------------------------------------------------------
# the page loads nothing from elsewhere


class _ResourceFinder(HTMLParser):
    """Collects every URL the page would fetch from the network (links a reader clicks are not fetches)."""

    _FETCH_ATTRS = {"src", "srcset", "href", "data", "poster", "background", "action", "formaction",
                    "xlink:href", "manifest", "icon"}
    _URL_IN_CSS = re.compile(r"""(?:url\(\s*['"]?|@import\s+['"]?)\s*((?:https?:)?//[^'")\s]+)""", re.I)

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_style = False

    @staticmethod
    def _external(value: str) -> bool:
        value = value.strip().lower()
        return value.startswith(("http://", "https://", "//", "ftp://", "ws://", "wss://"))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        for name, value in attrs:
            if not value:
                continue
            if name == "style":
                self.found.extend(self._URL_IN_CSS.findall(value))
            elif name in self._FETCH_ATTRS and not (tag in {"a", "area"} and name == "href"):
                urls = [value]
                if name == "srcset":
                    urls = [part.split()[0] for part in value.split(",") if part.strip()]
                self.found.extend(u for u in urls if self._external(u))
            elif tag == "meta" and name == "content" and "url=" in value.lower():
                target = value.lower().split("url=", 1)[1]
                if self._external(target):
                    self.found.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.found.extend(self._URL_IN_CSS.findall(data))


def external_resources(html: str) -> list[str]:
    """URLs the page would load from elsewhere (scripts, styles, images, frames, CSS url()/@import).

    Empty for a self-contained report. Hyperlinks (``<a href>``) are allowed: they load nothing.
    """
    finder = _ResourceFinder()
    finder.feed(html)
    finder.close()
    return finder.found


def refuse_external_resources(html: str) -> None:
    """Raise :class:`ReportFailedError` when the page would load anything from elsewhere (one line)."""
    external = external_resources(html)
    if external:
        raise ReportFailedError(
            f"the rendered HTML would load {len(external)} resource(s) from elsewhere (first: "
            f"{external[0][:80]}); nothing was published"
        )


def redact_key(text: str, api_key: str | None) -> str:
    """The text with the key in use removed, for error messages built from notebook output."""
    from credit_reports.core.redact import redact

    return redact(text, [api_key])


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
