"""The audit log's data: the events a page of the audit read model names, read from the
store (where personal data is kept, and only there)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from ledger.application.history import HistoryUseCases, event_data

# Fields of an event an auditor is never shown: an API key's salt and secret hash.
SECRET_FIELDS = frozenset({"salt", "secret_hash"})


class AuditUseCases(HistoryUseCases):
    def events_data(self, refs: Iterable[tuple[UUID, int]]) -> dict[tuple[UUID, int], dict]:
        """The data of each event named by (aggregate id, version)."""
        found: dict[tuple[UUID, int], dict[str, Any]] = {}
        for originator_id, version in refs:
            for event in self.events.get(originator_id, gt=version - 1, lte=version):
                data = event_data(event)
                found[originator_id, version] = {
                    k: v for k, v in data.items() if k not in SECRET_FIELDS
                }
        return found
