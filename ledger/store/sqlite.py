"""SQLite: the library's recorders, plus the subscription eventsourcing 9.5.6 lacks,
and the hash chain kept beside the events.

The subscription polls the notification log and is woken at once by a save made in
this process, so projections follow a SQLite store without losing or repeating events
(they resume from their own tracking position).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import (
    ApplicationRecorder,
    DatabaseError,
    IntegrityError,
    StoredEvent,
    Subscription,
)
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteCursor,
    SQLiteFactory,
)
from eventsourcing.utils import Environment, EnvType

from ledger.integrity.append import (
    FrontierCache,
    UnlinkedLog,
    record,
)
from ledger.integrity.chain import ChainEvent, uuid_bytes
from ledger.store.aggregate_rows import SQLiteAggregateRows
from ledger.store.chain_recording import ALL_VERSIONS, ChainRecording
from ledger.store.group_commit import GroupCommit, Outcome
from ledger.store.pulls import SpacedPulls
from ledger.store.recorded_order import (
    SHOWN_BY,
    STAMP_BYTES,
    RecordedOutOfOrder,
    check,
    recorded_in,
    shown_by_params,
)
from ledger.store.sqlite_chain import SQLiteChainTables, blob, chain_events, insert_refusal
from ledger.store.sqlite_pool import LedgerSQLiteConnectionPool
from ledger.store.sqlite_reading import NotificationPages

POLL_INTERVAL = 0.25
# Tries at putting a new database file into write-ahead-log mode (`use_write_ahead_log`).
WAL_ATTEMPTS = 50


def use_write_ahead_log(path: str) -> None:
    """The file at `path` (created if new) in write-ahead-log mode, before the library opens
    it. The library switches a new file itself, but without waiting: processes opening a new
    store together (`ledger serve --workers N`, `ledger project`) failed with "database is
    locked" (1 start in 8 of four processes), since the switch needs the file to itself."""
    if path == ":memory:" or path.startswith("file:"):
        return
    for attempt in range(1, WAL_ATTEMPTS + 1):
        try:
            with contextlib.closing(sqlite3.connect(path, timeout=5)) as connection:
                mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
                if mode.lower() != "wal":
                    connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == WAL_ATTEMPTS:
                raise
            time.sleep(0.02 * attempt)


class Waker(Protocol):
    def set(self) -> None: ...


# What waits on each database file (subscriptions, a projector process's nudge); a local
# save wakes them at once. Held weakly: whoever waits keeps its waker.
_waiting: dict[str, weakref.WeakSet[Waker]] = {}
_waiting_lock = threading.Lock()


def wake_on_save(db_name: str, waker: Waker) -> None:
    """`waker.set()` after each save to `db_name` made in this process."""
    with _waiting_lock:
        _waiting.setdefault(db_name, weakref.WeakSet()).add(waker)


def stop_waking(db_name: str, waker: Waker) -> None:
    with _waiting_lock:
        waiting = _waiting.get(db_name)
        if waiting is not None:
            waiting.discard(waker)


def wake(db_name: str) -> None:
    """Wake what waits on saves to `db_name` (as a save made here does)."""
    with _waiting_lock:
        wakers = list(_waiting.get(db_name, ()))
    for waker in wakers:
        waker.set()


class PollingSubscription(SpacedPulls):
    def __init__(
        self,
        recorder: LedgerSQLiteApplicationRecorder,
        gt: int | None = None,
        topics: Sequence[str] = (),
        poll_interval: float = POLL_INTERVAL,
        pull_gap: float | None = None,
    ) -> None:
        self._poll_interval = poll_interval
        if pull_gap is not None:
            self._pull_gap = pull_gap
        super().__init__(recorder=recorder, gt=gt, topics=topics)
        wake_on_save(recorder.db_name, self._has_been_notified)
        self._ticker = threading.Thread(target=self._tick, daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        # Other processes may write too: look again every interval.
        stopped = threading.Event()
        while not self._has_been_stopped and not stopped.wait(self._poll_interval):
            self._has_been_notified.set()

    def stop(self) -> None:
        super().stop()
        stop_waking(self._recorder.db_name, self._has_been_notified)


class LedgerSQLiteApplicationRecorder(
    ChainRecording, NotificationPages, SQLiteAggregateRows, SQLiteApplicationRecorder
):
    """Also keeps the hash chain and the Merkle tree (`ledger.integrity`): each insert
    links its events and appends them to the tree in the transaction that inserts them,
    so neither lags the log. Starting never writes to them."""

    hashes_table_name = "event_hashes"
    leaves_table_name = "merkle_leaves"
    nodes_table_name = "merkle_nodes"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.frontiers = FrontierCache()
        self.group_commit = GroupCommit(self._insert_group)

    @property
    def db_name(self) -> str:
        return self.datastore.pool.db_name

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {self.hashes_table_name} "
            "(position INTEGER PRIMARY KEY, hash BLOB NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.leaves_table_name} "
            "(position INTEGER PRIMARY KEY, leaf_index INTEGER NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.nodes_table_name} "
            "(level INTEGER, idx INTEGER, hash BLOB NOT NULL, PRIMARY KEY (level, idx)) "
            "WITHOUT ROWID",
        ]

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if kwargs.get("tracking") is None:
            ids: Sequence[int] | None = self.group_commit.insert(stored_events)
        else:
            ids = super().insert_events(stored_events, **kwargs)
        wake(self.db_name)
        return ids

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids, originators = self._insert_rows(c, stored_events)
        if ids:
            # Under the write lock the rows took: refused, the transaction rolls them back.
            check(self._recorded_before(c, ids[0]), stored_events)
            self._chain(c, chain_events(ids, originators, stored_events))
        return ids

    def _insert_group(self, inserts: list[Sequence[StoredEvent]]) -> list[Outcome]:
        """Inserts written together (`group_commit`), each in a savepoint rolled back alone if
        it conflicts or goes back in recorded time; the chain of the rest, one commit. An
        insert alone needs no savepoint: refused, its transaction rolls back."""
        if len(inserts) == 1:
            try:
                with self.datastore.transaction(commit=True) as c:
                    return [self._insert_events(c, inserts[0]) or []]
            except (IntegrityError, RecordedOutOfOrder) as error:
                return [error]
        outcomes: list[Outcome] = []
        chained: list[ChainEvent] = []
        last: int | None = None
        read = False
        with self.datastore.transaction(commit=True) as c:
            for stored_events in inserts:
                c.execute("SAVEPOINT one_insert")
                try:
                    ids, originators = self._insert_rows(c, stored_events)
                    if ids:
                        if not read:
                            last, read = self._recorded_before(c, ids[0]), True
                        last = check(last, stored_events) or last
                except (sqlite3.IntegrityError, RecordedOutOfOrder) as error:
                    c.execute("ROLLBACK TO one_insert")
                    c.execute("RELEASE one_insert")
                    outcomes.append(insert_refusal(error))
                    continue
                c.execute("RELEASE one_insert")
                outcomes.append(ids)
                chained += chain_events(ids, originators, stored_events)
            if chained:
                # The inserts hold SQLite's write lock, so the heads cannot move under us.
                self._chain(c, chained)
        return outcomes

    def _recorded_before(self, c: SQLiteCursor, position: int) -> int | None:
        """The recorded time (microseconds) of the log's event before `position` (its head)."""
        c.execute(
            f"SELECT substr(state, 1, {STAMP_BYTES}) FROM {self.events_table_name} "
            "WHERE rowid < ? ORDER BY rowid DESC LIMIT 1",
            (position,),
        )
        row = c.fetchone()
        return recorded_in(row[0] if row else None)

    def _chain(self, c: SQLiteCursor, events: list[ChainEvent]) -> None:
        try:
            record(SQLiteChainTables(self, c), events)
        except UnlinkedLog as error:
            raise DatabaseError(str(error)) from None

    def _insert_rows(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent]
    ) -> tuple[list[int], list[bytes]]:
        """The library's insert as one `executemany` rather than a statement per event;
        the rowids and each event's originator id as the chain takes it (16 bytes). The
        rowids it assigns are consecutive (each the greatest so far plus one, in a table
        without AUTOINCREMENT, while this transaction holds the write lock), so the last
        one gives them all."""
        rows, originators = [], []
        last: UUID | str | None = None
        text, raw = "", b""
        for s in stored_events:
            originator = s.originator_id
            if originator is not last:  # an aggregate's events come together
                last = originator
                text = originator.hex if isinstance(originator, UUID) else originator
                raw = uuid_bytes(originator)
            rows.append((text, s.originator_version, s.topic, blob(s.state)))
            originators.append(raw)
        if not rows:
            return [], []
        if len(rows) == 1:  # most writes: the rowid is the cursor's, no query for it
            c.execute(self.insert_events_statement, rows[0])
            last_id = c.lastrowid
        else:
            c.executemany(self.insert_events_statement, rows)
            c.execute("SELECT last_insert_rowid()")
            last_id = c.fetchone()[0]
        return list(range(last_id - len(rows) + 1, last_id + 1)), originators

    @contextmanager
    def _locked(self) -> Iterator[SQLiteChainTables]:
        with self.datastore.transaction(commit=True) as c:
            # A write first, so the transaction holds the write lock from here on
            # (BEGIN is deferred) and no other process extends the chain meanwhile.
            c.execute(f"DELETE FROM {self.hashes_table_name} WHERE 0")
            yield SQLiteChainTables(self, c)

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return PollingSubscription(self, gt=gt, topics=topics)

    def registered(self, originator_ids: Sequence[UUID]) -> set[UUID]:
        """Those of the aggregates with a first event stored (a query per 500 ids)."""
        found: set[UUID] = set()
        with self.datastore.transaction(commit=False) as c:
            for start in range(0, len(originator_ids), 500):
                part = originator_ids[start : start + 500]
                marks = ",".join("?" * len(part))
                c.execute(
                    f"SELECT originator_id FROM {self.events_table_name} "
                    f"WHERE originator_version=1 AND originator_id IN ({marks})",
                    [i.hex for i in part],
                )
                found.update(UUID(row[0]) for row in c.fetchall())
        return found

    def originators_after(self, after: int, limit: int) -> list[tuple[int, UUID]]:
        """The position and aggregate of the first `limit` events after `after` (no state)."""
        statement = (
            f"SELECT rowid, originator_id FROM {self.events_table_name} WHERE rowid > ? "
            "ORDER BY rowid LIMIT ?"
        )
        rows = self.datastore.pool.read_alone(statement, (after, limit))
        if rows is None:
            with self.datastore.transaction(commit=False) as c:
                c.execute(statement, (after, limit))
                rows = c.fetchall()
        return [(row[0], UUID(row[1])) for row in rows]

    def event_positions(
        self, originator_id: UUID, versions: tuple[int, int] = ALL_VERSIONS
    ) -> dict[int, int]:
        """Global position of each stored event of one aggregate, by version (those after
        `versions[0]` up to `versions[1]`)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT originator_version, rowid FROM {self.events_table_name} "
                "WHERE originator_id=? AND originator_version>? AND originator_version<=?",
                (originator_id.hex, *versions),
            )
            return {row[0]: row[1] for row in c.fetchall()}

    def heads_not_shown_by(
        self, originator_id: UUID, bound: bytes, versions: tuple[int, int], limit: int
    ) -> list[tuple[int, bytes]]:
        """The first `limit` events of one aggregate (after version `versions[0]`, up to
        `versions[1]`) whose state's head does not show them recorded by `bound`
        (`recorded_order.SHOWN_BY`), in version order: each version and head."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT originator_version, substr(state, 1, {STAMP_BYTES}) "
                f"FROM {self.events_table_name} WHERE originator_id=? "
                f"AND originator_version>? AND originator_version<=? AND NOT {SHOWN_BY} "
                "ORDER BY originator_version LIMIT ?",
                (originator_id.hex, *versions, *shown_by_params(bound), limit),
            )
            return [(row[0], row[1]) for row in c.fetchall()]

    @contextmanager
    def _tables(self) -> Iterator[SQLiteChainTables]:
        with self.datastore.transaction(commit=False) as c:
            yield SQLiteChainTables(self, c)


class LedgerSQLiteFactory(SQLiteFactory):
    application_recorder_class = LedgerSQLiteApplicationRecorder

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        library_pool = self.datastore.pool
        self.datastore.pool = LedgerSQLiteConnectionPool(
            db_name=library_pool.db_name,
            lock_timeout=library_pool.lock_timeout,
            pool_timeout=library_pool.pool_timeout,
            max_age=library_pool.max_age,
            pre_ping=library_pool.pre_ping,
        )
        library_pool.close()
