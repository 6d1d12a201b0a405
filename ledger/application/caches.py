"""What the ledger keeps in memory between requests, and why none of it can go stale.

Units, staff and API keys are read on every request (scope, rules, auth) and stay small,
so they are cached and fast-forwarded from the store when the log holds news of them
(`organisation_cache.py`), so another process's writes are always seen. A command runs on
a deep copy, so one that fails leaves the cache untouched. Clients are never copied: a
deep copy of a long-lived client costs more than loading it from its snapshot; a client a
command saved is kept for the next command only (`client_cache.py`: handed to one command
at a time, loaded again when another process wrote it).

Besides, a few facts never change once recorded (a unit's parent, a client's home unit),
so no process can make them stale, and a token once verified stays the key it named.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import Repository, project_aggregate
from eventsourcing.utils import resolve_topic

from ledger.domain import Staff, Unit
from ledger.domain.api_key import ApiKey

T = TypeVar("T")

# How long a request waits for its turn on one aggregate before going ahead without it.
TURN_WAIT = 0.5
# The aggregates kept in the organisation cache.
ORGANISATION = (Unit, Staff, ApiKey)
ORGANISATION_CACHE_SIZE = 10_000
# A memo of facts holds at most this many before it starts again from empty.
MEMO_SIZE = 100_000


def project(aggregate: Any, events: Any) -> Any:
    """The library's `project_aggregate` without its per-event `isinstance` check against
    a runtime protocol, which costs more than applying a small event."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


class SerialCacheRepository(Repository[UUID]):
    """The library's repository, with the cached loads of any one aggregate serialised.

    eventsourcing 9.5.6 deep-copies a cached aggregate after releasing the lock under
    which it fast-forwards it, so a copy taken while another thread fast-forwards the same
    aggregate fails ("dictionary changed size during iteration") or comes out torn.
    """

    STRIPES = 64

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stripes = [threading.Lock() for _ in range(self.STRIPES)]

    def get(self, aggregate_id: UUID, *, version: int | None = None, **kwargs: Any) -> Any:
        if self.cache is None or version is not None:
            return super().get(aggregate_id, version=version, **kwargs)
        stripe = self._stripes[hash(aggregate_id) % self.STRIPES]
        if not stripe.acquire(timeout=TURN_WAIT):
            # The holder is slow (the store may be down): load past the cache rather than
            # queue every request for this aggregate behind it.
            projector = kwargs.get("projector_func", project_aggregate)
            return self._reconstruct_aggregate(aggregate_id, None, projector)
        try:
            return super().get(aggregate_id, version=version, **kwargs)
        finally:
            stripe.release()

    def read(self, aggregate_id: UUID, read: Callable[[Any], T], **kwargs: Any) -> T:
        """`read` applied to the cached aggregate itself rather than to a deep copy, while
        no other thread can fast-forward it: for a look that changes nothing."""
        if self.cache is None:
            return read(super().get(aggregate_id, **kwargs))
        stripe = self._stripes[hash(aggregate_id) % self.STRIPES]
        if not stripe.acquire(timeout=TURN_WAIT):
            projector = kwargs.get("projector_func", project_aggregate)
            return read(self._reconstruct_aggregate(aggregate_id, None, projector))
        try:
            return read(super().get(aggregate_id, deepcopy_from_cache=False, **kwargs))
        finally:
            stripe.release()


class KnownSnapshots:
    """A snapshot store as the repositories read it: a snapshot of a later state version
    than this code's aggregate class (taken by a later version of the ledger, read after a
    rollback) is passed over, and the aggregate is replayed from its events, which every
    version reads. Its other uses (taking, purging) go to the store itself."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def get(self, *args: Any, **kwargs: Any) -> list[Any]:
        return [s for s in self.store.get(*args, **kwargs) if not _later(s)]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def _later(snapshot: Any) -> bool:
    state = getattr(snapshot, "state", None)
    if not isinstance(state, dict):
        return False
    kept = getattr(resolve_topic(snapshot.topic), "class_version", 1)
    return int(state.get("class_version", 1)) > int(kept)


class Memo(dict[str, T]):
    """Facts that never change once recorded, bounded: full, it starts again from empty."""

    def remember(self, key: str, value: T) -> None:
        if len(self) >= MEMO_SIZE:
            self.clear()
        self[key] = value
