"""The chain and tree tables of a SQLite store (`ledger.integrity.append.ChainTables`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import DatabaseError, IntegrityError, StoredEvent
from eventsourcing.sqlite import SQLiteCursor

from ledger.integrity.append import Heads
from ledger.integrity.chain import ChainEvent
from ledger.integrity.merkle import Block

if TYPE_CHECKING:
    from ledger.store.sqlite import LedgerSQLiteApplicationRecorder


# A blob as Python's sqlite3 binds it without asking its adapters first: it looks for an
# adapter of every parameter not a str, int, float or bytearray, and for `bytes` finds
# none only after two failed attribute lookups, each making an AttributeError (0.6 µs a
# parameter, five a bulk-imported event). The same BLOB is stored.
blob = bytearray


def _select_in(c: SQLiteCursor, table: str, column: str, positions: Iterable[int]) -> list[Any]:
    wanted = list(positions)
    found = []
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        c.execute(
            f"SELECT position, {column} FROM {table} "
            f"WHERE position IN ({','.join('?' * len(chunk))})",
            chunk,
        )
        found.extend((row[0], row[1]) for row in c.fetchall())
    return found


class SQLiteChainTables:
    """The chain and tree tables in one SQLite transaction (`ChainTables`)."""

    def __init__(self, recorder: LedgerSQLiteApplicationRecorder, c: SQLiteCursor) -> None:
        self.c = c
        self.events_table = recorder.events_table_name
        self.hashes = recorder.hashes_table_name
        self.leaves = recorder.leaves_table_name
        self.nodes = recorder.nodes_table_name
        self.frontiers = recorder.frontiers

    def heads(self, before: int) -> Heads:
        # One statement of five index seeks: a write reads all it needs here.
        last_leaf = f"SELECT {{}} FROM {self.leaves} ORDER BY position DESC LIMIT 1"
        self.c.execute(
            f"SELECT (SELECT position FROM {self.hashes} WHERE position<?1 "
            "ORDER BY position DESC LIMIT 1), "
            f"(SELECT hash FROM {self.hashes} WHERE position<?1 ORDER BY position DESC LIMIT 1), "
            f"({last_leaf.format('position')}), ({last_leaf.format('leaf_index')}), "
            f"(SELECT hash FROM {self.nodes} WHERE level=0 "
            f"AND idx=({last_leaf.format('leaf_index')}))",
            (before,),
        )
        return Heads.from_row(self.c.fetchone())

    def last_link(self, before: int | None) -> tuple[int, bytes] | None:
        below = "" if before is None else "WHERE position<? "
        self.c.execute(
            f"SELECT position, hash FROM {self.hashes} {below}ORDER BY position DESC LIMIT 1",
            () if before is None else (before,),
        )
        row = self.c.fetchone()
        return (row[0], row[1]) if row else None

    def has_event_before(self, position: int) -> bool:
        self.c.execute(f"SELECT 1 FROM {self.events_table} WHERE rowid<? LIMIT 1", (position,))
        return self.c.fetchone() is not None

    def max_event_position(self) -> int:
        self.c.execute(f"SELECT MAX(rowid) FROM {self.events_table}")
        return self.c.fetchone()[0] or 0

    def events(self, after: int, upto: int) -> list[ChainEvent]:
        self.c.execute(
            "SELECT rowid, originator_id, originator_version, topic, state "
            f"FROM {self.events_table} WHERE rowid>? AND rowid<=? ORDER BY rowid",
            (after, upto),
        )
        fromhex = bytes.fromhex
        rows = self.c.fetchall()
        return [ChainEvent(row[0], fromhex(row[1]), row[2], row[3], row[4]) for row in rows]

    def links(self, after: int, upto: int) -> list[tuple[int, bytes]]:
        self.c.execute(
            f"SELECT position, hash FROM {self.hashes} "
            "WHERE position>? AND position<=? ORDER BY position",
            (after, upto),
        )
        return [(row[0], row[1]) for row in self.c.fetchall()]

    def insert_links(self, rows: Sequence[tuple[int, bytes]]) -> None:
        # SQLite reuses the rowid of a deleted last event: a conflict here means an
        # event was deleted from the store.
        self._insert(
            [(f"INSERT INTO {self.hashes} VALUES (?,?)", [(p, blob(h)) for p, h in rows])],
            "hash chain",
        )

    def hashes_at(self, positions: Iterable[int]) -> dict[int, bytes]:
        return dict(_select_in(self.c, self.hashes, "hash", positions))

    def leaf_indexes(self, positions: Iterable[int]) -> dict[int, int]:
        return dict(_select_in(self.c, self.leaves, "leaf_index", positions))

    def last_leaf(self) -> tuple[int, int] | None:
        self.c.execute(
            f"SELECT position, leaf_index FROM {self.leaves} ORDER BY position DESC LIMIT 1"
        )
        row = self.c.fetchone()
        return (row[0], row[1]) if row else None

    def blocks(self, wanted: Iterable[Block]) -> dict[Block, bytes]:
        keys = list(wanted)
        if not keys:
            return {}
        # ORed equalities, one primary-key search each: SQLite (3.40) scans the whole
        # table for `(level, idx) IN (VALUES ...)`, 10 ms at 40,000 blocks.
        self.c.execute(
            f"SELECT level, idx, hash FROM {self.nodes} WHERE "
            + " OR ".join(["(level=? AND idx=?)"] * len(keys)),
            [n for key in keys for n in key],
        )
        return {(row[0], row[1]): row[2] for row in self.c.fetchall()}

    def insert_tree(
        self, leaves: Sequence[tuple[int, int]], nodes: Sequence[tuple[int, int, bytes]]
    ) -> None:
        self._insert(
            [
                (f"INSERT INTO {self.leaves} VALUES (?,?)", leaves),
                (
                    f"INSERT INTO {self.nodes} VALUES (?,?,?)",
                    [(v, i, blob(h)) for v, i, h in nodes],
                ),
            ],
            "Merkle tree",
        )

    def _insert(self, statements: list[tuple[str, Sequence[tuple[Any, ...]]]], kept: str) -> None:
        try:
            for statement, rows in statements:
                self.c.executemany(statement, rows)
        except sqlite3.IntegrityError:
            raise DatabaseError(
                f"position {statements[0][1][0][0]} is already in the {kept}; "
                "the store was tampered with (run `ledger verify`)"
            ) from None


def chain_events(
    ids: Sequence[int], originators: Sequence[bytes], stored_events: Sequence[StoredEvent]
) -> list[ChainEvent]:
    """The chain's view of an insert's rows: position, originator (16 bytes), version,
    topic, state."""
    return [
        ChainEvent(p, o, s.originator_version, s.topic, s.state)
        for p, o, s in zip(ids, originators, stored_events, strict=True)
    ]


def insert_refusal(error: BaseException) -> BaseException:
    """An insert's own error, as the library's transaction would have raised it."""
    if isinstance(error, sqlite3.IntegrityError):
        refused = IntegrityError(error)
        refused.__cause__ = error
        return refused
    return error
