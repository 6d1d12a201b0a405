"""Clients kept between the commands this process runs on them.

Loading a client for a command read its snapshot and its events since, decoded, unsealed
and applied: two queries and about 0.3 ms a write over HTTP. A client a command was saved
on is kept instead, and the next command on it takes it from here if the log holds nothing
newer of it: inside `fresh_reads()` (a request) the log watch tells without a query
(ledger.application.organisation_cache), elsewhere one query for events after its version.

A kept client is handed to one command at a time (taking it removes it), never to a read,
and it is kept again only after its command saved: a command that failed, or lost to
another writer, leaves nothing behind, and the next one loads the client from the store.
A client changed by another process is loaded from the store too, never fast-forwarded
here (so an erasure elsewhere, which destroys the client's key, is never undone by a copy
unsealed before it); an erasure here forgets it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any
from uuid import UUID

from ledger.application.organisation_cache import LogWatch, fresh_since

# Clients kept at most; the least recently written go first.
CLIENT_CACHE_SIZE = 5_000


class ClientCache:
    def __init__(self, event_store: Any, watch: LogWatch, size: int = CLIENT_CACHE_SIZE) -> None:
        self.event_store = event_store
        self.watch = watch
        self.size = size
        # Each kept client and the position it is known current at.
        self._kept: OrderedDict[UUID, tuple[Any, int]] = OrderedDict()
        # Clients a command is running on: the watch must not forget them meanwhile.
        self._busy: dict[UUID, int] = {}
        self._lock = threading.Lock()

    def take(self, aggregate_id: UUID) -> Any | None:
        """The kept client, current, now this caller's alone; None: load it from the store.
        Every `take` is followed by `done`."""
        with self._lock:
            self._busy[aggregate_id] = self._busy.get(aggregate_id, 0) + 1
            # Watched from now on: an event of it another process appends is noticed.
            self.watch.watched.add(aggregate_id)
            kept = self._kept.pop(aggregate_id, None)
        if kept is None:
            return None
        aggregate, verified = kept
        since = fresh_since()
        if since is not None:
            self.watch.cover(since)
            return aggregate if self.watch.unchanged(aggregate_id, verified) else None
        newer = self.event_store.get(originator_id=aggregate_id, gt=aggregate.version, limit=1)
        return None if list(newer) else aggregate

    def done(self, aggregate_id: UUID, saved: Any | None = None, position: int = 0) -> None:
        """The command on `aggregate_id` ended; `saved` (with its last event at `position`)
        if it was saved, to be kept."""
        with self._lock:
            busy = self._busy.pop(aggregate_id, 1) - 1
            if busy:
                self._busy[aggregate_id] = busy
            if saved is None or getattr(saved, "is_erased", False):
                return
            self._kept[aggregate_id] = (saved, position)
            self._kept.move_to_end(aggregate_id)
            while len(self._kept) > self.size:
                oldest, _ = self._kept.popitem(last=False)
                self._forget_watch(oldest)

    def forget(self, aggregate_id: UUID) -> None:
        with self._lock:
            self._kept.pop(aggregate_id, None)

    def _forget_watch(self, aggregate_id: UUID) -> None:
        if aggregate_id not in self._busy:
            self.watch.watched.discard(aggregate_id)
            self.watch.changed.pop(aggregate_id, None)
