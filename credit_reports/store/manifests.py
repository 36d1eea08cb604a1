"""The two manifests as typed records: a snapshot's ``manifest.json`` and a report's ``manifest.json``.

One declaration per manifest is the field list: the fetch and the render build these records, the store,
the index, the email and the alerts read them by attribute, and ``to_json`` writes exactly the JSON the README
documents (field order as declared). Both are lenient readers, because a manifest on disk may be old,
hand-edited or written by a newer toolkit:

* a key this toolkit does not declare is kept in ``extra`` and written back after the declared ones, so a
  field another branch or version adds round-trips instead of being dropped;
* a declared key that was absent stays absent (``to_json`` leaves it out and ``"x" in manifest`` is False),
  so "not recorded" and "recorded as null" remain different, as readers of older manifests rely on;
* values are not coerced: :meth:`SnapshotManifest.problem` says which field has the wrong JSON type.

Both records are also read-only mappings of their JSON (``manifest["strategy"]``, ``manifest.get(...)``),
so notebooks and code written against the plain dict keep working.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

__all__ = ["ReportManifest", "ReportSnapshot", "SnapshotManifest"]


class _Record(Mapping[str, Any]):
    """What both manifests share: JSON in and out, unknown keys kept, absent keys remembered."""

    #: Declared fields whose JSON value must have one of these types when present (not None).
    JSON_TYPES: ClassVar[dict[str, tuple[type, ...]]] = {}
    # every record declares these two as its last dataclass fields
    extra: dict[str, Any]
    absent: frozenset[str]

    @classmethod
    def fields(cls) -> tuple[str, ...]:
        """The declared JSON field names, in the order they are written."""
        return tuple(f.name for f in dataclasses.fields(cls) if f.name not in {"extra", "absent"})  # type: ignore[arg-type]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """The record of a parsed JSON object; undeclared keys go to ``extra``, in their order."""
        if isinstance(data, cls):
            return data
        names = cls.fields()
        values = {name: cls._read(name, data[name]) for name in names if name in data}
        extra = {key: value for key, value in data.items() if key not in names}
        return cls(**values, extra=extra, absent=frozenset(n for n in names if n not in data))  # type: ignore[call-arg]

    @classmethod
    def _read(cls, name: str, value: Any) -> Any:
        """One field's value as stored on the record (nested records override this)."""
        return value

    def to_json(self) -> dict[str, Any]:
        """The JSON object: the declared fields present, in order, then the undeclared ones."""
        out: dict[str, Any] = {}
        for name in self.fields():
            if name not in self.absent:
                value = getattr(self, name)
                out[name] = value.to_json() if isinstance(value, _Record) else value
        out.update(self.extra)
        return out

    def updated(self, **values: Any) -> Self:
        """A copy with these declared fields set (and present in the JSON from now on)."""
        return dataclasses.replace(self, **values, absent=self.absent - values.keys())  # type: ignore[type-var]

    def type_problem(self) -> str | None:
        """Which declared field has the wrong JSON type (one line), or None."""
        for name, kinds in self.JSON_TYPES.items():
            value = self.get(name)
            if value is None:
                continue
            if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
                return f"its manifest's {name} is a {type(value).__name__}, not a {kinds[0].__name__}"
        return None

    # -- the read-only mapping of the JSON ----------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        if key in self.extra:
            return self.extra[key]
        if key in self.absent or key not in self.fields():
            raise KeyError(key)
        value = getattr(self, key)
        return value.to_json() if isinstance(value, _Record) else value

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_json())

    def __len__(self) -> int:
        return len(self.to_json())


@dataclass(eq=False, repr=False)
class SnapshotManifest(_Record):
    """A snapshot's ``manifest.json`` (README "Snapshots"; written by the fetch, read by the store).

    ``duplicates_collapsed`` is added by :meth:`SnapshotWriter.publish`; the rest by the fetch, in this order.
    """

    as_of: str | None = None
    environment: str | None = None
    base_url: str | None = None
    strategy: str | None = None
    requested_strategy: str | None = None
    fallback_reason: str | None = None
    complete: bool | None = None
    counts: dict[str, int | None] | None = None
    api_calls: int | None = None
    retries: int | None = None
    rate_limited: int | None = None
    failures: Any = None
    failed_customer_ids: list[str] | None = None
    failed_carried_over_ids: list[str] | None = None
    #: Failed customers whose answer Paddle's spec does not allow (fetch/door.py): id -> the one line (permanent).
    refused_at_door: dict[str, str] | None = None
    verification: dict[str, Any] | None = None
    seconds: float | None = None
    max_rpm: int | None = None
    workers: int | None = None
    toolkit_version: str | None = None
    events_high_water: str | None = None
    events_readable: bool | None = None
    evidence: bool | None = None
    base_snapshot: str | None = None
    previous_snapshot: str | None = None
    subscriptions_unavailable: Any = None
    resumed: bool | None = None
    published_at: str | None = None
    #: Per currency: available, reserved, used, outstanding, customers_with_credit, customers_with_balance
    #: (``metrics.headline`` of the balances), computed at fetch time for the trend; absent in older snapshots.
    totals: dict[str, dict[str, int]] | None = None
    #: What the point-in-time correction did (point_in_time.PointInTime.summary), or why there was none.
    point_in_time: dict[str, Any] | None = None
    #: A first fetch's candidates by source (subscribers, credit adjustments, subscription_update transactions).
    candidate_sources: dict[str, int] | None = None
    #: The Paddle account it was read from: base_url, environment, identity (core/accounts.py); absent in older ones.
    account: dict[str, Any] | None = None
    #: A first snapshot's plan (fetch/plans.py): chosen, forced, reason, estimated_calls, estimated_totals.
    plan: dict[str, Any] | None = None
    duplicates_collapsed: int | None = None
    #: A boundary derived from the snapshots around it (strategy ``derived``): ``boundary``, ``rests_on``
    #: (earlier, later), ``events`` (``from``, ``to``), ``checked`` (both sides agree), ``disagreements``.
    derived: dict[str, Any] | None = None
    #: The tie-out ``credit-reports history`` added to this snapshot (history.json's summary).
    history: dict[str, Any] | None = None
    #: Which revision of the snapshot this manifest is (store/revisions.py): number, reason, previous, files.
    revision: dict[str, Any] | None = None
    #: Keys this toolkit does not declare (another version's or branch's fields), kept for writing back.
    extra: dict[str, Any] = field(default_factory=dict)
    #: Declared keys the JSON did not hold.
    absent: frozenset[str] = frozenset()

    JSON_TYPES: ClassVar[dict[str, tuple[type, ...]]] = {
        "complete": (bool,), "counts": (dict,), "failed_customer_ids": (list,), "api_calls": (int,),
        "seconds": (int, float), "strategy": (str,), "environment": (str,), "base_url": (str,),
        "totals": (dict,),
    }

    def problem(self) -> str | None:
        """Why the manifest's fields cannot be read (e.g. ``counts`` that is a list), or None."""
        wrong = self.type_problem()
        if wrong:
            return wrong
        for name, value in (self.counts or {}).items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                return f"its manifest's counts.{name} is not a whole number"
        return None

    def __repr__(self) -> str:
        return f"SnapshotManifest(as_of={self.as_of!r}, environment={self.environment!r}, strategy={self.strategy!r})"


@dataclass(eq=False, repr=False)
class ReportSnapshot(_Record):
    """The ``snapshot`` block of a report manifest: which snapshot the report shows."""

    path: str | None = None
    name: str | None = None
    as_of: str | None = None
    environment: str | None = None
    complete: bool | None = None
    strategy: str | None = None
    verification: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    absent: frozenset[str] = frozenset()

    def __repr__(self) -> str:
        return f"ReportSnapshot(name={self.name!r}, environment={self.environment!r}, complete={self.complete!r})"


@dataclass(eq=False, repr=False)
class ReportManifest(_Record):
    """A report's ``manifest.json`` (README "Reports"; written by the render, read by index, mail, alerts).

    ``headline`` and ``roll_forward`` are per currency in minor units; ``period`` is ``{"from", "to"}``;
    ``exports`` lists ``{"label", "file"}``; ``attention`` the alert reasons. ``snapshot`` is a
    :class:`ReportSnapshot` (an empty one when the JSON's is missing or not an object).
    """

    report: str | None = None
    title: str | None = None
    notebook: str | None = None
    parameters: dict[str, Any] | None = None
    requested_snapshot: str | None = None
    period: dict[str, str | None] | None = None
    snapshot: ReportSnapshot = field(default_factory=ReportSnapshot)
    headline: dict[str, dict[str, int]] | None = None
    roll_forward: dict[str, dict[str, int]] | None = None
    compared_to: dict[str, str] | None = None
    toolkit_version: str | None = None
    rendered_at: str | None = None
    files: list[str] | None = None
    exports: list[dict[str, str]] | None = None
    #: The report's address where ``reports/`` is served (``[publish] base_url``); None without one.
    url: str | None = None
    attention: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    absent: frozenset[str] = frozenset()

    @classmethod
    def _read(cls, name: str, value: Any) -> Any:
        if name == "snapshot":
            return ReportSnapshot.from_json(value) if isinstance(value, Mapping) else ReportSnapshot()
        return value

    def __repr__(self) -> str:
        return f"ReportManifest(report={self.report!r}, snapshot={self.snapshot!r})"


def __dir__() -> list[str]:
    """What ``dir()`` and tab completion show: the public names of ``__all__``, not the imports."""
    return sorted(__all__)
