"""Paddle-style entity ids and timestamps for the simulator.

Paddle ids are a prefix plus 26 characters of lower-case Crockford base32 (``^ctm_[a-z\\d]{26}$``),
laid out like a ULID: 10 characters of millisecond timestamp, then 16 characters of randomness. Ids made
this way sort by creation time, which is what lets ``after=<id>`` work as a cursor and a high-water mark.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from functools import lru_cache

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_DECODE = {ch: i for i, ch in enumerate(ALPHABET)}
_PAIRS = [a + b for a in ALPHABET for b in ALPHABET]  # 10 bits -> 2 characters
_TRIPLES = [p + c for p in _PAIRS for c in ALPHABET]  # 15 bits -> 3 characters
_MS_MAX = (1 << 50) - 1
_RAND_BITS = 80
_RAND_MAX = (1 << _RAND_BITS) - 1


def make_id(prefix: str, ms: int, rand: int) -> str:
    """Build ``<prefix>_<10 time chars><16 random chars>`` from a ms timestamp and 80 random bits.

    The 130-bit body is cut into one 10-bit and eight 15-bit chunks looked up in tables, because this
    runs hundreds of thousands of times when a large account is generated.
    """
    v = ((ms & _MS_MAX) << _RAND_BITS) | (rand & _RAND_MAX)
    t = _TRIPLES
    return (prefix + "_" + _PAIRS[v >> 120] + t[(v >> 105) & 0x7FFF] + t[(v >> 90) & 0x7FFF]
            + t[(v >> 75) & 0x7FFF] + t[(v >> 60) & 0x7FFF] + t[(v >> 45) & 0x7FFF] + t[(v >> 30) & 0x7FFF]
            + t[(v >> 15) & 0x7FFF] + t[v & 0x7FFF])


def decode_id(entity_id: str) -> tuple[int, int]:
    """Split an id made by :func:`make_id` back into (ms, random bits)."""
    body = entity_id.split("_", 1)[1]
    value = 0
    for ch in body:
        value = (value << 5) | _DECODE[ch]
    return value >> _RAND_BITS, value & _RAND_MAX


def random_id(prefix: str, ms: int, rng: random.Random) -> str:
    """An id for an entity created at ``ms``, random part drawn from ``rng`` (deterministic per seed)."""
    return make_id(prefix, ms, rng.getrandbits(_RAND_BITS))


class MonotonicIds:
    """Ids that follow the moment they are made for, as Paddle's do: an id made for ``ms`` sorts after every id of
    an earlier millisecond and before every id of a later one, whatever order they are made in; ids of one
    millisecond are unique and increase in the order they are made.

    Used for everything created after the historical account was generated (``Simulator.advance``). A move
    stamps its operations at ``ms`` to ``ms + 6`` but makes them in its own order: the ids still sort by
    ``occurred_at`` (issue 24: ids in creation order put a later event below an earlier one and hid it from a
    cursor read by id).
    """

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._last: dict[str, tuple[int, int]] = {}  # the greatest (ms, random part) per prefix
        self._by_ms: dict[tuple[str, int], int] = {}  # the last random part issued per (prefix, ms)

    def observe(self, entity_id: str) -> None:
        """Record an existing id so a later id of its prefix in the same millisecond sorts after it."""
        prefix = entity_id.split("_", 1)[0]
        decoded = decode_id(entity_id)
        if prefix not in self._last or decoded > self._last[prefix]:
            self._last[prefix] = decoded
        key = (prefix, decoded[0])
        self._by_ms[key] = max(self._by_ms.get(key, -1), decoded[1])

    def next(self, prefix: str, ms: int) -> str:
        """A new id for ``prefix`` made for ``ms``: it sorts by ``ms`` first, and after every id issued or observed
        for the same millisecond."""
        rand = self._rng.getrandbits(_RAND_BITS - 8)  # leave headroom for increments
        key = (prefix, ms)
        previous = self._by_ms.get(key)
        if previous is not None and rand <= previous:
            rand = previous + 1
        self._by_ms[key] = rand
        if len(self._by_ms) > 50_000:  # keep the recent milliseconds only (moves are never far apart)
            newest = max(m for _, m in self._by_ms)
            self._by_ms = {k: v for k, v in self._by_ms.items() if k[1] > newest - 60_000}
        if prefix not in self._last or (ms, rand) > self._last[prefix]:
            self._last[prefix] = (ms, rand)
        return make_id(prefix, ms, rand)


_DAYS: dict[int, str] = {}


@lru_cache(maxsize=4096)  # an entity's created_at, updated_at and event stamp are usually the same ms
def iso(ms: int) -> str:
    """RFC 3339 UTC timestamp with microseconds, as Paddle writes them (``2024-04-15T08:48:20.239000Z``).

    The date part is cached per day because account generation formats a few hundred thousand stamps.
    """
    day, rest = divmod(ms, 86_400_000)
    date = _DAYS.get(day)
    if date is None:
        date = _DAYS[day] = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%d")
    seconds, millis = divmod(rest, 1000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{date}T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}000Z"


def now_ms() -> int:
    """Real wall-clock time in milliseconds since the epoch."""
    return int(datetime.now(UTC).timestamp() * 1000)
