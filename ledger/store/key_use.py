"""When each API key was last used (API.md 1.1, "Keys": `last_used_at` in an access review).

Kept beside the events (table `api_key_use` in the store's SQLite file or PostgreSQL
database; in memory for the in-memory store), not as events: a use is not a fact of the
ledger, and an event per request would grow the log with reads. The application writes a
key's use at most once per `LAST_USE_GRAIN` per process, so the table costs one short
transaction per key per minute; several processes on one database keep the latest time.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from typing import Any


class KeyUseTable(ABC):
    @abstractmethod
    def create_table(self) -> None: ...

    @abstractmethod
    def record(self, key_id: str, used_at: datetime) -> None:
        """Note a use, keeping the later of this and any time already stored."""

    @abstractmethod
    def last_uses(self) -> dict[str, datetime]:
        """Every key's last use, by key id."""


class MemoryKeyUseTable(KeyUseTable):
    def __init__(self) -> None:
        self.uses: dict[str, datetime] = {}
        self.lock = threading.Lock()

    def create_table(self) -> None:
        pass

    def record(self, key_id: str, used_at: datetime) -> None:
        with self.lock:
            known = self.uses.get(key_id)
            if known is None or used_at > known:
                self.uses[key_id] = used_at

    def last_uses(self) -> dict[str, datetime]:
        with self.lock:
            return dict(self.uses)


class SQLKeyUseTable(KeyUseTable):
    """On the store's own datastore; times are stored as UTC ISO text (they sort as text)."""

    def __init__(self, datastore: Any, *, postgres: bool) -> None:
        self.datastore = datastore
        self.postgres = postgres
        self.mark = "%s" if postgres else "?"

    def create_table(self) -> None:
        with self.datastore.transaction(commit=True) as c:
            if self.postgres:
                # Processes starting together: PostgreSQL's IF NOT EXISTS is not atomic.
                c.execute("SELECT pg_advisory_xact_lock(1517)")
            c.execute(
                "CREATE TABLE IF NOT EXISTS api_key_use "
                "(key_id TEXT PRIMARY KEY, last_used_at TEXT NOT NULL)"
            )

    def record(self, key_id: str, used_at: datetime) -> None:
        m = self.mark
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                f"INSERT INTO api_key_use (key_id, last_used_at) VALUES ({m}, {m}) "
                "ON CONFLICT (key_id) DO UPDATE SET last_used_at = excluded.last_used_at "
                "WHERE excluded.last_used_at > api_key_use.last_used_at",
                (key_id, used_at.astimezone(UTC).isoformat()),
            )

    def last_uses(self) -> dict[str, datetime]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT key_id, last_used_at FROM api_key_use")
            rows = c.fetchall()
        uses = {}
        for row in rows:
            key_id, used_at = row.values() if isinstance(row, dict) else tuple(row)
            uses[str(key_id)] = datetime.fromisoformat(used_at)
        return uses


def key_use_table_for(recorder: Any) -> KeyUseTable:
    datastore = getattr(recorder, "datastore", None)
    if datastore is None:
        return MemoryKeyUseTable()
    return SQLKeyUseTable(datastore, postgres=type(datastore).__name__.startswith("Postgres"))
