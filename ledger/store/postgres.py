"""PostgreSQL: the library's recorders, with a look-up of events' global positions and
the hash chain kept beside the events."""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

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
from psycopg.errors import UniqueViolation
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Composed, Identifier
from psycopg_pool import ConnectionPool

from ledger.integrity.chain import (
    BACKFILL_WINDOW,
    GENESIS,
    ChainEvent,
    chain_hashes,
    uuid_bytes,
)
from ledger.store.pulls import SpacedPulls

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


@contextmanager
def schema_lock(datastore: PostgresDatastore) -> Iterator[None]:
    """Processes starting together on a new database (`serve --workers N`, `project`) each
    create their tables, and CREATE TABLE IF NOT EXISTS is not atomic across sessions: the
    loser failed on a duplicate pg_type row. One at a time, each finds the others' tables."""
    with datastore.get_connection() as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))


def fewer_attempts(method: Any) -> Any:
    """The library's method with its own retry replaced by a shorter one."""
    return retry((InterfaceError, OperationalError), max_attempts=STORE_ATTEMPTS, wait=0.2)(
        method.__wrapped__
    )


class LedgerPostgresApplicationRecorder(PostgresApplicationRecorder):
    """Each insert hashes its events in the transaction that inserts them. The library
    locks the events table in EXCLUSIVE mode before inserting, so inserts are serialised
    and the head of the chain cannot move while a transaction extends it."""

    hashes_table_name = "event_hashes"

    insert_events = fewer_attempts(PostgresApplicationRecorder.insert_events)
    select_events = fewer_attempts(PostgresAggregateRecorder.select_events)
    select_notifications = fewer_attempts(PostgresApplicationRecorder.select_notifications)
    max_notification_id = fewer_attempts(PostgresApplicationRecorder.max_notification_id)

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        if datastore.enable_db_functions:
            # The stored-function insert path offers no hook inside its transaction.
            raise ProgrammingError("the ledger's hash chain needs POSTGRES_ENABLE_DB_FUNCTIONS off")
        super().__init__(datastore, events_table_name=events_table_name)
        self.sql_create_statements.append(
            self._sql(
                "CREATE TABLE IF NOT EXISTS {hashes} "
                "(position bigint PRIMARY KEY, hash bytea NOT NULL)"
            )
        )

    def _sql(self, text: str) -> Composed:
        return SQL(text).format(
            events=Identifier(self.datastore.schema, self.events_table_name),
            hashes=Identifier(self.datastore.schema, self.hashes_table_name),
        )

    def create_table(self) -> None:
        with schema_lock(self.datastore):
            super().create_table()
            self._backfill_hashes()

    def subscribe(
        self, gt: int | None = None, topics: Sequence[str] = ()
    ) -> Subscription[ApplicationRecorder]:
        return SpacedPostgresSubscription(recorder=self, gt=gt, topics=topics)

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        if ids:
            # Hash the rows as stored under the ids the sequence really assigned, rather
            # than trusting RETURNING to keep the order of the input.
            events = self._select_chain_events(
                curs.connection, "notification_id = ANY(%s)", (list(ids),)
            )
            with curs.connection.cursor() as c:
                self._record_hashes(c, events)
        return ids

    def _record_hashes(self, c: Cursor[DictRow], events: Sequence[ChainEvent]) -> None:
        c.execute(
            self._sql(
                "SELECT hash FROM {hashes} WHERE position < %s ORDER BY position DESC LIMIT 1"
            ),
            (events[0].position,),
        )
        row = c.fetchone()
        hashes = chain_hashes(bytes(row["hash"]) if row else GENESIS, events)
        try:
            # Inside the library's pipeline, a nested block syncs on exit, so a conflict
            # is raised here rather than at commit.
            with c.connection.pipeline():
                c.execute(
                    self._sql(
                        "INSERT INTO {hashes} (position, hash) "
                        "SELECT * FROM unnest(%s::bigint[], %s::bytea[])"
                    ),
                    ([e.position for e in events], hashes),
                )
        except UniqueViolation:
            raise DatabaseError(
                f"position {events[0].position} is already in the hash chain; "
                "the store was tampered with (run `ledger verify`)"
            ) from None

    def _backfill_hashes(self) -> None:
        """Hash a log written before the chain existed: only when no hash exists at all,
        so an event slipped in later never gets silently blessed."""
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._sql("SELECT 1 FROM {hashes} LIMIT 1"))
            if c.fetchone() is not None:
                return
            c.execute(self._sql("SELECT 1 FROM {events} LIMIT 1"))
            if c.fetchone() is None:
                return
            for statement in self.lock_table_statements:
                c.execute(statement)
            c.execute(self._sql("SELECT 1 FROM {hashes} LIMIT 1"))
            if c.fetchone() is not None:
                return  # another process backfilled while we waited for the lock
            c.execute(self.max_notification_id_statement)
            upto = c.fetchone()["max"] or 0  # type: ignore[index]
            for after in range(0, upto, BACKFILL_WINDOW):
                events = self._select_chain_events(
                    c.connection,
                    "notification_id > %s AND notification_id <= %s",
                    (after, min(upto, after + BACKFILL_WINDOW)),
                )
                if events:
                    self._record_hashes(c, events)

    def event_positions(self, originator_id: UUID) -> dict[int, int]:
        """Global position of each stored event of one aggregate, by version."""
        statement = self._sql(
            "SELECT originator_version, notification_id FROM {events} WHERE originator_id = %s"
        )
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (originator_id,))
            return {row["originator_version"]: row["notification_id"] for row in curs.fetchall()}

    # ---- the hash chain, read a page at a time (see ChainRecorder) ----------------

    def _select_chain_events(
        self, conn: Connection[Any], where: str, params: Sequence[Any]
    ) -> list[ChainEvent]:
        # Tuple rows: verification reads every event, and dict rows cost a fifth of it.
        with conn.cursor(row_factory=tuple_row) as c:
            c.execute(
                self._sql(
                    "SELECT notification_id, originator_id, originator_version, topic, state "
                    "FROM {events} WHERE " + where + " ORDER BY notification_id"
                ),
                params,
            )
            return [
                ChainEvent(position, uuid_bytes(originator_id), version, topic, bytes(state))
                for position, originator_id, version, topic, state in c.fetchall()
            ]

    def chain_head(self) -> tuple[int, bytes] | None:
        with self.datastore.get_connection() as conn, conn.cursor() as c:
            c.execute(
                self._sql("SELECT position, hash FROM {hashes} ORDER BY position DESC LIMIT 1")
            )
            row = c.fetchone()
            return (row["position"], bytes(row["hash"])) if row else None

    def max_event_position(self) -> int:
        return self.max_notification_id() or 0

    def chain_events(self, after: int, upto: int) -> list[ChainEvent]:
        with self.datastore.get_connection() as conn:
            return self._select_chain_events(
                conn, "notification_id > %s AND notification_id <= %s", (after, upto)
            )

    def chain_hashes(self, after: int, upto: int) -> list[tuple[int, bytes]]:
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as c:
            c.execute(
                self._sql(
                    "SELECT position, hash FROM {hashes} WHERE position > %s AND position <= %s "
                    "ORDER BY position"
                ),
                (after, upto),
            )
            return [(position, bytes(link)) for position, link in c.fetchall()]

    def hashes_at(self, positions: Iterable[int]) -> dict[int, bytes]:
        with self.datastore.get_connection() as conn, conn.cursor() as c:
            c.execute(
                self._sql("SELECT position, hash FROM {hashes} WHERE position = ANY(%s)"),
                (list(positions),),
            )
            return {row["position"]: bytes(row["hash"]) for row in c.fetchall()}


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
