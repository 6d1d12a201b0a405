"""The SQLite connection pool of the ledger's stores (see `LedgerSQLiteConnectionPool`)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import ConnectionUnavailableError
from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool


class LedgerSQLiteConnectionPool(SQLiteConnectionPool):
    """The library's pool, tuned for a server's thread pool on a WAL file.

    - `synchronous=NORMAL` on every connection to a file. In WAL mode (the library
      switches the file to it) NORMAL still survives a crash of the process: only an
      operating-system crash or power loss can lose the last commits, never corrupt the
      file. FULL would sync the log on every commit, which the single writer pays in series.
    - Writers queue on their own lock, not inside the pool's fairness semaphore: the
      library holds that semaphore while a writer waits for the writer lock, so every
      reader queued behind one waiting writer, although WAL lets readers run beside it.
    - Room for every thread of the server's pool: the library keeps 5 connections and
      closes any extra one on return, so busier moments opened a connection per query.
    """

    POOL_SIZE = 40

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{**kwargs, "pool_size": self.POOL_SIZE, "max_overflow": 10})
        self._write_gate = threading.Lock()
        self._gated: set[int] = set()
        self._alone: SQLiteConnection | None = None
        self._alone_lock = threading.Lock()

    def read_alone(self, statement: str, params: Sequence[Any]) -> list[Any] | None:
        """The rows of one quick SELECT, on a connection kept for such reads outside the
        pool and taken in turn: none of the pool's locks, no BEGIN and COMMIT (one statement
        is its own read snapshot); a third of a pooled read's time for the log watch's scan
        of each request. None for an in-memory database, whose reads need the pool."""
        if self.is_sqlite_memory_mode:
            return None
        with self._alone_lock:
            if self._alone is None:
                self._alone = self._create_connection()
            return self._alone._sqlite_conn.execute(statement, params).fetchall()

    def close(self) -> None:
        with self._alone_lock:
            if self._alone is not None:
                self._alone.close()
                self._alone = None
        super().close()

    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        if not self.is_sqlite_memory_mode:
            connection.cursor().execute("PRAGMA synchronous=NORMAL")
        return connection

    def get_connection(
        self, timeout: float | None = None, *, is_writer: bool | None = None
    ) -> SQLiteConnection:
        if is_writer is not True or self.is_sqlite_memory_mode:
            return super().get_connection(timeout, is_writer=is_writer)
        wait = self.pool_timeout if timeout is None else timeout
        if not self._write_gate.acquire(timeout=wait):
            raise ConnectionUnavailableError("Timed out waiting for return of writer")
        try:
            connection = super().get_connection(timeout, is_writer=None)
        except BaseException:
            self._write_gate.release()
            raise
        self._gated.add(id(connection))
        return connection

    def put_connection(self, conn: SQLiteConnection) -> None:
        gated = id(conn) in self._gated
        self._gated.discard(id(conn))
        try:
            super().put_connection(conn)
        finally:
            if gated:
                self._write_gate.release()
