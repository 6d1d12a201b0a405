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
it would the row's own parameter; a value whose text would read back otherwise sends the
rows a statement each (`_spellings`). The arrays go in binary (psycopg dumps a text array
of 10,000 elements in ~1 ms so, ~4 in text). Rows are inserted in their order, so of the
rows with one key under DO NOTHING the first is kept, as one statement a row kept it. DO
UPDATE may not touch a row twice in one statement: the rows are cut where a key of its
conflict target comes again, and the pieces sent in order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

# Rows of one statement sent at once, at most: the arrays of a larger batch are cut.
ROWS_PER_STATEMENT = 10_000

_INSERT = re.compile(r"INSERT INTO (\w+) \(([\w, ]+)\) VALUES \((\?(?:, \?)*)\)(.*)", re.DOTALL)
_UPDATE_TARGET = re.compile(r"ON CONFLICT \(([\w, ]+)\) DO UPDATE")
# Without the type modifier: a cast to `character varying(3)` would cut a longer text where
# the column's own check refuses it.
_TYPES = (
    "SELECT attname AS name, format_type(atttypid, NULL) AS type FROM pg_attribute "
    "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped"
)
_INTEGERS = {"bigint", "integer", "smallint"}
_FLOATS = {"double precision", "real"}


def _spellings(pg_type: str) -> dict[type, Callable[[Any], str]]:
    """How a value of each Python type other than str is spelled for a column of `pg_type`,
    where the server reads the text as it would the value sent alone; a type missing
    (a float for a text column: Python spells 1e15 `1000000000000000.0`, PostgreSQL `1e+15`;
    an int for a boolean, which alone is refused) sends the rows one statement each."""
    spelled: dict[type, Callable[[Any], str]] = {}
    if pg_type in _INTEGERS | _FLOATS | {"numeric", "text"}:
        spelled[int] = str
    if pg_type in _FLOATS:
        spelled[float] = repr
    if pg_type in {"boolean", "text"}:
        spelled[bool] = lambda value: "true" if value else "false"
    return spelled


@dataclass(frozen=True)
class RowsInsert:
    """One INSERT's rows as arrays: its statement, how each column's values are spelled,
    and the columns of DO UPDATE's key."""

    sql: str
    spellings: tuple[dict[type, Callable[[Any], str]], ...]
    key: tuple[int, ...] | None

    def send(self, c: Any, rows: Sequence[tuple[Any, ...]]) -> bool:
        """All `rows`, in order, a statement a piece; False (and nothing sent) if a value
        is not one this column's arrays can carry as it would go alone."""
        try:
            columns = [
                _texts(values, spelled)
                for values, spelled in zip(zip(*rows, strict=True), self.spellings, strict=True)
            ]
        except TypeError:
            return False
        for start, end in self._pieces(columns, len(rows)):
            c.execute(self.sql, [column[start:end] for column in columns])
        return True

    def _pieces(self, columns: list[list[str | None]], count: int) -> Iterator[tuple[int, int]]:
        """Where the rows are cut: at most ROWS_PER_STATEMENT, and where DO UPDATE's key
        comes again (compared as sent: 7 and "7" are one key to the server)."""
        keys = list(zip(*(columns[i] for i in self.key), strict=True)) if self.key else None
        start, seen = 0, set()
        for index in range(count):
            key = keys[index] if keys else None
            if index - start == ROWS_PER_STATEMENT or (key is not None and key in seen):
                yield start, index
                start, seen = index, set()
            if key is not None:
                seen.add(key)
        if start < count:
            yield start, count


def rows_insert(c: Any, statement: str) -> RowsInsert | None:
    """`statement` (`?` placeholders, one per column) rewritten to take arrays, the column
    types read from the database through cursor `c`; None if it is not a plain
    `INSERT INTO t (columns) VALUES (?, ...) [ON CONFLICT ...]` of a table it knows, or
    its DO UPDATE's conflict target is not a list of its columns."""
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
    if "DO UPDATE" in tail:
        target = _UPDATE_TARGET.search(tail)
        targets = [name.strip() for name in target.group(1).split(",")] if target else []
        if not targets or not set(targets) <= set(columns):
            return None
        key = tuple(columns.index(name) for name in targets)
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {selected} "
        f"FROM unnest({arrays}) AS r({', '.join(aliases)}){tail}"
    )
    return RowsInsert(sql, tuple(_spellings(types[name]) for name in columns), key)


def _texts(values: Sequence[Any], spelled: dict[type, Callable[[Any], str]]) -> list[str | None]:
    """A column's values as text (TypeError if one cannot go so)."""
    texts: list[str | None] = []
    for value in values:
        if value is None or type(value) is str:
            texts.append(value)
        else:
            spell = spelled.get(type(value))
            if spell is None:
                raise TypeError(type(value).__name__)
            texts.append(spell(value))
    return texts
