"""The audit log's data: the events a page of the audit read model names, read from the
store (where personal data is kept, and only there)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ledger.application.history import HistoryUseCases, event_data

# Fields of an event an auditor is never shown: an API key's salt and secret hash.
SECRET_FIELDS = frozenset({"salt", "secret_hash"})
# Positions this close together are read in one range (a page of the whole log is one).
GAP = 16


def runs(positions: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted positions as `(first, last)` ranges, each gap within a range at most GAP."""
    found: list[tuple[int, int]] = []
    for position in sorted(set(positions)):
        if found and position - found[-1][1] <= GAP:
            found[-1] = (found[-1][0], position)
        else:
            found.append((position, position))
    return found


class AuditUseCases(HistoryUseCases):
    def events_data(self, positions: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The data of the events at `positions` of the log, by position."""
        wanted = set(positions)
        found: dict[int, dict[str, Any]] = {}
        for first, last in runs(wanted):
            for notification in self.recorder.select_notifications(
                first, last - first + 1, stop=last
            ):
                if notification.id in wanted:
                    data = event_data(self.mapper.to_domain_event(notification))
                    found[notification.id] = {
                        k: v for k, v in data.items() if k not in SECRET_FIELDS
                    }
        return found
