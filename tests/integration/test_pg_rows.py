"""A view batch's waiting rows sent to PostgreSQL as one statement of arrays leave the table
as one statement a row (psycopg's `executemany`) leaves it: the same rows, the first of a
key kept under DO NOTHING, the last under DO UPDATE, every column type of the views."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from ledger.projections.kit import pg_rows
from ledger.projections.kit.pg_rows import rows_insert

TABLE = (
    "CREATE TABLE {t} (k TEXT, n BIGINT, x DOUBLE PRECISION, j JSON, s TEXT, i INT, "
    "PRIMARY KEY (k, n))"
)
COLUMNS = "(k, n, x, j, s, i) VALUES (?, ?, ?, ?, ?, ?)"
NOTHING = f"INSERT INTO {{t}} {COLUMNS} ON CONFLICT DO NOTHING"
UPDATE = (
    f"INSERT INTO {{t}} {COLUMNS} ON CONFLICT (k, n) DO UPDATE SET x = excluded.x, "
    "s = {t}.s || excluded.s WHERE excluded.i > {t}.i"
)
PLAIN = f"INSERT INTO {{t}} {COLUMNS}"
ROWS: list[tuple[Any, ...]] = [
    ("a", 1, 1.5, '{"k": [1, 2]}', "first", 1),
    ("a", 1, 2.5, None, "second", 2),  # the same key again
    ("a", 2, 3, "[]", 7, None),  # an int for a float and for a text column
    ("b", 9_007_199_254_740_993, float("inf"), None, "", 0),
    ("b", -1, -0.1, "null", "é 中文 'quoted' \\ {a,b}", -(2**31)),
    ("c", 0, None, None, True, 2**31 - 1),  # a bool for a text column, as psycopg spells it
    ("a", 1, 4.5, None, "third", 1),  # a later row of the key that loses its WHERE
]


@pytest.fixture
def cursor(postgres_url: str) -> Iterator[Any]:
    with psycopg.connect(postgres_url, row_factory=dict_row) as conn, conn.cursor() as c:
        for t in ("arrays", "each"):
            c.execute(TABLE.format(t=t))
        yield c


def _both(c: Any, statement: str, rows: list[tuple[Any, ...]]) -> tuple[list[Any], list[Any]]:
    """The table after the rows sent as arrays, and after one statement a row."""
    plan = rows_insert(c, statement.format(t="arrays"))
    assert plan is not None
    assert plan.send(c, rows)
    c.executemany(statement.format(t="each").replace("?", "%s"), rows)
    return [_table(c, t) for t in ("arrays", "each")]  # type: ignore[return-value]


def _table(c: Any, t: str) -> list[dict[str, Any]]:
    c.execute(f"SELECT k, n, x, j::text AS j, s, i FROM {t} ORDER BY k, n")
    return c.fetchall()  # type: ignore[no-any-return]


def test_do_nothing_keeps_the_first_row_of_a_key(cursor: Any) -> None:
    arrays, each = _both(cursor, NOTHING, ROWS)
    assert arrays == each
    assert [r["s"] for r in arrays if (r["k"], r["n"]) == ("a", 1)] == ["first"]
    assert len(arrays) == 5


def test_do_update_applies_a_repeated_key_in_order(cursor: Any) -> None:
    # One statement may not update a row twice: the rows are cut where a key comes again.
    arrays, each = _both(cursor, UPDATE, ROWS)
    assert arrays == each
    assert [r["s"] for r in arrays if (r["k"], r["n"]) == ("a", 1)] == ["firstsecond"]


def test_plain_insert_and_every_value_as_the_row_would_store_it(cursor: Any) -> None:
    rows = [r for r in ROWS if (r[0], r[1]) != ("a", 1)]
    arrays, each = _both(cursor, PLAIN, rows)
    assert arrays == each
    by_key = {(r["k"], r["n"]): r for r in arrays}
    assert by_key[("a", 2)]["s"] == "7"
    assert by_key[("b", 9_007_199_254_740_993)]["x"] == float("inf")
    assert by_key[("c", 0)]["s"] == "true"
    assert by_key[("b", -1)]["s"] == "é 中文 'quoted' \\ {a,b}"


def test_many_rows_go_in_pieces_of_a_statement_each(
    cursor: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_rows, "ROWS_PER_STATEMENT", 4)
    rows = [("k", n, n / 2, None, f"s{n}", n) for n in range(10)]
    sent: list[str] = []
    plan = rows_insert(cursor, NOTHING.format(t="arrays"))
    assert plan is not None

    class Counting:
        def execute(self, sql: str, params: Any) -> None:
            sent.append(sql)
            cursor.execute(sql, params)

    assert plan.send(Counting(), rows)
    assert len(sent) == 3
    assert [r["n"] for r in _table(cursor, "arrays")] == list(range(10))


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO arrays (k, n) VALUES (?, ? + 1)",  # an expression, not a parameter
        "INSERT INTO arrays (k, n) SELECT ?, ?",
        "INSERT INTO missing (k, n) VALUES (?, ?)",
        "INSERT INTO arrays (k, nope) VALUES (?, ?)",
        "INSERT INTO arrays (k, n) VALUES (?, ?) ON CONFLICT (k, nope) DO UPDATE SET n = 1",
        # DO UPDATE's key not a list of columns: the rows could not be cut where it repeats.
        "INSERT INTO arrays (k, n) VALUES (?, ?) ON CONFLICT ON CONSTRAINT arrays_pkey "
        "DO UPDATE SET n = 1",
        "INSERT INTO arrays (k, n) VALUES (?, ?) ON CONFLICT (k, n) WHERE n > 0 "
        "DO UPDATE SET n = 1",
    ],
)
def test_a_statement_it_cannot_rewrite_is_left_to_executemany(cursor: Any, statement: str) -> None:
    assert rows_insert(cursor, statement) is None


def test_a_value_not_sent_as_text_leaves_the_rows_to_executemany(cursor: Any) -> None:
    plan = rows_insert(cursor, PLAIN.format(t="arrays"))
    assert plan is not None
    assert not plan.send(
        cursor, [("a", 1, 1.0, None, "s", 1), ("b", 2, Decimal("2.5"), None, "s", 2)]
    )
    assert _table(cursor, "arrays") == []  # nothing half sent


def test_a_key_the_server_reads_as_one_is_cut_as_one(cursor: Any) -> None:
    # 7 and "7" are one bigint: two rows of one DO UPDATE statement would be refused.
    rows = [("z", 7, 1.0, None, "a", 1), ("z", "7", 2.0, None, "b", 2)]
    arrays, each = _both(cursor, UPDATE, rows)
    assert arrays == each
    assert [r["s"] for r in arrays] == ["ab"]


@pytest.mark.parametrize(
    ("value", "column"),
    [
        (1e15, "s"),  # Python spells it 1000000000000000.0, PostgreSQL 1e+15
        (2.0, "n"),  # a float for a bigint: the row alone is stored, its text refused
        (True, "n"),  # a bool for a bigint: the row alone is refused
    ],
)
def test_a_value_spelled_otherwise_alone_goes_a_row_a_statement(
    cursor: Any, value: Any, column: str
) -> None:
    plan = rows_insert(cursor, PLAIN.format(t="arrays"))
    assert plan is not None
    row = {"k": "a", "n": 1, "x": 1.0, "j": None, "s": "s", "i": 1, column: value}
    assert not plan.send(cursor, [tuple(row.values())])
    assert _table(cursor, "arrays") == []


def test_a_text_too_long_for_its_column_is_refused_as_alone(cursor: Any) -> None:
    cursor.execute("CREATE TABLE short (k VARCHAR(3) PRIMARY KEY)")
    plan = rows_insert(cursor, "INSERT INTO short (k) VALUES (?)")
    assert plan is not None
    with pytest.raises(psycopg.errors.StringDataRightTruncation):
        plan.send(cursor, [("abcdef",)])
