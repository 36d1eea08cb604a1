"""Progress for the fetch's stages: one bar on screen at a time, in a terminal and in JupyterLab alike.

A fetch runs several stages at once (customers, subscriptions and credit adjustments are listed on their
own threads while balances are fetched). Each stage used to draw its own tqdm bar from its own thread:
in a terminal four bars fought over the cursor, in a notebook without ipywidgets the text fallback
stacked garbled lines. Here every stage reports to one owner, :class:`ProgressBoard`, which alone
touches tqdm (under one lock): it shows one bar, for the *lead* stage (balances fetched) when one is
running, else for the oldest running stage, and names the other running stages and their counts in
that bar's postfix. A stage that finishes while shown leaves its final line (terminal) or widget
(notebook) behind, so a finished fetch shows one bar per stage it showed. ``tqdm.auto`` picks the
ipywidgets bar in Jupyter (ipywidgets is a dependency) and the text bar elsewhere.

When stderr is neither a terminal nor a notebook (a cron log, a CI job, a pipe), a redrawn bar is
thousands of carriage returns on one line; there the board writes plain lines instead: one timestamped
line for the stage on show every :data:`LOG_SECONDS` (``$CREDIT_REPORTS_PROGRESS_SECONDS``), and its
final count when it ends (``2026-12-01T06:15:30Z progress: balances fetched 1,200/2,000 (60%) after 41 s;
customers listed 2,000``). :attr:`ProgressBoard.mode` (``"auto"``, ``"bar"``, ``"lines"``) overrides
the choice.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from credit_reports.core import logs

__all__ = ["LOG_SECONDS", "LogLines", "ProgressBoard", "Stage", "board", "log_seconds", "stage"]

#: Redraw at most this often (seconds) for updates; opening, closing and totals redraw at once.
REFRESH_SECONDS = 0.1
#: A stage silent this long when a new lead stage starts is taken as abandoned (e.g. a listing whose
#: fetch failed, kept open by a traceback a notebook holds on to) and no longer shown.
STALE_SECONDS = 120.0
#: Without a terminal: a progress line at most this often (seconds) while a stage runs.
LOG_SECONDS = 30.0
MODES = ("auto", "bar", "lines")


def log_seconds() -> float:
    """:data:`LOG_SECONDS`, or ``$CREDIT_REPORTS_PROGRESS_SECONDS`` when that is a number >= 0."""
    text = os.environ.get("CREDIT_REPORTS_PROGRESS_SECONDS", "").strip()
    try:
        value = float(text) if text else LOG_SECONDS
    except ValueError:
        return LOG_SECONDS
    return value if value >= 0 else LOG_SECONDS


class LogLines:
    """The part of tqdm's API the board uses, written as timestamped lines for logs (no redraws).

    Nothing is written when the stage opens: a line every :func:`log_seconds` while it runs, and one
    when it ends (if it was on show), so a two-second fetch leaves one line per stage it showed.
    """

    def __init__(self, desc: str, total: int | None, unit: str, initial: int) -> None:
        self.desc = desc
        self.total = total
        self.unit = unit
        self.n = initial
        self.postfix = ""
        self.leave = True
        self.started = self.written = time.monotonic()

    def set_postfix_str(self, text: str = "", refresh: bool = True) -> None:
        self.postfix = text

    def refresh(self) -> None:
        if time.monotonic() - self.written >= log_seconds():
            self._write("after")

    def close(self) -> None:
        if self.leave:
            self._write("in")

    def line(self, when: str = "after") -> str:
        """``balances fetched 1,200/2,000 (60%) after 41 s; customers listed 2,000`` (no stamp)."""
        of = f"/{self.total:,}" if self.total else ""
        share = f" ({self.n / self.total:.0%})" if self.total else ""
        seconds = time.monotonic() - self.started
        text = f"{self.desc} {self.n:,}{of}{share} {when} {seconds:.0f} s"
        return f"{text}; {self.postfix}" if self.postfix else text

    def _write(self, when: str) -> None:
        self.written = time.monotonic()
        logs.say(f"progress: {self.line(when)}", sys.stderr)


class Stage:
    """One stage's counter (e.g. "customers listed"): the small part of tqdm's API the fetch uses.

    Thread-safe: ``update`` may be called from any worker thread; only the board draws.
    """

    def __init__(self, board: ProgressBoard | None, desc: str, *, total: int | None = None, unit: str = "",
                 initial: int = 0, lead: bool = False) -> None:
        self.board = board
        self.desc = desc
        self.unit = unit
        self.lead = lead
        self.n = int(initial)
        self._total = total
        self.postfix = ""
        self.closed = False
        self.opened = self.touched = time.monotonic()

    @property
    def total(self) -> int | None:
        return self._total

    @total.setter
    def total(self, value: int | None) -> None:
        self._total = value
        if self.board is not None:
            self.board.changed(self, force=True)

    def update(self, n: int = 1) -> None:
        """Count ``n`` more items done."""
        if self.board is None:
            self.n += n
            return
        with self.board.lock:
            self.n += n
            self.touched = time.monotonic()
        self.board.changed(self)

    def set_postfix_str(self, text: str = "", refresh: bool = True) -> None:
        """Text shown after the counts while this stage is on screen (e.g. the rate limit's ETA)."""
        self.postfix = str(text)
        if self.board is not None:
            self.board.changed(self, force=refresh)

    def refresh(self) -> None:
        if self.board is not None:
            self.board.changed(self, force=True)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.board is not None:
                self.board.finish(self)

    def __enter__(self) -> Stage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def label(self) -> str:
        """``customers listed 1,200`` (with ``/2,000`` when the total is known), for another bar's postfix."""
        of = f"/{self._total:,}" if self._total else ""
        return f"{self.desc} {self.n:,}{of}"


class ProgressBoard:
    """The one owner of the on-screen bar for every running :class:`Stage` of the process."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.stages: list[Stage] = []
        self.shown: Stage | None = None
        self.bar: Any = None
        self._drawn = 0.0
        self.mode = "auto"  # "bar": tqdm; "lines": timestamped lines; "auto": bars on a terminal or notebook

    def lines(self) -> bool:
        """True when this board writes log lines rather than redrawn bars (see the module docstring)."""
        if self.mode not in MODES:
            raise ValueError(f"progress mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.mode != "auto":
            return self.mode == "lines"
        return not (logs.is_terminal(sys.stderr) or logs.in_notebook())

    # -- stages report here --------------------------------------------------------------------------

    def open(self, desc: str, *, total: int | None = None, unit: str = "", initial: int = 0,
             lead: bool = False) -> Stage:
        """Start a stage; it is drawn, or named in the bar of the stage on screen."""
        item = Stage(self, desc, total=total, unit=unit, initial=initial, lead=lead)
        with self.lock:
            if lead:  # a new fetch's main stage: forget stages an earlier, failed fetch left open
                now = time.monotonic()
                self.stages = [s for s in self.stages if now - s.touched < STALE_SECONDS]
            self.stages.append(item)
            self._arrange()
        return item

    def changed(self, item: Stage, *, force: bool = False) -> None:
        """A stage counted or changed; redraw if due (at most every :data:`REFRESH_SECONDS`)."""
        with self.lock:
            if not force and time.monotonic() - self._drawn < REFRESH_SECONDS:
                return
            self._draw()

    def finish(self, item: Stage) -> None:
        """A stage ended: if it was on screen its bar stays as its final line, and the next one is shown.
        The stage's own postfix (a running ETA) is left off that final line: it no longer applies."""
        with self.lock:
            if item in self.stages:
                self.stages.remove(item)
            if item is self.shown:
                item.postfix = ""
                self._draw()
                self._close_bar(leave=True)
            self._arrange()

    # -- drawing (under the lock) ---------------------------------------------------------------------

    def _pick(self) -> Stage | None:
        """The stage to show: the lead stage when one runs, else the oldest running stage."""
        if not self.stages:
            return None
        leads = [s for s in self.stages if s.lead]
        return (leads or self.stages)[0]

    def _arrange(self) -> None:
        wanted = self._pick()
        if wanted is not self.shown:
            if self.bar is not None:  # the old stage still runs: it moves into the new bar's postfix
                self._close_bar(leave=False)
            if wanted is not None:
                self._open_bar(wanted)
        self._draw()

    def _open_bar(self, item: Stage) -> None:
        self.shown = item
        if self.lines():
            self.bar = LogLines(item.desc, item.total, item.unit, item.n)
            return
        from tqdm.auto import tqdm

        self.bar = tqdm(total=item.total, desc=item.desc, unit=item.unit, initial=item.n, dynamic_ncols=True,
                        leave=True, mininterval=0, miniters=1)

    def _close_bar(self, *, leave: bool) -> None:
        if self.bar is not None:
            self.bar.leave = leave
            self.bar.close()
        self.bar = None
        self.shown = None

    def _draw(self) -> None:
        bar, item = self.bar, self.shown
        if bar is None or item is None:
            return
        if bar.total != item.total:
            bar.total = item.total
            container = getattr(bar, "container", None)  # the notebook widget keeps its own maximum
            if container is not None and item.total:
                container.children[1].max = item.total
        bar.n = item.n
        others = [s.label() for s in self.stages if s is not item]
        postfix = ", ".join([p for p in (item.postfix, *others) if p])
        bar.set_postfix_str(postfix, refresh=False)
        bar.refresh()
        self._drawn = time.monotonic()


_BOARD = ProgressBoard()


def board() -> ProgressBoard:
    """The process's board (one screen, so one owner)."""
    return _BOARD


def stage(desc: str, *, enabled: bool = True, total: int | None = None, unit: str = "", initial: int = 0,
          lead: bool = False) -> Stage:
    """A stage counter: drawn through the board when ``enabled``, else a silent counter with the same
    methods. (tqdm's own ``TQDM_DISABLE``, read when tqdm is imported, still silences the drawn bar.)"""
    if not enabled:
        return Stage(None, desc, total=total, unit=unit, initial=initial, lead=lead)
    return _BOARD.open(desc, total=total, unit=unit, initial=initial, lead=lead)


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
