"""What every read model shares: times as sortable text, a SQL view whose tracking position
is written in the same transaction as its rows, and the SQLite and PostgreSQL backends.

Views are written once in the SQL both databases accept (`?` placeholders, rewritten to
`%s` for psycopg). Times are stored as fixed-width UTC text, which sorts as time does in
both databases, so every comparison is the same SQL on either backend.
"""

from __future__ import annotations

import re
import threading
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from functools import cache, lru_cache
from operator import itemgetter
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteDatastore, SQLiteTrackingRecorder
from eventsourcing.utils import get_topic
from psycopg.sql import SQL

from ledger.domain import NotFound
from ledger.store.postgres import fewer_attempts, schema_lock

T = TypeVar("T")

# Large IN (...) lists are split so neither database meets its parameter limit.
CHUNK = 500


def ts(moment: datetime) -> str:
    """A tz-aware time as fixed-width UTC text: text order is time order."""
    if moment.tzinfo is not UTC:
        if moment.tzinfo is None:
            raise ValueError("naive datetime")
        moment = moment.astimezone(UTC)
    # Stored events' times come back in UTC: no conversion for them.
    return moment.isoformat(timespec="microseconds")[:26]


def from_ts(text: str | None) -> datetime | None:
    if text is None:
        return None
    # Six times faster than parsing the naive text and replacing its tzinfo.
    return datetime.fromisoformat(text + "+00:00")


def aid(event: Any) -> str:
    """Views key clients, units and staff by aggregate id: later events carry no business id."""
    return _text(event.originator_id.int)


@lru_cache(maxsize=4096)
def _text(number: int) -> str:
    # A client's events come close together in the log: its id is formatted once for them
    # all. Keyed by the id's integer, which hashes and compares in C; a UUID does in Python.
    return str(UUID(int=number))


_first = itemgetter(0)


@cache
def _holdable(statement: str) -> bool:
    """A plain INSERT can wait and go with others of its kind in one `executemany`."""
    return statement.startswith("INSERT") and "SELECT" not in statement


def topics_of(*event_classes: type) -> tuple[str, ...]:
    """The stored topics of the events a projection handles."""
    return tuple(get_topic(cls) for cls in event_classes)


def chunks(items: Sequence[Any], size: int | None = None) -> Iterator[Sequence[Any]]:
    size = size or CHUNK
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _WriteState(threading.local):
    cursor: Any = None
    within: AbstractContextManager[Any]
    tracking: Tracking | None = None
    dirty: defaultdict[str, set[str]]
    pending: dict[str, list[tuple[Any, ...]]]
    memo: dict[str, Any]


class _PerView:
    """The view's write state: made once, under a lock, on first use; from then on a plain
    attribute of the view (a non-data descriptor gives way to the instance's own), which
    every update reads several times."""

    _lock = threading.Lock()

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, view: Any, owner: type | None = None) -> Any:
        if view is None:
            return self
        with self._lock:
            return view.__dict__.setdefault(self.name, _WriteState())


class SQLView(TrackingRecorder, ABC):
    """A materialised view: rows and tracking position change in one transaction.

    Every update method runs inside `_write()`. Outside a batch that is one transaction
    per event; inside `batch()` all events share one transaction, and the tracking
    position is written once, with the batch. Work that depends on several events of one
    client (recomputing its intervals) is marked dirty and done once, before commit.
    Plain INSERTs are held and sent with `executemany` before any other statement runs,
    so a batch costs a few round trips rather than one per event.
    """

    view_name: ClassVar[str]

    # ---- what each view provides ---------------------------------------------------

    def configure(self, **options: Any) -> None:
        """Settings the view's rows depend on (changing them needs a rebuild)."""
        self.options = options

    def view_statements(self) -> list[str]:
        """CREATE TABLE / INDEX statements of the view (cooperative: extend super())."""
        return []

    def query_index_statements(self) -> list[str]:
        """CREATE INDEX IF NOT EXISTS statements of indexes only queries use, never the
        view's own updates (cooperative: extend super()). A rebuild drops them and creates
        them once caught up: building an index over the finished table is far cheaper
        than keeping it up to date row by row."""
        return []

    def _flush(self, c: Any, dirty: dict[str, set[str]]) -> None:
        """Recompute what the batch's events made stale (cooperative)."""

    def upgrade(self) -> None:
        """Bring rows written by an earlier version of the view up to date (at start)."""

    # ---- what each backend provides ------------------------------------------------

    @abstractmethod
    def _transaction(self) -> Any:
        """A context manager: a write transaction's cursor, committed on success."""

    def _read_transaction(self) -> Any:
        """A context manager: a read-only cursor."""
        return self.datastore.transaction(commit=False)  # type: ignore[attr-defined]

    @abstractmethod
    def _sql(self, statement: str) -> str:
        """The statement in the backend's placeholder style."""

    def _tracking_table(self) -> str:
        """Several views share one SQLite file or PostgreSQL database: each has its own."""
        return f"{self.view_name}_tracking"

    @abstractmethod
    def refresh_statistics(self) -> None:
        """Give the query planner the view's shape (once caught up)."""

    @abstractmethod
    def _has_table(self, c: Any, table: str) -> bool:
        """Whether the database has the table (for upgrades of older views)."""

    # ---- writing --------------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[Any]:
        """One transaction for many events; the tracking position is written with it."""
        state = self._state
        if state.cursor is not None:
            yield state.cursor
            return
        with self._transaction() as c:
            state.cursor = c
            state.within = nullcontext(c)
            state.tracking = None
            state.dirty = defaultdict(set)
            state.pending = {}
            state.memo = {}
            try:
                yield c
                self._drain(c)
                self._flush(c, state.dirty)
                self._drain(c)
                if state.tracking is not None:
                    self._insert_tracking(c, state.tracking)
            finally:
                state.cursor = None
                state.tracking = None
                state.pending = {}
                state.memo = {}

    def _write(self) -> AbstractContextManager[Any]:
        """The open batch's cursor, or a transaction of its own."""
        state = self._state
        if state.cursor is not None:
            return state.within
        return self.batch()

    def _track(self, tracking: Tracking) -> None:
        state = self._state
        if state.tracking is None or tracking.notification_id > state.tracking.notification_id:
            state.tracking = tracking

    _state: _WriteState = _PerView()  # type: ignore[assignment]

    def _memo(self, key: str, factory: Callable[[], T]) -> T:
        """Something the open batch keeps in memory for its `_flush`."""
        memo = self._state.memo
        if key not in memo:
            memo[key] = factory()
        return memo[key]  # type: ignore[no-any-return]

    def _dirty(self, kind: str, key: str) -> None:
        self._state.dirty[kind].add(key)

    def track(self, tracking: Tracking) -> None:
        """Advance the position past an event this view has no use for."""
        if self._state.cursor is not None:
            self._track(tracking)
            return
        with self._write():
            self._track(tracking)

    def position_in_batch(self, application_name: str) -> int:
        """The tracked position as the open batch's transaction sees it."""
        return self._max_tracking_id(application_name, self._state.cursor) or 0  # type: ignore[attr-defined]

    def reset(self) -> None:
        """Drop every row and the tracking position, so the view replays from the start."""
        with self._transaction() as c:
            for table in self.view_tables():
                c.execute(f"DELETE FROM {table}")
            c.execute(
                f"DELETE FROM {self._tracking_table()} WHERE application_name <> '__migration__'"
            )

    @property
    def rebuilding(self) -> bool:
        return bool(self.__dict__.get("_rebuilding", False))

    def start_rebuild(self) -> None:
        """Before replaying the log: drop the indexes only queries use (see
        `query_index_statements`), then every row and the tracking position (`reset`).
        The indexes go first, so there is less to delete, and the rows are deleted
        under the rebuild's settings (no checkpoint of the deletions on their own)."""
        pattern = re.compile(r"CREATE INDEX IF NOT EXISTS (\w+)")
        self._rebuilding = True
        try:
            with self._transaction() as c:
                for statement in self.query_index_statements():
                    match = pattern.search(statement)
                    assert match is not None, statement
                    c.execute(f"DROP INDEX IF EXISTS {match.group(1)}")
            self.reset()
        except BaseException:
            # Not rebuilding after all (the rows are as they were): the indexes back, and
            # what is counted as it goes is counted again.
            self._rebuilding = False
            self._create_query_indexes()
            raise

    def finish_rebuild(self) -> None:
        """Once caught up (or failed) after `start_rebuild()`: the query indexes again. A
        process that stopped half way never gets here; the next one to construct the view
        creates them."""
        if not self.rebuilding:
            return
        self._create_query_indexes()
        self._rebuilding = False

    def _create_query_indexes(self) -> None:
        with self._transaction() as c:
            for statement in self.query_index_statements():
                c.execute(statement)

    def view_tables(self) -> list[str]:
        pattern = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)")
        return [m.group(1) for s in self.view_statements() if (m := pattern.search(s))]

    # ---- SQL helpers --------------------------------------------------------------------

    def _held(self, c: Any, statement: str) -> list[tuple[Any, ...]] | None:
        """The rows held for `statement` in the open batch, or None: it runs now (and
        whatever is held runs first)."""
        state = self._state
        if c is not state.cursor:
            return None
        held = state.pending.get(statement)
        if held is None:
            if not _holdable(statement):
                self._drain(c)
                return None
            held = state.pending[statement] = []
        return held

    def _drain(self, c: Any) -> None:
        """Send the held rows. Each statement's rows go in the order of their first column,
        stably: a batch's rows of one key then sit on the same b-tree pages rather than
        all over the table. Rows that could conflict share their first column (every
        view key starts with it), so which of them comes first is unchanged."""
        pending = self._state.pending
        for statement, rows in pending.items():
            if rows:
                rows.sort(key=_first)
                c.executemany(self._sql(statement), rows)
        pending.clear()

    def _exec(self, c: Any, statement: str, params: Sequence[Any] = ()) -> None:
        held = self._held(c, statement)
        if held is not None:
            held.append(tuple(params))
        else:
            c.execute(self._sql(statement), tuple(params))

    def _many(self, c: Any, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        held = self._held(c, statement)
        rows = [tuple(r) for r in rows]
        if held is not None:
            held.extend(rows)
        elif rows:
            c.executemany(self._sql(statement), rows)

    def _all(self, c: Any, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self._held(c, statement)
        c.execute(self._sql(statement), tuple(params))
        return [dict(row) for row in c.fetchall()]

    def _query(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self._read_transaction() as c:
            return self._all(c, statement, params)

    def _in(self, values: Sequence[Any]) -> str:
        return "(" + ",".join("?" * len(values)) + ")"


class UnitTree(SQLView):
    """The bank's tree as a closure table, so a subtree is one join."""

    def view_statements(self) -> list[str]:
        p = self.view_name
        return [
            *super().view_statements(),
            f"CREATE TABLE IF NOT EXISTS {p}_units (unit_id TEXT PRIMARY KEY, aid TEXT, "
            "parent_id TEXT, name TEXT, kind TEXT)",
            f"CREATE TABLE IF NOT EXISTS {p}_unit_paths (ancestor_id TEXT, unit_id TEXT, "
            "PRIMARY KEY (ancestor_id, unit_id))",
            f"CREATE INDEX IF NOT EXISTS {p}_unit_paths_unit ON {p}_unit_paths (unit_id)",
        ]

    def add_unit(
        self,
        aid: str,
        unit_id: str,
        parent_id: str | None,
        name: str,
        kind: str,
        tracking: Tracking,
    ) -> None:
        p = self.view_name
        with self._write() as c:
            self._exec(
                c,
                f"INSERT INTO {p}_units (unit_id, aid, parent_id, name, kind) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (unit_id) DO NOTHING",
                (unit_id, aid, parent_id, name, kind),
            )
            self._exec(
                c,
                f"INSERT INTO {p}_unit_paths (ancestor_id, unit_id) VALUES (?, ?) "
                "ON CONFLICT DO NOTHING",
                (unit_id, unit_id),
            )
            if parent_id is not None:
                self._exec(
                    c,
                    f"INSERT INTO {p}_unit_paths (ancestor_id, unit_id) "
                    f"SELECT ancestor_id, ? FROM {p}_unit_paths WHERE unit_id = ? "
                    "ON CONFLICT DO NOTHING",
                    (unit_id, parent_id),
                )
            self._track(tracking)

    def unit(self, unit_id: str) -> dict[str, Any]:
        rows = self._query(
            f"SELECT unit_id, parent_id, name, kind FROM {self.view_name}_units WHERE unit_id = ?",
            (unit_id,),
        )
        if not rows:
            raise NotFound("unit", unit_id)
        return rows[0]

    def children(self, unit_id: str) -> list[str]:
        rows = self._query(
            f"SELECT unit_id FROM {self.view_name}_units WHERE parent_id = ? ORDER BY unit_id",
            (unit_id,),
        )
        return [row["unit_id"] for row in rows]


# ---- backends ----------------------------------------------------------------------------

_TRACKING_WORD = re.compile(r"\btracking\b")


class SQLiteBackend(SQLiteTrackingRecorder):
    """A view in SQLite. Several views share one file, so each has its own tracking table."""

    datastore: SQLiteDatastore
    view_name: ClassVar[str]

    def __init__(self, datastore: SQLiteDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        table = self._tracking_table()
        self.insert_tracking_statement = _TRACKING_WORD.sub(table, self.insert_tracking_statement)
        self.select_max_tracking_id_statement = _TRACKING_WORD.sub(
            table, self.select_max_tracking_id_statement
        )

    def construct_create_table_statements(self) -> list[str]:
        table = self._tracking_table()
        statements = [
            _TRACKING_WORD.sub(table, s) for s in super().construct_create_table_statements()
        ]
        return statements + self.view_statements() + self.query_index_statements()  # type: ignore[attr-defined]

    rebuilding: bool

    # Page cache of a view's writing connection, in KiB.
    cache_kib = 65536
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

    def refresh_statistics(self) -> None:
        """The query planner's statistics of the view's tables (sampled, so cheap).

        Without them SQLite guesses, and on a large view it chose to sort every client of
        an outlet before a roster page's LIMIT instead of walking clients in id order
        (25-65 ms against 1-3 ms at 100,000 clients)."""
        with self._transaction() as c:
            c.execute("PRAGMA analysis_limit = 1000")
            c.execute("ANALYZE")

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
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

    def _has_table(self, c: Any, table: str) -> bool:
        c.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,))
        return c.fetchone() is not None


class PostgresBackend(PostgresTrackingRecorder):
    """A view in PostgreSQL, beside the events in the same database."""

    datastore: PostgresDatastore
    view_name: ClassVar[str]

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        kwargs["tracking_table_name"] = self._tracking_table()
        super().__init__(datastore, **kwargs)
        self.sql_create_statements.extend(
            SQL(s)
            for s in self.view_statements() + self.query_index_statements()  # type: ignore[attr-defined]
        )

    # A view read while the database is down fails in seconds, as the ledger's reads do.
    max_tracking_id = fewer_attempts(PostgresTrackingRecorder.max_tracking_id)
    has_tracking_id = fewer_attempts(PostgresTrackingRecorder.has_tracking_id)

    def create_table(self) -> None:
        with schema_lock(self.datastore):
            super().create_table()

    def upgrade(self) -> None:
        # Processes starting together would each upgrade: one at a time, the later ones
        # find it done.
        with schema_lock(self.datastore):
            super().upgrade()  # type: ignore[misc]

    def _transaction(self) -> Any:
        return self.datastore.transaction(commit=True)

    def refresh_statistics(self) -> None:
        """Autovacuum analyses in its own time, not straight after a catch-up of the whole
        log, when the planner would still plan for empty tables."""
        with self._transaction() as c:
            for table in self.view_tables():
                c.execute(f"ANALYZE {table}")

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s")

    def _has_table(self, c: Any, table: str) -> bool:
        c.execute("SELECT to_regclass(%s) IS NOT NULL AS found", (table,))
        return bool(c.fetchone()["found"])
