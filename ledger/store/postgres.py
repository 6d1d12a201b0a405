"""PostgreSQL: the library's recorders, with a look-up of events' global positions and
the hash chain kept beside the events."""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import (
    ApplicationRecorder,
    DatabaseError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
    StoredEvent,
    Subscription,
)
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
    PostgresSubscription,
)
from eventsourcing.utils import Environment, EnvType, retry
from psycopg import Connection, Cursor
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Composed, Identifier
from psycopg_pool import ConnectionPool

from ledger.integrity.append import (
    FrontierCache,
    UnlinkedLog,
    record,
)
from ledger.integrity.chain import ChainEvent, uuid_bytes
from ledger.store.aggregate_rows import StoredRow
from ledger.store.chain_recording import ALL_VERSIONS, ChainRecording
from ledger.store.postgres_chain import PostgresChainTables
from ledger.store.pulls import SpacedPulls
from ledger.store.recorded_order import (
    SHOWN_BY,
    STAMP_BYTES,
    check,
    recorded_in,
    shown_by_params,
)

# The library tries a statement 10 times, each attempt waiting up to POSTGRES_CONNECT_TIMEOUT
# for a connection, so with the database down a request hung for about a minute. Two
# attempts ride over a connection a restart dropped; past that the API answers 503 at once.
STORE_ATTEMPTS = 2
# psycopg_pool backs its reconnection attempts off exponentially for this long (5 minutes by
# default), so after a long outage it waited about as long again before trying. Giving up
# sooner lets the next request start a fresh attempt.
RECONNECT_TIMEOUT = 5.0
# POSTGRES_PRE_PING pings a connection before every checkout, a round trip per statement
# (12.8% of a worker's samples under write load). A connection last handed out less than
# this long ago goes out unpinged: should the database have restarted in that moment, the
# statement fails on it and the store's second attempt takes a fresh connection.
PING_IDLE_AFTER = 1.0


# One advisory lock key for every process creating the ledger's tables in a database.
SCHEMA_LOCK = 0x1ED6E7
# A process creating its tables (at its start) waits longer for its first connection than a
# request does (STORE_ATTEMPTS): each attempt waits up to POSTGRES_CONNECT_TIMEOUT (2 s), and
# a server under load can take longer than one to hand out a new session; a starting process
# that gave up after one failed as a whole (seen once in a test run on a loaded machine).
SCHEMA_ATTEMPTS = 5


@contextmanager
def schema_lock(datastore: PostgresDatastore) -> Iterator[None]:
    """Processes starting together on a new database (`serve --workers N`, `project`) each
    create their tables, and CREATE TABLE IF NOT EXISTS is not atomic across sessions: the
    loser failed on a duplicate pg_type row. One at a time, each finds the others' tables."""
    with ExitStack() as stack:
        conn = _first_connection(stack, datastore)
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))


@retry(OperationalError, max_attempts=SCHEMA_ATTEMPTS, wait=0.2)
def _first_connection(stack: ExitStack, datastore: PostgresDatastore) -> Connection[DictRow]:
    return stack.enter_context(datastore.get_connection())


def fewer_attempts(method: Any) -> Any:
    """The library's method with its own retry replaced by a shorter one."""
    return retry((InterfaceError, OperationalError), max_attempts=STORE_ATTEMPTS, wait=0.2)(
        method.__wrapped__
    )


class RolledBack(BaseException):
    """Carries an error out of the library's insert through its transaction. The library
    (9.5.6) catches an `Exception` raised after the insert, lets its transaction block
    commit, and raises it afterwards: a write refused there would be stored without its
    link. A BaseException passes its `except Exception`, so the transaction rolls back."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class LedgerPostgresApplicationRecorder(ChainRecording, PostgresApplicationRecorder):
    """Each insert links its events and appends them to the Merkle tree in the
    transaction that inserts them. The library locks the events table in EXCLUSIVE mode
    before inserting, so inserts are serialised (across processes too) and the heads
    cannot move while a transaction extends them. Starting never writes to them."""

    hashes_table_name = "event_hashes"
    leaves_table_name = "merkle_leaves"
    nodes_table_name = "merkle_nodes"

    _insert_events_retrying = fewer_attempts(PostgresApplicationRecorder.insert_events)
    select_events = fewer_attempts(PostgresAggregateRecorder.select_events)
    select_notifications = fewer_attempts(PostgresApplicationRecorder.select_notifications)
    max_notification_id = fewer_attempts(PostgresApplicationRecorder.max_notification_id)

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        if datastore.enable_db_functions:
            # The stored-function insert path offers no hook inside its transaction.
            raise ProgrammingError("the ledger's hash chain needs POSTGRES_ENABLE_DB_FUNCTIONS off")
        super().__init__(datastore, events_table_name=events_table_name)
        self.frontiers = FrontierCache()
        self.sql_create_statements.extend(
            [
                self._sql(
                    "CREATE TABLE IF NOT EXISTS {hashes} "
                    "(position bigint PRIMARY KEY, hash bytea NOT NULL)"
                ),
                self._sql(
                    "CREATE TABLE IF NOT EXISTS {leaves} "
                    "(position bigint PRIMARY KEY, leaf_index bigint NOT NULL)"
                ),
                self._sql(
                    "CREATE TABLE IF NOT EXISTS {nodes} (level smallint, idx bigint, "
                    "hash bytea NOT NULL, PRIMARY KEY (level, idx))"
                ),
            ]
        )
        self._insert_columns = SQL(
            "INSERT INTO {events} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{id_type}[], %b::bigint[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id"
        ).format(
            events=Identifier(datastore.schema, self.events_table_name),
            id_type=Identifier(datastore.originator_id_type),
        )

    def _sql(self, text: str) -> Composed:
        return SQL(text).format(
            events=Identifier(self.datastore.schema, self.events_table_name),
            hashes=Identifier(self.datastore.schema, self.hashes_table_name),
            leaves=Identifier(self.datastore.schema, self.leaves_table_name),
            nodes=Identifier(self.datastore.schema, self.nodes_table_name),
        )

    def create_table(self) -> None:
        with schema_lock(self.datastore):
            super().create_table()

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return SpacedPostgresSubscription(recorder=self, gt=gt, topics=topics)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        try:
            return self._insert_events_retrying(stored_events, **kwargs)  # type: ignore[no-any-return]
        except RolledBack as rolled:
            raise rolled.error from None

    def _insert_stored_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        """The library's insert (lock, notify, insert returning the ids), its rows sent as
        a binary array per column rather than a text array of composites, which psycopg
        escaped byte by byte in Python: 4.2 s of a 5,000-row import's 11."""
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(
            self._insert_columns,
            [
                [s.originator_id for s in stored_events],
                [s.originator_version for s in stored_events],
                [s.topic for s in stored_events],
                [s.state for s in stored_events],
            ],
        )

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        if ids:
            events = self._placed(curs.connection, ids, stored_events)
            with curs.connection.cursor(row_factory=tuple_row) as c:
                try:
                    self._check_recorded_order(c, ids, stored_events)
                    record(PostgresChainTables(self, c), events)
                except psycopg.Error:
                    raise  # the database aborted the transaction: it cannot commit
                except UnlinkedLog as error:
                    raise RolledBack(DatabaseError(str(error))) from None
                except Exception as error:
                    raise RolledBack(error) from None
        return ids

    def _check_recorded_order(
        self, c: Cursor[Any], ids: Sequence[int], stored_events: Sequence[StoredEvent]
    ) -> None:
        """Under the events table's lock: the insert is refused if stamped before the event
        before it in the log (`recorded_order`)."""
        c.execute(
            self._sql(
                "SELECT substring(state from 1 for %s) FROM {events} WHERE notification_id < %s "
                "ORDER BY notification_id DESC LIMIT 1"
            ),
            (STAMP_BYTES, min(ids)),
        )
        row = c.fetchone()
        check(recorded_in(row[0] if row else None), stored_events)

    @contextmanager
    def _locked(self) -> Iterator[PostgresChainTables]:
        with self.datastore.transaction(commit=True) as curs:
            for statement in self.lock_table_statements:
                curs.execute(statement)
            with curs.connection.cursor(row_factory=tuple_row) as c:
                yield PostgresChainTables(self, c)

    def registered(self, originator_ids: Sequence[UUID]) -> set[UUID]:
        """Those of the aggregates that have a first event in the store, in one query."""
        statement = self._sql(
            "SELECT originator_id FROM {events} "
            "WHERE originator_version = 1 AND originator_id = ANY(%s)"
        )
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (list(originator_ids),))
            return {row["originator_id"] for row in curs.fetchall()}

    def originators_after(self, after: int, limit: int) -> list[tuple[int, UUID]]:
        """The position and aggregate of the first `limit` events after `after` (no state)."""
        statement = self._sql(
            "SELECT notification_id, originator_id FROM {events} WHERE notification_id > %s"
            " ORDER BY notification_id LIMIT %s"
        )
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (after, limit))
            return [(row["notification_id"], row["originator_id"]) for row in curs.fetchall()]

    def event_positions(
        self, originator_id: UUID, versions: tuple[int, int] = ALL_VERSIONS
    ) -> dict[int, int]:
        """Global position of each stored event of one aggregate, by version (those after
        `versions[0]` up to `versions[1]`)."""
        statement = self._sql(
            "SELECT originator_version, notification_id FROM {events} WHERE originator_id = %s"
            " AND originator_version > %s AND originator_version <= %s"
        )
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (originator_id, *versions))
            return {row["originator_version"]: row["notification_id"] for row in curs.fetchall()}

    def aggregate_rows(
        self, originator_id: UUID, versions: tuple[int, int] = ALL_VERSIONS, limit: int = -1
    ) -> list[StoredRow]:
        """As `ledger.store.aggregate_rows` says: the events after version `versions[0]`
        up to `versions[1]`, the first `limit` of them (every one if negative)."""
        statement = self._sql(
            "SELECT originator_version, topic, state, notification_id FROM {events}"
            " WHERE originator_id = %s AND originator_version > %s AND originator_version <= %s"
            " ORDER BY originator_version LIMIT %s"
        )
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as c:
            c.execute(statement, (originator_id, *versions, limit if limit >= 0 else None))
            return c.fetchall()

    def heads_not_shown_by(
        self, originator_id: UUID, bound: bytes, versions: tuple[int, int], limit: int
    ) -> list[tuple[int, bytes]]:
        """The first `limit` events of one aggregate (after version `versions[0]`, up to
        `versions[1]`) whose state's head does not show them recorded by `bound`
        (`recorded_order.SHOWN_BY`), in version order: each version and head."""
        statement = self._sql(
            "SELECT originator_version, substring(state from 1 for %s) AS head FROM {events}"
            " WHERE originator_id = %s AND originator_version > %s AND originator_version <= %s"
            f" AND NOT {SHOWN_BY.replace('?', '%s')} ORDER BY originator_version LIMIT %s"
        )
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            params = (STAMP_BYTES, originator_id, *versions, *shown_by_params(bound), limit)
            curs.execute(statement, params)
            return [(row["originator_version"], bytes(row["head"])) for row in curs.fetchall()]

    # ---- the hash chain and the tree, read a page at a time (see ChainRecorder) ----

    @contextmanager
    def _tables(self) -> Iterator[PostgresChainTables]:
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as c:
            yield PostgresChainTables(self, c)

    def _placed(
        self, conn: Connection[Any], ids: Sequence[int], stored_events: Sequence[StoredEvent]
    ) -> list[ChainEvent]:
        """The inserted events under the ids the sequence really assigned, read back as
        (id, originator, version) rather than trusting RETURNING to keep the order of
        the input; their topics and states are the bytes just sent, not read back."""
        sent = {(uuid_bytes(s.originator_id), s.originator_version): s for s in stored_events}
        with conn.cursor(row_factory=tuple_row) as c:
            c.execute(
                self._sql(
                    "SELECT notification_id, originator_id, originator_version FROM {events} "
                    "WHERE notification_id = ANY(%b) ORDER BY notification_id"
                ),
                (list(ids),),
            )
            placed = c.fetchall()
        events = []
        for position, originator_id, version in placed:
            key = (uuid_bytes(originator_id), version)
            events.append(ChainEvent(position, *key, sent[key].topic, sent[key].state))
        return events


class LedgerPostgresAggregateRecorder(PostgresAggregateRecorder):
    """The snapshot store, with the same shorter retry as the events."""

    insert_events = fewer_attempts(PostgresAggregateRecorder.insert_events)
    select_events = fewer_attempts(PostgresAggregateRecorder.select_events)

    def create_table(self) -> None:
        with schema_lock(self.datastore):
            super().create_table()


class LedgerPostgresFactory(PostgresFactory):
    aggregate_recorder_class = LedgerPostgresAggregateRecorder
    application_recorder_class = LedgerPostgresApplicationRecorder

    def __init__(self, env: Environment | EnvType | None):
        super().__init__(env)
        pool = self.datastore.pool
        pool.reconnect_timeout = RECONNECT_TIMEOUT
        if self.datastore.pre_ping:
            # psycopg_pool keeps the check it was built with here; the library builds it.
            pool._check = IdlePing(PING_IDLE_AFTER)


class SpacedPostgresSubscription(SpacedPulls, PostgresSubscription):
    """The library's LISTEN/NOTIFY follower, pulling a batch at most once per gap."""


class IdlePing:
    """A pool check that pings only a connection idle for `after` seconds or more."""

    def __init__(self, after: float) -> None:
        self.after = after
        self._handed_out: weakref.WeakKeyDictionary[Connection[Any], float] = (
            weakref.WeakKeyDictionary()
        )

    def __call__(self, conn: Connection[Any]) -> None:
        now = time.monotonic()
        last = self._handed_out.get(conn)
        if last is None or now - last >= self.after:
            ConnectionPool.check_connection(conn)
        self._handed_out[conn] = now
