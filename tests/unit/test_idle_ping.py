"""The PostgreSQL pool's check: a connection is pinged before it is handed out only if it
has been idle a while, so a busy server does not pay a round trip per statement."""

from __future__ import annotations

import time

import pytest

from ledger.store.postgres import IdlePing


class FakeConnection:
    autocommit = True

    def __init__(self) -> None:
        self.pings = 0

    def execute(self, query: str) -> None:
        self.pings += 1


def test_a_connection_is_pinged_when_first_handed_out() -> None:
    conn = FakeConnection()
    IdlePing(after=60)(conn)  # type: ignore[arg-type]
    assert conn.pings == 1


def test_a_connection_handed_out_again_at_once_is_not_pinged() -> None:
    check, conn = IdlePing(after=60), FakeConnection()
    for _ in range(5):
        check(conn)  # type: ignore[arg-type]
    assert conn.pings == 1


def test_a_connection_idle_for_longer_than_the_limit_is_pinged_again() -> None:
    check, conn = IdlePing(after=0.05), FakeConnection()
    check(conn)  # type: ignore[arg-type]
    time.sleep(0.06)
    check(conn)  # type: ignore[arg-type]
    assert conn.pings == 2


def test_a_failed_ping_raises_so_the_pool_discards_the_connection() -> None:
    class Broken(FakeConnection):
        def execute(self, query: str) -> None:
            raise OSError("server closed the connection")

    with pytest.raises(OSError):
        IdlePing(after=60)(Broken())  # type: ignore[arg-type]
