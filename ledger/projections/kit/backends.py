"""The SQLite and PostgreSQL backends of a view: the only code that differs per database.

A read model is written once against `BatchView`; `view_class(read_model, kind)` puts it on
a backend (no read model differs per database beyond what these two classes hold).
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from functools import cache
from typing import Any, ClassVar

import psycopg
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder
from psycopg.sql import SQL

from ledger.projections.kit.engine import BatchView
from ledger.projections.kit.pg_rows import rows_insert
from ledger.store.postgres import fewer_attempts, schema_lock

_TRACKING_WORD = re.compile(r"\btracking\b")
# In-memory views live in this process alone: a lock of the process is theirs.
_MEMORY_LOCKS: dict[str, threading.Lock] = {}
_MEMORY_LOCKS_LOCK = threading.Lock()
# The advisory locks of catching views up (`catch_up_lock`): this key, and the view's.
CATCH_UP_LOCKS = 0x1ED6E8
# How long PostgreSQL lets a view's connection sit idle inside a transaction before it ends
# the session (the ledger's own connections: the library's 5 s). A catch-up batch holds its
# transaction open while the handlers of the whole batch run, in a thread beside the other
# views of its process (`ReadAhead`), and most statements wait for its end: rebuilding the
# 755,541-event demo at a load of 6-8 on two cores, a view's session sat idle in its
# transaction up to 4.5 s in batches of 5,000 (pg_stat_activity) and 5.7 s in batches of
# 10,000; at 15,000 the server ended one and the rebuild failed (bench/RESULTS.md section
# 17). Still bounded: a process hung half way releases the view's locks.
VIEW_IDLE_IN_TRANSACTION_SECONDS = 60


class SQLiteBackend(SQLiteTrackingRecorder):
    """A view in SQLite. Several views share one file, so each has its own tracking table."""

    datastore: SQLiteDatastore
    view_name: ClassVar[str]
    # Caught up in turn with the other views of its process, not in a thread each, and
    # the log read in the same thread between batches, not ahead in another: writing a
    # local file is mostly Python, and the threads only took turns on the interpreter's
    # lock (three views' catch-up at 200,000 events: 17.8-18.9 s of CPU in threads,
    # 16.2-16.5 in turn; read ahead 19.6-19.8 against 18.6-18.7 read in turn, at a load of
    # 7-9).
    caught_up_in_turn: ClassVar[bool] = True

    def __init__(self, datastore: SQLiteDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        table = self._tracking_table()  # type: ignore[attr-defined]
        self.insert_tracking_statement = _TRACKING_WORD.sub(table, self.insert_tracking_statement)
        self.select_max_tracking_id_statement = _TRACKING_WORD.sub(
            table, self.select_max_tracking_id_statement
        )

    def construct_create_table_statements(self) -> list[str]:
        table = self._tracking_table()  # type: ignore[attr-defined]
        statements = [
            _TRACKING_WORD.sub(table, s) for s in super().construct_create_table_statements()
        ]
        return [*statements, *_view_statements(self)]

    rebuilding: bool

    # Page cache of a view's writing connection, in KiB: five views in a process at 64 MiB
    # each took 320 of a catch-up's 600 MiB peak, for a few percent of its CPU.
    cache_kib = 16384
    # While indexes are built: SQLite sorts in memory up to the page cache's size, and a
    # rebuild's peak memory was that sort's.
    index_build_cache_kib = 8192

    def finish_rebuild(self) -> None:
        rebuilt = self.rebuilding
        self.cache_kib = self.index_build_cache_kib
        try:
            super().finish_rebuild()  # type: ignore[misc]
        finally:
            del self.cache_kib
        if rebuilt:
            with self.datastore.get_connection(commit=True) as conn:
                cursor = conn.cursor()
                # The write-ahead log grew large while rebuilding: fold it into the file
                # now rather than leave it to the first writes that follow; and give back
                # the page cache the rebuild filled.
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                cursor.execute("PRAGMA shrink_memory")

    def create_table(self) -> None:
        """The library looks for the tracking table, then creates the tables and the
        migration row: two processes creating a new view at once both inserted the row (one
        failed). One at a time; the later one finds it made (as `schema_lock` on
        PostgreSQL). Not re-entrant (`flock` on a second descriptor waits for the first):
        nothing under it may create or upgrade a view."""
        with _sqlite_lock(self.datastore, "schema", blocking=True):
            super().create_table()

    def upgrade(self) -> None:
        with _sqlite_lock(self.datastore, "schema", blocking=True):
            super().upgrade()  # type: ignore[misc]

    def catch_up_lock(self) -> AbstractContextManager[bool]:
        """A lock file beside the view's: the view's own write lock is taken by each batch,
        and this is held across them. The system releases it when the process ends."""
        return _sqlite_lock(self.datastore, "catch-up", blocking=False)

    def refresh_statistics(self) -> None:
        """The query planner's statistics of the view's tables (sampled, so cheap).

        Without them SQLite guesses, and on a large view it chose to sort every client of
        an outlet before a roster page's LIMIT instead of walking clients in id order
        (25-65 ms against 1-3 ms at 100,000 clients)."""
        with self.transaction() as c:
            c.execute("PRAGMA analysis_limit = 1000")
            c.execute("ANALYZE")

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        # BEGIN IMMEDIATE takes the write lock first: a view reads, then writes, and a
        # deferred transaction could not upgrade if another runner committed in between.
        with self.datastore.get_connection(commit=True) as conn:
            cursor = conn.cursor()
            # A view is rebuilt from the log: a commit lost to a power cut is replayed, so
            # it need not wait for fsync (WAL keeps the file consistent either way).
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute(f"PRAGMA cache_size = -{self.cache_kib}")
            # Checkpoints copy scattered pages back and sync: fewer, larger ones are cheaper.
            # A rebuild rewrites the same pages batch after batch: checkpointing seldom
            # copies each back once, not once per batch (the log is folded in at the end).
            cursor.execute(f"PRAGMA wal_autocheckpoint = {100000 if self.rebuilding else 20000}")
            # Some builds of SQLite (Debian's among them) zero deleted rows' bytes even in
            # pages nothing else changed: a refold or a reset then writes pages for nothing.
            # A view holds only what the log holds; FAST zeroes them where it costs no I/O.
            cursor.execute("PRAGMA secure_delete = FAST")
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def _sql(self, statement: str) -> str:
        return statement

    def has_table(self, c: Any, table: str) -> bool:
        c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
        return c.fetchone() is not None

    def has_column(self, c: Any, table: str, column: str) -> bool:
        """Whether the table has the column (for upgrades of older views)."""
        c.execute("SELECT 1 FROM pragma_table_info(?) WHERE name = ?", (table, column))
        return c.fetchone() is not None


class PostgresBackend(PostgresTrackingRecorder):
    """A view in PostgreSQL, beside the events in the same database."""

    datastore: PostgresDatastore
    view_name: ClassVar[str]
    share_row: ClassVar[str] = " FOR SHARE"
    update_row: ClassVar[str] = " FOR UPDATE"

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        kwargs["tracking_table_name"] = self._tracking_table()  # type: ignore[attr-defined]
        super().__init__(datastore, **kwargs)
        self.view_create_statements = [
            SQL(s)  # type: ignore[arg-type]
            for s in _view_statements(self)
        ]

    # A view read while the database is down fails in seconds, as the ledger's reads do.
    max_tracking_id = fewer_attempts(PostgresTrackingRecorder.max_tracking_id)
    has_tracking_id = fewer_attempts(PostgresTrackingRecorder.has_tracking_id)

    def create_table(self) -> None:
        """The library's tables, then the view's, a statement per transaction: CREATE INDEX
        IF NOT EXISTS locks its table even when the index is there, and one transaction
        holding the view's tables one after another deadlocked with a batch of another
        process writing them in another order (`ledger project` starting beside a serving
        process failed so, a CI run in three)."""
        with schema_lock(self.datastore):
            super().create_table()
            for statement in self.view_create_statements:
                with self.datastore.transaction(commit=True) as c:
                    c.execute(statement, prepare=False)

    def upgrade(self) -> None:
        # Processes starting together would each upgrade: one at a time, the later ones
        # find it done.
        with schema_lock(self.datastore):
            super().upgrade()  # type: ignore[misc]

    def transaction(self) -> Any:
        return self.datastore.transaction(commit=True)

    @contextmanager
    def snapshot_transaction(self) -> Iterator[Any]:
        # READ COMMITTED (the library's) lets each statement see what committed before it:
        # a reset committed between two of them was read half (tests/integration/
        # test_kept_organisation.py). Read only, a repeatable read never fails to commit.
        with self.read_transaction() as c:
            c.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield c

    @contextmanager
    def catch_up_lock(self) -> Iterator[bool]:
        """A session's advisory lock, held on a connection of its own: processes starting
        together on one database (`serve --workers N`, `project`) each try it."""
        key = zlib.crc32(self.view_name.encode()) & 0x7FFFFFFF
        with self.datastore.get_connection() as conn:
            row = conn.execute(
                "SELECT pg_try_advisory_lock(%s, %s) AS got", (CATCH_UP_LOCKS, key)
            ).fetchone()
            got = bool(row and row["got"])
            try:
                yield got
            finally:
                # A session lost with the database lost its lock with it.
                if got:
                    with suppress(psycopg.Error):
                        conn.execute("SELECT pg_advisory_unlock(%s, %s)", (CATCH_UP_LOCKS, key))

    def refresh_statistics(self) -> None:
        """Autovacuum analyses in its own time, not straight after a catch-up of the whole
        log, when the planner would still plan for empty tables."""
        with self.transaction() as c:
            for table in self.view_tables():  # type: ignore[attr-defined]
                c.execute(f"ANALYZE {table}")

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s")

    def _send_rows(self, c: Any, statement: str, rows: list[tuple[Any, ...]]) -> None:
        """As arrays, a statement for many rows (`pg_rows`), where the INSERT allows it."""
        plans = self.__dict__.setdefault("_rows_inserts", {})
        if statement not in plans:
            plans[statement] = rows_insert(c, statement)
        plan = plans[statement]
        if plan is None or not plan.send(c, rows):
            super()._send_rows(c, statement, rows)  # type: ignore[misc]

    def has_table(self, c: Any, table: str) -> bool:
        c.execute("SELECT to_regclass(%s) IS NOT NULL AS found", (table,))
        return bool(c.fetchone()["found"])

    def has_column(self, c: Any, table: str, column: str) -> bool:
        """Whether the table (in the search path) has the column."""
        c.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = %s AND column_name = %s",
            (table, column),
        )
        return c.fetchone() is not None


def _view_statements(view: Any) -> list[str]:
    """What creates a view's own tables: its generation's, its parts', their query indexes."""
    return [view.generation_statement(), *view.view_statements(), *view.query_index_statements()]


BACKENDS: dict[str, type] = {"sqlite": SQLiteBackend, "postgres": PostgresBackend}


@cache
def view_class(read_model: type[BatchView], kind: str) -> type[BatchView]:
    """`read_model` on the backend of `kind` ("sqlite" or "postgres")."""
    backend = BACKENDS[kind]
    name = f"{backend.__name__.removesuffix('Backend')}{read_model.__name__}"
    return type(name, (backend, read_model), {"__module__": read_model.__module__})


@contextmanager
def _sqlite_lock(datastore: SQLiteDatastore, name: str, *, blocking: bool) -> Iterator[bool]:
    """A lock across the processes of one view file: `<file>-<name>.lock` (0600), held by
    `flock` (SQLite's own locks are per transaction); yields whether it was got (always,
    `blocking`). An in-memory view (one process) takes a lock of its process."""
    pool = datastore.pool
    if pool.is_sqlite_memory_mode:
        with _MEMORY_LOCKS_LOCK:
            lock = _MEMORY_LOCKS.setdefault(f"{pool.db_name}-{name}", threading.Lock())
        got = lock.acquire(blocking=blocking)
        try:
            yield got
        finally:
            if got:
                lock.release()
        return
    fd = os.open(f"{pool.db_name}-{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            got = True
        except BlockingIOError:
            got = False
        yield got
    finally:
        os.close(fd)  # and with it the lock
