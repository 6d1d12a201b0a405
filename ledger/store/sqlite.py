"""SQLite: the library's recorders, plus the subscription eventsourcing 9.5.6 lacks.

The subscription polls the notification log and is woken at once by a save made in
this process, so projections follow a SQLite store without losing or repeating events
(they resume from their own tracking position).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    ApplicationRecorder,
    ListenNotifySubscription,
    StoredEvent,
    Subscription,
)
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteFactory

POLL_INTERVAL = 0.25

# Subscriptions waiting on each database file; a local save wakes them at once.
_waiting: dict[str, weakref.WeakSet[threading.Event]] = {}
_waiting_lock = threading.Lock()


def _wake(db_name: str) -> None:
    with _waiting_lock:
        events = list(_waiting.get(db_name, ()))
    for event in events:
        event.set()


class PollingSubscription(ListenNotifySubscription["LedgerSQLiteApplicationRecorder"]):
    def __init__(
        self,
        recorder: LedgerSQLiteApplicationRecorder,
        gt: int | None = None,
        topics: Sequence[str] = (),
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        self._poll_interval = poll_interval
        with _waiting_lock:
            _waiting.setdefault(recorder.db_name, weakref.WeakSet()).add(self._has_been_notified)
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        # Other processes may write too: look again every interval.
        stopped = threading.Event()
        while not self._has_been_stopped and not stopped.wait(self._poll_interval):
            self._has_been_notified.set()

    def stop(self) -> None:
        super().stop()
        with _waiting_lock:
            waiting = _waiting.get(self._recorder.db_name)
            if waiting is not None:
                waiting.discard(self._has_been_notified)


class LedgerSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    @property
    def db_name(self) -> str:
        return self.datastore.pool.db_name

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super().insert_events(stored_events, **kwargs)
        _wake(self.db_name)
        return ids

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return PollingSubscription(self, gt=gt, topics=topics)

    def event_positions(self, originator_id: UUID) -> dict[int, int]:
        """Global position of each stored event of one aggregate, by version."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT originator_version, rowid FROM {self.events_table_name} "
                "WHERE originator_id=?",
                (originator_id.hex,),
            )
            return {row[0]: row[1] for row in c.fetchall()}


class LedgerSQLiteFactory(SQLiteFactory):
    application_recorder_class = LedgerSQLiteApplicationRecorder
