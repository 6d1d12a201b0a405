"""The log's order is its recorded order, by construction (docs/ARCHITECTURE.md, Known at).

A writer stamps its events (their recorded time, the library's `timestamp`) before the store's
lock is taken, so a concurrent writer stamped later can insert first. What the read models
answer "as known at T" is the longest part of the log recorded by T, which is exactly the
events recorded by T only while recorded times never go back along the log. So each insert,
in its transaction and under the store's lock, compares its events' times with the recorded
time of the event before them in the log (read from its state: no table to keep, no row
written); an insert stamped earlier is refused (`RecordedOutOfOrder`, nothing written), and
the writer stamps its events again, no earlier than that time, and inserts them again
(`ledger.application.persistence`, `ledger.application.batch`)."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.persistence import StoredEvent

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# How the library's JSON transcoder writes an event's recorded time, first in its state: read
# without decoding the rest (a full decode cost a write more than the check itself).
# The head of a stored state that holds that time: what a client as known at a time reads of
# the events the store could not leave out (`heads_not_shown_by`, ledger/application/
# history.py).
STAMP_BYTES = 100
_STAMP = re.compile(rb'^\{"timestamp":\{"_type_":"datetime_iso","_data_":"([^"]+)"\}')
# The same head up to the time's text; a time in UTC ends so.
STAMP_PREFIX = b'{"timestamp":{"_type_":"datetime_iso","_data_":"'
_UTC_END = b'+00:00"'
# A state that shows its event recorded by a time (`stamp_bound`), checked by the store, so
# a client as known at a time reads back only the events whose states do not show it: its
# 10,000 heads cost 18 ms to read and 8 to parse in Python, against ~5 to scan in SQL. It
# is the transcoder's head with a UTC time in `isoformat`'s form (`YYYY-MM-DDTHH:MM:SS`,
# then `.ffffff` unless whole seconds, then `+00:00`), whose text then sorts as its time:
# byte for byte against the bound, a whole second's `+` sorts before the bound's `.`. Any
# other head is not shown, and is read (SQLite and PostgreSQL: the same SQL, `?` marks).
# Between the prefix and the bound then 0xFF (never in UTF-8): the state starts with the
# prefix and its time's text sorts at or before the bound's, compared whole, not cut out
# (15% of the scan's CPU).
SHOWN_BY = (
    "(state >= ? AND state < ? AND substr(state, 59, 1) = ? "
    "AND (substr(state, 75, 7) = ? OR substr(state, 68, 7) = ?))"
)


@dataclass(frozen=True)
class RecordedEvent(StoredEvent):
    """A stored event with its recorded time beside its state, for the insert to check."""

    recorded_at: datetime | None = None

    @classmethod
    def made(
        cls,
        originator_id: Any,
        originator_version: int,
        topic: str,
        state: bytes,
        recorded_at: datetime | None,
    ) -> RecordedEvent:
        """`RecordedEvent(...)` without the frozen dataclass's `__init__`, which sets each
        field through a guarded `object.__setattr__` (1.5 against 0.7 µs, once per event
        written): the same fields, in the same order, as the library's mapper rebuilds a
        domain event."""
        made = object.__new__(cls)
        fields = {
            "originator_id": originator_id,
            "originator_version": originator_version,
            "topic": topic,
            "state": state,
            "recorded_at": recorded_at,
        }
        object.__setattr__(made, "__dict__", fields)
        return made


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


def check(last: int | None, stored_events: Sequence[StoredEvent]) -> int | None:
    """The log's last recorded time (microseconds) once the insert is written (None: the
    insert carries no recorded times); raises `RecordedOutOfOrder` for an insert stamped
    before `last`, or whose events go back among themselves."""
    # Compared as times, each as exact as its microseconds; only the first and the newest
    # counted in microseconds (counting each was 2% of a bulk import's CPU).
    moments = [t for s in stored_events if (t := getattr(s, "recorded_at", None)) is not None]
    if not moments:
        return None
    newest = micros(max(moments))
    if last is not None:
        newest = max(last, newest)
    if (last is not None and micros(moments[0]) < last) or any(
        a > b for a, b in itertools.pairwise(moments)
    ):
        raise RecordedOutOfOrder(from_micros(newest))
    return newest


def recorded_in(state: bytes | memoryview | None) -> int | None:
    """The recorded time (microseconds) in a stored event's state; None when it has none
    that can be read (no event, or a state compressed or written otherwise)."""
    moment = recorded_time(state)
    return None if moment is None else micros(moment)


def recorded_time(state: bytes | memoryview | None) -> datetime | None:
    """`recorded_in` as the time itself."""
    if state is None:
        return None
    state = bytes(state)
    match = _STAMP.match(state)
    try:
        text = match.group(1).decode() if match else json.loads(state)["timestamp"]["_data_"]
        return datetime.fromisoformat(text)
    except (ValueError, KeyError, TypeError):
        return None


def stamp_bound(moment: datetime) -> bytes:
    """The head of a state stamped at `moment` in UTC to the microsecond (the bound of
    `SHOWN_BY`); a moment whose UTC is outside years 1 to 9999, before or after every head."""
    try:
        text = moment.astimezone(UTC).isoformat(timespec="microseconds")[:26]
    except OverflowError:
        # Before every head: "0000" sorts before any year's text, whole or cut to the
        # bound's length (SQL compares the state, Python the head).
        text = "0000" if moment.year == 1 else "9999-12-31T23:59:59.999999"
    return STAMP_PREFIX + text.encode()


def shown_by_params(bound: bytes) -> tuple[bytes, ...]:
    """The parameters of `SHOWN_BY`."""
    return (STAMP_PREFIX, bound + b"\xff", b"T", _UTC_END, _UTC_END)


def shown_by(head: bytes, bound: bytes) -> bool:
    """`SHOWN_BY` in Python (the memory store's; a head of `STAMP_BYTES` decides it)."""
    return (
        head[:48] == STAMP_PREFIX
        and head[:74] <= bound
        and head[58:59] == b"T"
        and _UTC_END in (head[74:81], head[67:74])
    )
