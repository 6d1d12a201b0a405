"""What every event of the ledger carries, and a small effective-time timeline."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime
from operator import itemgetter
from typing import Any

from eventsourcing.domain import Aggregate, datetime_now_with_tzinfo

from ledger.domain.values import event_id

# The recorded time is the ledger's "now", so a ledger built with another clock (a test,
# a replay) records by that clock; a context variable keeps concurrent requests apart.
_recording_clock: ContextVar[Callable[[], datetime] | None] = ContextVar(
    "recording_clock", default=None
)


class recording_clock:
    """Events triggered inside the block are recorded at one instant, `clock()` on entering
    it: a command that writes several events (a prospect's conversion registers its client;
    a campaign logs a contact of each client) is one fact as known at any time. A class,
    not a generator: every command enters it (a bulk load, hundreds of thousands of times)."""

    __slots__ = ("clock", "token")

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock

    def __enter__(self) -> None:
        instant = self.clock()
        self.token = _recording_clock.set(lambda: instant)

    def __exit__(self, *exc: object) -> None:
        _recording_clock.reset(self.token)


class LedgerAggregate(Aggregate):
    """An aggregate whose every event records who recorded it and when it took effect.

    The library's own `timestamp` on each event is the recorded time.
    """

    class Event(Aggregate.Event):
        recorded_by: str
        effective_at: datetime

        @staticmethod
        def create_timestamp() -> datetime:
            clock = _recording_clock.get()
            return clock() if clock is not None else datetime_now_with_tzinfo()

        @property
        def event_id(self) -> str:
            return event_id(self.originator_id, self.originator_version)


def timeline_insert(
    timeline: list[list[Any]],
    entry: list[Any],
    when: Callable[[list[Any]], Any] = itemgetter(0),
) -> None:
    """Insert `entry` after every entry that takes effect at the same time or earlier, so
    ties resolve in recorded order; `when`: an entry's effective time (its first item, or
    worked out of it where the timeline keeps it as text). Mostly the latest: appended."""
    at = when(entry)
    if not timeline or when(timeline[-1]) <= at:
        timeline.append(entry)
    else:
        timeline.insert(bisect_right(timeline, at, key=when), entry)


def timeline_at(timeline: list[list[Any]], at: datetime) -> list[Any] | None:
    """The entry in force at `at`: the last one that took effect at or before it."""
    index = bisect_right(timeline, at, key=itemgetter(0))
    return timeline[index - 1] if index else None
