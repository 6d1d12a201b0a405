"""What a write answers and counts: `WriteResult`, the name each aggregate kind goes by,
and the per-process write counters /metrics reads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from ledger.domain import Client, Staff, Unit
from ledger.domain.api_key import ApiKey
from ledger.domain.campaign import Campaign
from ledger.domain.prospect import Prospect
from ledger.domain.values import event_id

# The name an aggregate goes by in errors, and the field its id arrives in (`<kind>_id`).
KINDS: dict[type[Aggregate], str] = {
    Unit: "unit",
    Staff: "staff",
    Client: "client",
    ApiKey: "api_key",
    Campaign: "campaign",
    Prospect: "prospect",
}
# The attribute holding an aggregate's business id.
_ID_ATTRIBUTES: dict[type[Aggregate], str] = {
    Unit: "unit_id",
    Staff: "staff_id",
    Client: "client_id",
    ApiKey: "key_id",
    Campaign: "campaign_id",
    Prospect: "prospect_id",
}


def business_id_of(aggregate: Aggregate) -> str:
    attribute = _ID_ATTRIBUTES.get(type(aggregate))
    return getattr(aggregate, attribute) if attribute else str(aggregate.id)


@dataclass(frozen=True)
class WriteResult:
    """What every write answers: the aggregate, the event, and its place in the log."""

    id: str
    originator_id: UUID
    type: str
    version: int
    position: int
    recorded_at: datetime
    recorded_by: str

    @property
    def event_id(self) -> str:
        # Derived when asked: a bulk load answers hundreds of thousands of writes that
        # nobody reads the id of.
        return event_id(self.originator_id, self.version)


def event_type(event: object) -> str:
    """`Client.TierChanged` -> `TierChanged`: the past-tense name of the fact."""
    return type_name(type(event))


@lru_cache(maxsize=256)
def type_name(cls: type) -> str:
    return cls.__qualname__.rsplit(".", 1)[-1]


def written(business_id: str, event: Any, position: int) -> WriteResult:
    return WriteResult(
        id=business_id,
        originator_id=event.originator_id,
        type=event_type(event),
        version=event.originator_version,
        position=position,
        recorded_at=event.timestamp,
        recorded_by=event.recorded_by,
    )


@dataclass(frozen=True)
class WriteCounts:
    """Since the process started: events written by type, saves that lost to a concurrent
    write, commands re-run after one, and saves stamped again because another writer had
    recorded a later time first (read by /metrics)."""

    events: dict[str, int]
    conflicts: int
    retries: int
    restamps: int = 0


class WriteCounters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: dict[str, int] = {}
        self.conflicts = 0
        self.retries = 0
        self.restamps = 0

    def written(self, recordings: list[Any]) -> None:
        self.count(event_type(recording.domain_event) for recording in recordings)

    def count(self, names: Iterator[str]) -> None:
        with self._lock:
            for name in names:
                self.events[name] = self.events.get(name, 0) + 1

    def conflict(self, retried: bool) -> None:
        with self._lock:
            self.conflicts += 1
            self.retries += retried

    def restamped(self) -> None:
        with self._lock:
            self.restamps += 1

    def snapshot(self) -> WriteCounts:
        with self._lock:
            return WriteCounts(dict(self.events), self.conflicts, self.retries, self.restamps)
