"""The read log: who read a client's personal data, when, where (the path) and which client.

A read must not wait for its own record (the log may cost a read at most 10%): a read
appends to an in-memory queue, and a background thread writes the queue into the log's
table every `FLUSH_SECONDS`, in one transaction. A crash loses what was queued and not yet
written: at most the reads of the last second (FLUSH_SECONDS plus one write). A query of
the log writes the queue first, so it sees every read made before it.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ledger.projections.kit import BatchView, Part, from_utc_text, utc_text
from ledger.projections.kit.text import after_cursor, given

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.5
# A failed write keeps its rows queued; past this many the oldest go (and are logged).
MAX_QUEUED = 1_000_000


class ReadsTable(Part):
    def tables(self) -> list[str]:
        p = self.prefix
        return [
            f"CREATE TABLE IF NOT EXISTS {p}_reads (at TEXT, rid TEXT, principal TEXT, "
            "role TEXT, path TEXT, client_id TEXT, PRIMARY KEY (at, rid))",
            f"CREATE INDEX IF NOT EXISTS {p}_reads_client ON {p}_reads (client_id, at)",
            f"CREATE INDEX IF NOT EXISTS {p}_reads_principal ON {p}_reads (principal, at)",
        ]


class SQLReadLogStore(BatchView):
    """The read log's table, in a database of its own beside the views."""

    view_name = "read_log"

    def compose(self) -> list[Part]:
        return [ReadsTable(self)]

    def append(self, rows: list[tuple[Any, ...]]) -> None:
        with self.transaction() as c:
            self.execute_many(
                c,
                f"INSERT INTO {self.view_name}_reads (at, rid, principal, role, path, client_id) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                rows,
            )

    def reads(
        self,
        *,
        client_id: str | None = None,
        principal: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """`{items: [{at, principal, role, path, client_id}], next_cursor}` in time order,
        `[start, end)`."""
        where, params = given(
            {
                "client_id = ?": client_id,
                "principal = ?": principal,
                "at >= ?": None if start is None else utc_text(start),
                "at < ?": None if end is None else utc_text(end),
                **after_cursor(cursor, "at", "rid"),
            }
        )
        rows = self.query(
            f"SELECT * FROM {self.view_name}_reads WHERE {' AND '.join(where)} "
            f"ORDER BY at, rid LIMIT {int(limit) + 1}",
            params,
        )
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = f"{rows[-1]['at']}|{rows[-1]['rid']}"
        return {
            "items": [
                {
                    "at": from_utc_text(row["at"]),
                    "principal": row["principal"],
                    "role": row["role"],
                    "path": row["path"],
                    "client_id": row["client_id"],
                }
                for row in rows
            ],
            "next_cursor": next_cursor,
        }


class ReadLog:
    """Reads recorded now, written a batch at a time (see the module)."""

    def __init__(self, store: SQLReadLogStore, clock: Callable[[], datetime] | None = None) -> None:
        self.store = store
        self.clock = clock or (lambda: datetime.now(UTC))
        self.queue: deque[tuple[Any, ...]] = deque()
        self._stop = threading.Event()
        self._writing = threading.Lock()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    def record(self, *, principal: str, role: str, path: str, client_id: str) -> None:
        """Queue one read; it is written within FLUSH_SECONDS."""
        self.queue.append(
            (utc_text(self.clock()), uuid.uuid4().hex, principal, role, path, client_id)
        )
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._starting:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="read-log", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            self.flush()

    def flush(self) -> None:
        """Write what is queued (one transaction)."""
        with self._writing:
            rows = []
            while self.queue:
                rows.append(self.queue.popleft())
            if not rows:
                return
            try:
                self.store.append(rows)
            except Exception:
                log.exception("the read log could not be written; %d reads stay queued", len(rows))
                self.queue.extendleft(reversed(rows))
                while len(self.queue) > MAX_QUEUED:
                    self.queue.popleft()

    def reads(self, **query: Any) -> dict[str, Any]:
        self.flush()
        return self.store.reads(**query)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self.flush()
        finally:
            self.store.factory.close()  # type: ignore[attr-defined]
