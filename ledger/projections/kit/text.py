"""Times and ids as the views store them: fixed-width UTC text (text order is time order in
both databases, so every comparison is the same SQL on either) and aggregate ids as text."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from ledger.domain.errors import InvalidInput

# Large IN (...) lists are split so neither database meets its parameter limit.
CHUNK = 500


# The ends of what a view stores: a time whose UTC falls outside datetime's years 1 to 9999
# is clamped to the nearer one.
FIRST_TEXT = "0001-01-01T00:00:00.000000"
LAST_TEXT = "9999-12-31T23:59:59.999999"


# Texts of the times formatted lately, by time: the views format the same times again and
# again (each event's times in every view, a client's times at each recompute), 7.8 times
# per event in a rebuild of all five, and formatting one took ~1-3 us against ~0.2 us to
# find it here. Emptied when full, so it stays small.
_TEXTS: dict[datetime, str] = {}
TEXTS_KEPT = 1 << 16


def utc_text(moment: datetime) -> str:
    """A tz-aware time as fixed-width UTC text: text order is time order (`_utc_text`),
    from the texts formatted lately when it is one of them."""
    text = _TEXTS.get(moment)
    if text is None:
        text = _utc_text(moment)
        if len(_TEXTS) >= TEXTS_KEPT:
            _TEXTS.clear()
        _TEXTS[moment] = text
    return text


def _utc_text(moment: datetime) -> str:
    """A tz-aware time as fixed-width UTC text: text order is time order.

    Every aware time the log can hold has a text, even one whose UTC is outside years 1 to
    9999 (`0001-01-01T00:00:00+14:00` is 10:00 on 31 December of year 0; older versions
    stored such times): it is clamped to the first or last text. Clamping keeps the order
    (nothing stored sorts between such a time and the end it is clamped to) and keeps every
    text readable back as a datetime, which a year 0 or 10000 would not be; the input rules
    refuse such times now (API.md 1.1), so a clamped time only ever stands for "before, or
    after, anything else"."""
    if moment.tzinfo is not UTC:
        if moment.tzinfo is None:
            raise ValueError("naive datetime")
        try:
            moment = moment.astimezone(UTC)
        except OverflowError:
            return FIRST_TEXT if moment.year == 1 else LAST_TEXT
    # Stored events' times come back in UTC: no conversion for them. Without `timespec`
    # (its keyword took half the call: ~2.1 against ~1.2 us), then the microseconds a
    # whole second leaves out.
    text = moment.isoformat()
    return text[:26] if moment.microsecond else text[:19] + ".000000"


def from_utc_text(text: str | None) -> datetime | None:
    if text is None:
        return None
    # Six times faster than parsing the naive text and replacing its tzinfo.
    return datetime.fromisoformat(text + "+00:00")


def aggregate_key(event: Any) -> str:
    """Views key clients, units and staff by aggregate id: later events carry no business id."""
    return _uuid_text(event.originator_id.int)


@lru_cache(maxsize=4096)
def _uuid_text(number: int) -> str:
    # A client's events come close together in the log: its id is formatted once for them
    # all. Keyed by the id's integer, which hashes and compares in C; a UUID does in Python.
    return str(UUID(int=number))


def topics_of(*event_classes: type) -> tuple[str, ...]:
    """The stored topics of the events a projection handles."""
    return tuple(get_topic(cls) for cls in event_classes)


def chunks(items: Sequence[Any], size: int | None = None) -> Iterator[Sequence[Any]]:
    size = size or CHUNK
    for start in range(0, len(items), size):
        yield items[start : start + size]


def placeholders(values: Sequence[Any]) -> str:
    """`(?, ?, ...)` for an IN list of `values`."""
    return "(" + ",".join("?" * len(values)) + ")"


def after_cursor(
    cursor: str | None, time_column: str, id_column: str
) -> dict[str, tuple[str, str, str]]:
    """The condition of the rows after `cursor`, a `<time>|<id>` that a list ordered by
    `time_column`, `id_column` answered as its `next_cursor`, as a condition of `given`
    (none without a cursor)."""
    if cursor is None:
        return {}
    at, sep, after_id = cursor.partition("|")
    if not sep:
        raise InvalidInput("cursor", "not a cursor this list answered")
    return {f"({time_column} > ? OR ({time_column} = ? AND {id_column} > ?))": (at, at, after_id)}


def given(conditions: Mapping[str, Any]) -> tuple[list[str], list[Any]]:
    """The conditions (SQL with a `?` for its value, or one for each item of a tuple)
    whose value is given (not None), after an `1 = 1` that keeps the list from being
    empty; and their values, in order."""
    present = [(condition, value) for condition, value in conditions.items() if value is not None]
    values = [v for _, value in present for v in (value if isinstance(value, tuple) else (value,))]
    return ["1 = 1", *(condition for condition, _ in present)], values


def next_chunk(last: int, gave: int, wanted: int) -> int:
    """After a chunk of `last` candidates that gave `gave` items: enough for `wanted` more
    at that rate and a quarter more (at least 16), or twice the last while a chunk gives
    none (the items thin out). A leader-visits page of 100 read 303 candidates and their
    contacts where 113 do (the maintenance view's pages)."""
    if gave == 0:
        return min(CHUNK, last * 2)
    return min(CHUNK, max(16, math.ceil(wanted * last / gave * 1.25)))
