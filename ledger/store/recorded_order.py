"""The log's order is its recorded order, by construction (docs/ARCHITECTURE.md, Known at).

A writer stamps its events (their recorded time, the library's `timestamp`) before the store's
lock is taken, so a concurrent writer stamped later can insert first. What the read models
answer "as known at T" is the longest part of the log recorded by T, which is exactly the
events recorded by T only while recorded times never go back along the log. So each insert,
under the store's lock, compares its events' times with the last time the log holds; an
insert stamped earlier is refused (`RecordedOutOfOrder`, nothing written), and the writer
stamps its events again, no earlier than that time, and inserts them again
(`ledger.application.writes`)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from eventsourcing.persistence import StoredEvent

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Keeps the last recorded time of the log (microseconds since 1970), one row: a store from
# before has none until its next insert.
TABLE = "recorded_clock"


@dataclass(frozen=True)
class RecordedEvent(StoredEvent):
    """A stored event with its recorded time beside its state, for the insert to check."""

    recorded_at: datetime | None = None


class RecordedOutOfOrder(Exception):
    """An insert's events were stamped before the log's last recorded time: nothing was
    written. Stamp them again, no earlier than `last`, and insert them again."""

    def __init__(self, last: datetime) -> None:
        super().__init__(f"stamped before the log's last recorded time {last.isoformat()}")
        self.last = last


def micros(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def times_of(stored_events: Sequence[StoredEvent]) -> list[int]:
    """The recorded times (microseconds) the insert's events carry."""
    return [micros(t) for s in stored_events if (t := getattr(s, "recorded_at", None)) is not None]


def check(last: int | None, stored_events: Sequence[StoredEvent]) -> int | None:
    """The log's last recorded time (microseconds) once the insert is written (None: the
    insert carries no recorded times); raises `RecordedOutOfOrder` for an insert stamped
    before `last`, or whose events go back among themselves."""
    times = times_of(stored_events)
    if not times:
        return None
    newest = max(times) if last is None else max(last, *times)
    if (last is not None and times[0] < last) or any(a > b for a, b in itertools.pairwise(times)):
        raise RecordedOutOfOrder(from_micros(newest))
    return newest
