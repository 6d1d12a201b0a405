"""A catch-up batch's waiting rows of one INSERT, sent to PostgreSQL as one statement.

A batch's plain INSERTs wait and go together (`BatchView._send_waiting_rows`). psycopg's
`executemany` still sends each row as a statement of its own, pipelined: in a catch-up of
the 755,541-event demo that was 8.7 statements an event, ~17 µs of the server's and ~9 µs
of the ledger's CPU each (bench/RESULTS.md section 17). Here a statement's rows go as one
array per column instead:

    INSERT INTO t (a, b) SELECT c0, c1::bigint
    FROM unnest(%b::text[], %b::text[]) AS r(c0, c1) ON CONFLICT ...

Every value travels as text (psycopg types an array by its first element, and a column
may mix ints and floats), cast back to the column's type by the server, which parses it as
it would the row's own parameter; the arrays in binary (psycopg dumps a text array of
10,000 elements in ~1 ms so, ~4 in text). Rows are inserted in their order, so of the rows with one
key under DO NOTHING the first is kept, as one statement a row kept it. DO UPDATE may not
touch a row twice in one statement: the rows are cut where a key of its conflict target
comes again, and the pieces sent in order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

# Rows of one statement sent at once, at most: the arrays of a larger batch are cut.
ROWS_PER_STATEMENT = 10_000

_INSERT = re.compile(r"INSERT INTO (\w+) \(([\w, ]+)\) VALUES \((\?(?:, \?)*)\)(.*)", re.DOTALL)
_UPDATE_TARGET = re.compile(r"ON CONFLICT \(([\w, ]+)\) DO UPDATE")
_TYPES = (
    "SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute "
    "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped"
)


@dataclass(frozen=True)
class RowsInsert:
    """One INSERT's rows as arrays: its statement, and the columns of DO UPDATE's key."""

    sql: str
    key: tuple[int, ...] | None

    def send(self, c: Any, rows: Sequence[tuple[Any, ...]]) -> bool:
        """All `rows`, in order, a statement a piece; False (and nothing sent) if a value
        is of a type PostgreSQL is not sent as text here."""
        try:
            pieces = [
                [[_text(v) for v in column] for column in zip(*piece, strict=True)]
                for piece in self._pieces(rows)
            ]
        except TypeError:
            return False
        for arrays in pieces:
            c.execute(self.sql, arrays)
        return True

    def _pieces(self, rows: Sequence[tuple[Any, ...]]) -> Iterator[Sequence[tuple[Any, ...]]]:
        start, seen = 0, set()
        for index, row in enumerate(rows):
            key = None if self.key is None else tuple(row[i] for i in self.key)
            if index - start == ROWS_PER_STATEMENT or (key is not None and key in seen):
                yield rows[start:index]
                start, seen = index, set()
            if key is not None:
                seen.add(key)
        if start < len(rows):
            yield rows[start:]


def rows_insert(c: Any, statement: str) -> RowsInsert | None:
    """`statement` (`?` placeholders, one per column) rewritten to take arrays, the column
    types read from the database through cursor `c`; None if it is not a plain
    `INSERT INTO t (columns) VALUES (?, ...) [ON CONFLICT ...]` of a table it knows."""
    match = _INSERT.fullmatch(statement)
    if match is None:
        return None
    table, names, marks, tail = match.groups()
    columns = [name.strip() for name in names.split(",")]
    if len(columns) != marks.count("?") or "?" in tail:
        return None
    c.execute(_TYPES, (table,))
    types = {row["name"]: row["type"] for row in c.fetchall()}
    if not set(columns) <= set(types):
        return None
    aliases = [f"c{i}" for i in range(len(columns))]
    selected = ", ".join(
        alias if types[name] == "text" else f"{alias}::{types[name]}"
        for alias, name in zip(aliases, columns, strict=True)
    )
    arrays = ", ".join("%b::text[]" for _ in columns)
    key = None
    if target := _UPDATE_TARGET.search(tail):
        names = [name.strip() for name in target.group(1).split(",")]
        if not set(names) <= set(columns):
            return None
        key = tuple(columns.index(name) for name in names)
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {selected} "
        f"FROM unnest({arrays}) AS r({', '.join(aliases)}){tail}"
    )
    return RowsInsert(sql, key)


def _text(value: Any) -> str | None:
    """A parameter as the text PostgreSQL reads back into the column's type."""
    if value is None or type(value) is str:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    raise TypeError(type(value).__name__)
