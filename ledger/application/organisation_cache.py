"""The organisation cache (units, staff, API keys) without a query per look.

A write over HTTP looks at the organisation eight or nine times (the key, its staff member,
the manager's unit and subtree, the named staff): fast-forwarding each look from the store
was a query each, about 40 µs of CPU, 0.35 ms a write. Instead, the log is watched: one
query reads what was appended since the last look (`LogWatch.scan`), and a cached
aggregate is fast-forwarded only if the log holds an event of it it has not seen.

What a look sees: inside `fresh_reads()` (the API enters it for each request), every change
committed before the context was entered, whichever process made it: a look in the context
waits for a scan that started after that moment (concurrent requests share one). A change
saved by this process is seen at once, in any context. Outside such a context a look
fast-forwards from the store, as before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from copy import deepcopy
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder

from ledger.application.caches import (
    ORGANISATION_CACHE_SIZE,
    TURN_WAIT,
    SerialCacheRepository,
    project,
)

T = TypeVar("T")

# When the looks of this context were asked for (monotonic seconds): they see every change
# committed before it. None: no such context, each look asks the store.
_fresh_from: ContextVar[float | None] = ContextVar("fresh_from", default=None)

# A scan reads at most this many rows; further behind, every cached aggregate is taken as
# changed (fast-forwarded on its next look) rather than the log read row by row.
SCAN_LIMIT = 1000


@contextmanager
def fresh_reads() -> Iterator[None]:
    """Looks at the organisation in this context see every change committed before it
    (and one query serves them all)."""
    token = _fresh_from.set(time.monotonic())
    try:
        yield
    finally:
        _fresh_from.reset(token)


def fresh_since() -> float | None:
    """When the `fresh_reads()` context in force began (None outside one)."""
    return _fresh_from.get()


class LogWatch:
    """Which cached aggregates the log changed since each was last known current.

    `covered` is a position such that every event committed before the latest scan began
    is at or below it and has been seen; `changed` holds, for each watched aggregate, the
    position of its latest event seen (by a scan, or saved here); below `floor` nothing
    is known (a scan fell too far behind)."""

    def __init__(self, recorder: ApplicationRecorder) -> None:
        self.recorder = recorder
        self.covered = recorder.max_notification_id() or 0
        self.floor = self.covered
        self.scan_started = time.monotonic()
        self.changed: dict[UUID, int] = {}
        self.watched: set[UUID] = set()
        self._scanning = threading.Lock()

    def cover(self, since: float) -> int:
        """A position covering every event committed before `since` (scanning if no scan
        began after it)."""
        if self.scan_started >= since:
            return self.covered
        with self._scanning:
            if self.scan_started < since:
                self.scan()
            return self.covered

    def scan(self) -> None:
        started = time.monotonic()
        after = self.covered
        # Every event committed before this read is in it (the store numbers events in
        # the order they commit), up to the limit.
        # Positions and aggregates only: no event's state read (a third of the time).
        events = self.recorder.originators_after(after, SCAN_LIMIT)  # type: ignore[attr-defined]
        if len(events) < SCAN_LIMIT:
            for position, aggregate_id in events:
                self.saw(aggregate_id, position)
            if events:
                self.covered = events[-1][0]
        else:
            # Too far behind to read row by row: every cached aggregate is suspect.
            end = self.recorder.max_notification_id() or 0
            self.floor = end
            self.covered = end
            self.changed.clear()
        self.scan_started = started

    def saw(self, aggregate_id: UUID, position: int) -> None:
        """An event of `aggregate_id` at `position` (saved here, or found by a scan)."""
        if aggregate_id in self.watched and position > self.changed.get(aggregate_id, 0):
            self.changed[aggregate_id] = position

    def unchanged(self, aggregate_id: UUID, verified: int) -> bool:
        """Whether an aggregate known current at `verified` is still current at `covered`."""
        return verified >= self.floor and self.changed.get(aggregate_id, 0) <= verified


class OrganisationRepository(SerialCacheRepository):
    """The cached repository of units, staff and API keys, fast-forwarding a cached
    aggregate only when the log watch says it changed (see the module's note)."""

    def __init__(self, *args: Any, recorder: ApplicationRecorder, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.watch = LogWatch(recorder)
        # The position each cached aggregate is known current at.
        self._verified: dict[UUID, int] = {}

    def get(self, aggregate_id: UUID, *, version: int | None = None, **kwargs: Any) -> Any:
        since = _fresh_from.get()
        if since is None or version is not None:
            return super().get(aggregate_id, version=version, **kwargs)
        return self._watched(aggregate_id, since, deepcopy, kwargs)

    def read(self, aggregate_id: UUID, read: Callable[[Any], T], **kwargs: Any) -> T:
        since = _fresh_from.get()
        if since is None:
            return super().read(aggregate_id, read, **kwargs)
        return self._watched(aggregate_id, since, read, kwargs)

    def _watched(
        self, aggregate_id: UUID, since: float, use: Callable[[Any], T], kwargs: dict[str, Any]
    ) -> T:
        projector = kwargs.get("projector_func", project)
        covered = self.watch.cover(since)
        stripe = self._stripes[hash(aggregate_id) % self.STRIPES]
        if not stripe.acquire(timeout=TURN_WAIT):
            return use(self._reconstruct_aggregate(aggregate_id, None, projector))
        try:
            self.watch.watched.add(aggregate_id)
            assert self.cache is not None
            try:
                aggregate = self.cache.get(aggregate_id)
            except KeyError:
                aggregate = self._reconstruct_aggregate(aggregate_id, None, projector)
                self.cache.put(aggregate_id, aggregate)
            else:
                if not self.watch.unchanged(aggregate_id, self._verified.get(aggregate_id, -1)):
                    new_events = self.event_store.get(
                        originator_id=aggregate_id, gt=aggregate.version
                    )
                    aggregate = projector(aggregate, new_events)
                    self.cache.put(aggregate_id, aggregate)
            self._verified[aggregate_id] = covered
            return use(aggregate)
        finally:
            stripe.release()


def organisation_cache(
    event_store: Any, snapshot_store: Any, recorder: ApplicationRecorder
) -> OrganisationRepository:
    """The repository of units, staff and API keys (see the module's note)."""
    return OrganisationRepository(
        event_store=event_store,
        snapshot_store=snapshot_store,
        cache_maxsize=ORGANISATION_CACHE_SIZE,
        fastforward=True,
        deepcopy_from_cache=True,
        recorder=recorder,
    )
