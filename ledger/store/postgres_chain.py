"""The chain and tree tables of a PostgreSQL store (`ledger.integrity.append.ChainTables`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import DatabaseError
from psycopg import Cursor
from psycopg.errors import UniqueViolation

from ledger.integrity.append import Heads
from ledger.integrity.chain import ChainEvent, uuid_bytes
from ledger.integrity.merkle import Block

if TYPE_CHECKING:
    from ledger.store.postgres import LedgerPostgresApplicationRecorder


class PostgresChainTables:
    """The chain and tree tables in one PostgreSQL transaction (`ChainTables`)."""

    def __init__(self, recorder: LedgerPostgresApplicationRecorder, c: Cursor[Any]) -> None:
        self.c = c
        self._sql = recorder._sql
        self.frontiers = recorder.frontiers

    def heads(self, before: int) -> Heads:
        # One statement of five index seeks: a write reads all it needs here.
        last_link = "FROM {hashes} WHERE position < %(before)s ORDER BY position DESC LIMIT 1"
        last_leaf = "FROM {leaves} ORDER BY position DESC LIMIT 1"
        self.c.execute(
            self._sql(
                f"SELECT (SELECT position {last_link}), (SELECT hash {last_link}), "
                f"(SELECT position {last_leaf}), (SELECT leaf_index {last_leaf}), "
                "(SELECT hash FROM {nodes} WHERE level = 0 "
                f"AND idx = (SELECT leaf_index {last_leaf}))"
            ),
            {"before": before},
        )
        return Heads.from_row(self.c.fetchone())  # type: ignore[arg-type]

    def select_events(self, where: str, params: Sequence[Any]) -> list[ChainEvent]:
        # Tuple rows: verification reads every event, and dict rows cost a fifth of it.
        self.c.execute(
            self._sql(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                "FROM {events} WHERE " + where + " ORDER BY notification_id"
            ),
            params,
        )
        return [
            ChainEvent(position, uuid_bytes(originator_id), version, topic, bytes(state))
            for position, originator_id, version, topic, state in self.c.fetchall()
        ]

    def select_at(self, table: str, column: str, positions: Iterable[int]) -> list[Any]:
        self.c.execute(
            self._sql(f"SELECT position, {column} FROM {table} WHERE position = ANY(%b)"),
            (list(positions),),
        )
        return self.c.fetchall()

    def hashes_at(self, positions: Iterable[int]) -> dict[int, bytes]:
        return {p: bytes(h) for p, h in self.select_at("{hashes}", "hash", positions)}

    def leaf_indexes(self, positions: Iterable[int]) -> dict[int, int]:
        return dict(self.select_at("{leaves}", "leaf_index", positions))

    def last_link(self, before: int | None) -> tuple[int, bytes] | None:
        below = "" if before is None else "WHERE position < %s "
        self.c.execute(
            self._sql(
                "SELECT position, hash FROM {hashes} " + below + "ORDER BY position DESC LIMIT 1"
            ),
            () if before is None else (before,),
        )
        row = self.c.fetchone()
        return (row[0], bytes(row[1])) if row else None

    def has_event_before(self, position: int) -> bool:
        self.c.execute(
            self._sql("SELECT 1 FROM {events} WHERE notification_id < %s LIMIT 1"), (position,)
        )
        return self.c.fetchone() is not None

    def max_event_position(self) -> int:
        self.c.execute(self._sql("SELECT MAX(notification_id) FROM {events}"))
        row = self.c.fetchone()
        return (row[0] if row else None) or 0

    def events(self, after: int, upto: int) -> list[ChainEvent]:
        return self.select_events("notification_id > %s AND notification_id <= %s", (after, upto))

    def links(self, after: int, upto: int) -> list[tuple[int, bytes]]:
        self.c.execute(
            self._sql(
                "SELECT position, hash FROM {hashes} WHERE position > %s AND position <= %s "
                "ORDER BY position"
            ),
            (after, upto),
        )
        return [(position, bytes(link)) for position, link in self.c.fetchall()]

    def insert_links(self, rows: Sequence[tuple[int, bytes]]) -> None:
        self._insert(
            [
                (
                    "INSERT INTO {hashes} (position, hash) "
                    "SELECT * FROM unnest(%b::bigint[], %b::bytea[])",
                    rows,
                )
            ],
            f"position {rows[0][0]} is already in the hash chain",
        )

    def last_leaf(self) -> tuple[int, int] | None:
        self.c.execute(
            self._sql("SELECT position, leaf_index FROM {leaves} ORDER BY position DESC LIMIT 1")
        )
        row = self.c.fetchone()
        return (row[0], row[1]) if row else None

    def blocks(self, wanted: Iterable[Block]) -> dict[Block, bytes]:
        keys = list(wanted)
        if not keys:
            return {}
        self.c.execute(
            self._sql(
                "SELECT level, idx, hash FROM {nodes} WHERE (level, idx) IN "
                "(SELECT * FROM unnest(%b::smallint[], %b::bigint[]))"
            ),
            ([level for level, _ in keys], [index for _, index in keys]),
        )
        return {(level, index): bytes(block) for level, index, block in self.c.fetchall()}

    def insert_tree(
        self, leaves: Sequence[tuple[int, int]], nodes: Sequence[tuple[int, int, bytes]]
    ) -> None:
        self._insert(
            [
                (
                    "INSERT INTO {leaves} (position, leaf_index) "
                    "SELECT * FROM unnest(%b::bigint[], %b::bigint[])",
                    leaves,
                ),
                (
                    "INSERT INTO {nodes} (level, idx, hash) "
                    "SELECT * FROM unnest(%b::smallint[], %b::bigint[], %b::bytea[])",
                    nodes,
                ),
            ],
            f"position {leaves[0][0]} is already in the Merkle tree",
        )

    def _insert(
        self, statements: list[tuple[str, Sequence[tuple[Any, ...]]]], conflict: str
    ) -> None:
        """Insert rows column-wise (one array per column, sent binary: `%b`; as text,
        psycopg escaped every element in Python), one statement per table."""
        try:
            # Inside the library's pipeline, a nested block syncs on exit, so a conflict
            # is raised here rather than at commit.
            with self.c.connection.pipeline():
                for statement, rows in statements:
                    if rows:
                        self.c.execute(
                            self._sql(statement), [list(c) for c in zip(*rows, strict=True)]
                        )
        except UniqueViolation:
            raise DatabaseError(
                f"{conflict}; the store was tampered with (run `ledger verify`)"
            ) from None
