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
"""

from __future__ import annotations

import threading
import time
from typing import Any

__all__ = ["ProgressBoard", "Stage", "board", "stage"]

#: Redraw at most this often (seconds) for updates; opening, closing and totals redraw at once.
REFRESH_SECONDS = 0.1
#: A stage silent this long when a new lead stage starts is taken as abandoned (e.g. a listing whose
#: fetch failed, kept open by a traceback a notebook holds on to) and no longer shown.
STALE_SECONDS = 120.0


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
        """A stage ended: if it was on screen its bar stays as its final line, and the next one is shown."""
        with self.lock:
            if item in self.stages:
                self.stages.remove(item)
            if item is self.shown:
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
        from tqdm.auto import tqdm

        self.shown = item
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
