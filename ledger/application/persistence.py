"""How the ledger's store is wired: a repository with serial turns on its cache, a
mapper that seals personal fields (ledger.privacy) with keys kept beside the events, and
the transcoding of dates."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import partial
from typing import Any
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent, Repository
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    JSONTranscoder,
    Mapper,
    Recording,
    Transcoder,
    Transcoding,
)
from eventsourcing.utils import strtobool

from ledger.application.caches import KnownSnapshots, SerialCacheRepository
from ledger.application.results import WriteCounters
from ledger.application.transcoder import InliningJSONTranscoder
from ledger.privacy import KeyRing, PersonalDataMapper
from ledger.privacy.key_tables import key_table_for
from ledger.privacy.master_key import master_key_for
from ledger.store.key_use import key_use_table_for
from ledger.store.recorded_order import RecordedOutOfOrder

# An insert stamped before the log's last recorded time is stamped again and retried; each
# retry loses only to another writer inserting in between.
RESTAMPS = 20


def restamped(event: Any, at: datetime) -> Any:
    """`event` as recorded at `at` (events are frozen)."""
    again = copy.copy(event)
    object.__setattr__(again, "timestamp", at)
    return again


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class LedgerPersistence(Application):
    """The library's application with the ledger's repository, mapper and key ring."""

    clock: Callable[[], datetime]

    def __init__(self, env: dict[str, str] | None = None) -> None:
        # The clock an insert is stamped again by; the ledger's use cases set their own.
        self.clock = partial(datetime.now, UTC)
        self.counters = WriteCounters()
        super().__init__(env)
        # The mapper was made before the recorder: its keys live beside the events.
        self.keyring.table = key_table_for(self.recorder)
        self.keyring.table.create_tables()
        self.keyring.check_master(self.master_key_source)
        self.key_uses = key_use_table_for(self.recorder)
        self.key_uses.create_table()

    def construct_repository(self) -> Repository[UUID]:
        maxsize = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        return SerialCacheRepository(
            event_store=self.events,  # type: ignore[arg-type]
            snapshot_store=self.snapshots and KnownSnapshots(self.snapshots),  # type: ignore[arg-type]
            cache_maxsize=int(maxsize) if maxsize else None,
            fastforward=strtobool(self.env.get(self.AGGREGATE_CACHE_FASTFORWARD, "y")),
            fastforward_skipping=strtobool(
                self.env.get(self.AGGREGATE_CACHE_FASTFORWARD_SKIPPING, "n")
            ),
            deepcopy_from_cache=strtobool(self.env.get(self.DEEPCOPY_FROM_AGGREGATE_CACHE, "y")),
        )

    def construct_mapper(self) -> Mapper[UUID]:
        """Personal fields sealed at the store boundary (ledger.privacy)."""
        master, self.master_key_source = master_key_for(self.env)
        self.keyring = KeyRing(master, None)
        return PersonalDataMapper(self.construct_transcoder(), self.keyring)

    def construct_transcoder(self) -> Transcoder:
        """The library's JSON transcoder (unless the environment names another), as the
        faster one that writes the same bytes."""
        transcoder = self.factory.transcoder()
        if type(transcoder) is JSONTranscoder:
            transcoder = InliningJSONTranscoder()
        if isinstance(transcoder, JSONTranscoder):
            self.register_transcodings(transcoder)
        return transcoder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """The library's `save` (eventsourcing 9.5.6), its events collected without asking
        whether each aggregate is a domain event and collects events, two checks against
        runtime protocols (36 µs of CPU a write); anything but an `Aggregate` is collected
        by the library's own `collect_events`."""
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        others = []
        for obj in objs:
            if isinstance(obj, Aggregate):
                processing_event.events.extend(obj.collect_events())
                processing_event.aggregates[obj.id] = obj
            elif obj is not None:
                others.append(obj)
        processing_event.collect_events(*others, **kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # type: ignore[arg-type]
        return recordings

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """The library's snapshots (eventsourcing 9.5.6: `take_snapshot` loads the aggregate
        again at the event's version, from its last snapshot and up to 100 events decoded
        and opened: ~3.7 ms, 37 us a write), taken of the aggregate in hand when it stands
        at that version: the saved aggregate is the one those events were applied to, as
        recorded (restamped too, `_record`). Any other event at an interval (one before the
        last of its aggregate in the same save) is the library's."""
        if not self.snapshots or not self.snapshotting_intervals:
            return
        later = ProcessingEvent[UUID]()
        for event in processing_event.events:
            aggregate = processing_event.aggregates.get(event.originator_id)
            if aggregate is None:
                continue
            interval = self.snapshotting_intervals.get(type(aggregate))
            if interval is None or event.originator_version % interval:
                continue
            taker = getattr(type(aggregate), "Snapshot", self.snapshot_class)
            if taker is not None and aggregate.version == event.originator_version:
                self.snapshots.put([taker.take(aggregate)])
            else:
                later.events.append(event)
                later.aggregates[event.originator_id] = aggregate
        if later.events:
            super()._take_snapshots(later)

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        """The events recorded; stamped again, no earlier than the log's last recorded time,
        when another writer inserted events stamped later first (`recorded_order`)."""
        for attempt in range(RESTAMPS):
            try:
                return super()._record(processing_event)
            except RecordedOutOfOrder as late:
                if attempt == RESTAMPS - 1:
                    raise
                self.counters.restamped()
                at = max(self.clock(), late.last)
                processing_event.events = [restamped(e, at) for e in processing_event.events]
                # The aggregates in hand as recorded too: kept for the next command, and
                # snapshotted (`_take_snapshots`).
                created = {
                    e.originator_id
                    for e in processing_event.events
                    if e.originator_version == Aggregate.INITIAL_VERSION
                }
                for aggregate_id, aggregate in processing_event.aggregates.items():
                    aggregate.modified_on = at  # type: ignore[union-attr]
                    if aggregate_id in created:
                        aggregate._created_on = at  # type: ignore[union-attr]
        raise AssertionError("unreachable")
