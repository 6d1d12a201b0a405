"""Reading the SQLite log in pages, as the projections do on every catch-up and rebuild.

The library's `select_notifications` answers the same notifications with more Python per
event: each row a `sqlite3.Row` read by column name, each originator id parsed into a new
`UUID` (1.5 us), each notification made through its frozen dataclass's `__init__` (0.9 us).
A catch-up reads every event of the log once in each process, so here the rows are plain
tuples, the ids of the aggregates read lately are kept (a client's events come close
together; a `UUID` cannot change), and each notification is made with its fields at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification

# Originator ids kept by their text; emptied when full, so it stays small.
KEPT_IDS = 1 << 16


class NotificationPages:
    """A mixin for the library's `SQLiteApplicationRecorder` (before it in the bases)."""

    datastore: Any
    events_table_name: str
    _kept_ids: dict[str, UUID]

    def convert_originator_id(self, originator_id: str) -> UUID | str:
        if self.datastore.originator_id_type != "uuid":
            return originator_id
        try:
            kept = self._kept_ids
        except AttributeError:
            kept = self._kept_ids = {}
        found = kept.get(originator_id)
        if found is None:
            if len(kept) >= KEPT_IDS:
                kept.clear()
            found = kept[originator_id] = UUID(originator_id)
        return found

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """The library's answer (the same statement, the same notifications)."""
        conditions: list[str] = []
        params: list[int | str] = []
        if start is not None:
            conditions.append("rowid>=?" if inclusive_of_start else "rowid>?")
            params.append(start)
        if stop is not None:
            conditions.append("rowid<=?")
            params.append(stop)
        if topics:
            conditions.append(f"topic IN ({','.join('?' * len(topics))})")
            params.extend(topics)
        where = f"WHERE {' AND '.join(conditions)} " if conditions else ""
        statement = (
            "SELECT rowid, originator_id, originator_version, topic, state "
            f"FROM {self.events_table_name} {where}ORDER BY rowid LIMIT ?"
        )
        params.append(limit)
        convert, new, set_fields = self.convert_originator_id, object.__new__, object.__setattr__
        notifications = []
        with self.datastore.transaction(commit=False) as c:
            cursor = c.sqlite_cursor
            cursor.row_factory = None  # tuples, not the pool's `sqlite3.Row`s
            cursor.execute(statement, params)
            for rowid, originator_id, version, topic, state in cursor.fetchall():
                notification = new(Notification)
                set_fields(
                    notification,
                    "__dict__",
                    {
                        "originator_id": convert(originator_id),
                        "originator_version": version,
                        "topic": topic,
                        "state": state,
                        "id": rowid,
                    },
                )
                notifications.append(notification)
        return notifications
