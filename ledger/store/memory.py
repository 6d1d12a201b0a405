"""In memory (the library's POPO store), for unit tests."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder
from eventsourcing.popo import POPOApplicationRecorder, POPOFactory


class LedgerPOPOApplicationRecorder(POPOApplicationRecorder):
    def event_positions(self, originator_id: UUID) -> dict[int, int]:
        """Global position of each stored event of one aggregate, by version."""
        with self._database_lock:
            index = self._stored_events_index[str(originator_id)]
            return {version: offset + 1 for version, offset in index.items()}


class LedgerPOPOFactory(POPOFactory):
    def application_recorder(self) -> ApplicationRecorder:
        return LedgerPOPOApplicationRecorder()
