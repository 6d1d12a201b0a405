"""Times and ids as the views store them: fixed-width UTC text (text order is time order in
both databases, so every comparison is the same SQL on either) and aggregate ids as text."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

# Large IN (...) lists are split so neither database meets its parameter limit.
CHUNK = 500


def utc_text(moment: datetime) -> str:
    """A tz-aware time as fixed-width UTC text: text order is time order."""
    if moment.tzinfo is not UTC:
        if moment.tzinfo is None:
            raise ValueError("naive datetime")
        moment = moment.astimezone(UTC)
    # Stored events' times come back in UTC: no conversion for them.
    return moment.isoformat(timespec="microseconds")[:26]


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
