"""Id-sorted collections with Paddle's cursor pagination, for the simulator's list endpoints.

Paddle pages by cursor: ``after=<id>`` plus ``order_by=id[ASC]`` or ``id[DESC]``. Keeping every
collection sorted by id lets a page be found by bisection, so a request costs the size of its page,
not the size of the account (the 20,000-customer benchmark makes thousands of these calls).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

# Paddle's estimated_total is exact up to 100,000, then reported as 100,001.
TOTAL_CAP = 100_000

Predicate = Callable[[dict[str, Any]], bool]


@dataclass
class Page:
    """One page of a listing: its items, whether more follow, and the filtered total (-1 if skipped)."""

    items: list[dict[str, Any]]
    has_more: bool
    total: int


class Listing:
    """Entities kept sorted by their id field, with a parallel list of ids for bisection."""

    def __init__(self, items: Iterable[dict[str, Any]] = (), key: str = "id") -> None:
        self.key = key
        pairs = sorted(((item[key], item) for item in items), key=lambda pair: pair[0])
        self.ids: list[str] = [pair[0] for pair in pairs]
        self.items: list[dict[str, Any]] = [pair[1] for pair in pairs]

    def __len__(self) -> int:
        return len(self.ids)

    def add(self, item: dict[str, Any]) -> None:
        """Insert one entity keeping id order (appending when it is the newest, the usual case)."""
        entity_id = item[self.key]
        if not self.ids or entity_id > self.ids[-1]:
            self.ids.append(entity_id)
            self.items.append(item)
            return
        index = bisect_left(self.ids, entity_id)
        self.ids.insert(index, entity_id)
        self.items.insert(index, item)

    def index_of(self, entity_id: str) -> int:
        """Position of the first item whose id is >= ``entity_id``."""
        return bisect_left(self.ids, entity_id)

    def page(
        self,
        *,
        after: str | None,
        descending: bool,
        per_page: int,
        predicate: Predicate | None = None,
        count: bool = True,
        start: int = 0,
        end: int | None = None,
    ) -> Page:
        """Return the ``per_page`` items after the cursor in the asked order, matching ``predicate``.

        ``start`` hides the items before that index (the events endpoint's 90-day horizon), ``end`` those from
        that index on (events after the moment the account is served at).
        """
        ids, items = self.ids, self.items
        if end is not None:
            ids, items = ids[:end], items[:end]
        found: list[dict[str, Any]] = []
        if descending:
            hi = bisect_left(ids, after) if after else len(ids)
            positions: Iterable[int] = range(hi - 1, start - 1, -1)
        else:
            lo = bisect_right(ids, after) if after else 0
            positions = range(max(lo, start), len(ids))
        has_more = False
        for position in positions:
            item = items[position]
            if predicate is not None and not predicate(item):
                continue
            if len(found) == per_page:
                has_more = True
                break
            found.append(item)
        total = -1
        if count:
            matching = items[start:] if predicate is None else [i for i in items[start:] if predicate(i)]
            total = len(matching)
            total = min(total, TOTAL_CAP + 1)
        return Page(found, has_more, total)


__all__ = ["Listing", "Page", "TOTAL_CAP"]
