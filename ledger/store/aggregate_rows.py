"""One aggregate's stored events as rows, in version order and in one query: each one's
version, topic, stored state and global position. What a client's history answers
(issue 17) without a `StoredEvent` and a `UUID` per event, as the library's
`select_events` makes, and a second query for the positions. Each recorder has its own
`aggregate_rows` (PostgreSQL's and the memory store's beside their recorders)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from ledger.store.chain_recording import ALL_VERSIONS

# (version, topic, state, position)
StoredRow = tuple[int, str, bytes, int]


class SQLiteAggregateRows:
    """Mixed into the SQLite recorder: a row's position is its rowid."""

    events_table_name: str
    datastore: Any

    def aggregate_rows(
        self, originator_id: UUID, versions: tuple[int, int] = ALL_VERSIONS, limit: int = -1
    ) -> list[StoredRow]:
        """The events after version `versions[0]` up to `versions[1]`, the first `limit`
        of them (every one if negative)."""
        with self.datastore.transaction(commit=False) as c:
            cursor = c.sqlite_cursor
            cursor.row_factory = None  # tuples, not the pool's `sqlite3.Row`s
            cursor.execute(
                "SELECT originator_version, topic, state, rowid "
                f"FROM {self.events_table_name} WHERE originator_id=? "
                "AND originator_version>? AND originator_version<=? "
                "ORDER BY originator_version LIMIT ?",
                (originator_id.hex, *versions, limit),
            )
            return cursor.fetchall()
