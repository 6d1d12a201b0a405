"""In memory (the library's POPO store), for unit tests, with the hash chain."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory

from ledger.integrity.chain import GENESIS, ChainEvent, chain_event, chain_hashes


class LedgerPOPOApplicationRecorder(POPOApplicationRecorder):
    def __init__(self) -> None:
        super().__init__()
        # _hashes[i] is the chain hash of _stored_events[i], at position i + 1.
        self._hashes: list[bytes] = []

    def _update_table(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._update_table(stored_events, **kwargs) or []
        previous = self._hashes[-1] if self._hashes else GENESIS
        events = [chain_event(p, s) for p, s in zip(ids, stored_events, strict=True)]
        self._hashes.extend(chain_hashes(previous, events))
        return ids

    def event_positions(self, originator_id: UUID) -> dict[int, int]:
        """Global position of each stored event of one aggregate, by version."""
        with self._database_lock:
            index = self._stored_events_index[str(originator_id)]
            return {version: offset + 1 for version, offset in index.items()}

    def chain_head(self) -> tuple[int, bytes] | None:
        with self._database_lock:
            return (len(self._hashes), self._hashes[-1]) if self._hashes else None

    def max_event_position(self) -> int:
        return self.max_notification_id() or 0

    def chain_events(self, after: int, upto: int) -> list[ChainEvent]:
        with self._database_lock:
            stop = min(upto, len(self._stored_events))
            return [chain_event(i + 1, self._stored_events[i]) for i in range(max(after, 0), stop)]

    def chain_hashes(self, after: int, upto: int) -> list[tuple[int, bytes]]:
        with self._database_lock:
            stop = min(upto, len(self._hashes))
            return [(i + 1, self._hashes[i]) for i in range(max(after, 0), stop)]

    def hashes_at(self, positions: Iterable[int]) -> dict[int, bytes]:
        with self._database_lock:
            return {p: self._hashes[p - 1] for p in positions if 0 < p <= len(self._hashes)}


class LedgerPOPOFactory(POPOFactory):
    def application_recorder(self) -> ApplicationRecorder:
        return LedgerPOPOApplicationRecorder()
