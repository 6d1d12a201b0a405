import uuid

import psycopg

from support.pg import ThrowawayPostgres


def test_postgres_url_is_a_live_database(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        row = conn.execute("SHOW server_version").fetchone()
    assert row is not None
    assert row[0][:1].isdigit()


def test_each_test_gets_its_own_database(pg_server: ThrowawayPostgres, postgres_url: str) -> None:
    # A test can hold only one postgres_url, so make the second one the way the fixture does.
    other = pg_server.create_database(f"t_{uuid.uuid4().hex[:12]}")
    assert other != postgres_url
    with psycopg.connect(postgres_url) as a, psycopg.connect(other) as b:
        a.execute("CREATE TABLE only_in_a (x int)")
        a.commit()
        assert (
            a.execute("SELECT current_database()").fetchone()
            != b.execute("SELECT current_database()").fetchone()
        )
        found = b.execute("SELECT to_regclass('only_in_a')").fetchone()
    assert found == (None,)
