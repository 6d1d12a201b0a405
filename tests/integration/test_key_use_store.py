"""When keys were last used, on the real stores (API.md 1.1, "Keys"): the later time wins,
whichever process writes last, and the times survive the process."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ledger.bootstrap import build
from ledger.config import Settings
from ledger.store.key_use import KeyUseTable, MemoryKeyUseTable

NOON = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)


class KeyUseOnStore:
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def table(self, database_url: str) -> Iterator[KeyUseTable]:
        container = build(Settings(database_url=database_url))
        yield container.ledger.key_uses
        container.close()

    def test_a_later_use_replaces_an_earlier_one_and_never_the_reverse(
        self, table: KeyUseTable
    ) -> None:
        table.record("k1", NOON)
        table.record("k1", NOON + timedelta(minutes=2))
        table.record("k1", NOON + timedelta(minutes=1))  # a slower process, late
        table.record("k2", NOON.astimezone(timezone(timedelta(hours=8))))
        uses = table.last_uses()
        assert uses["k1"] == NOON + timedelta(minutes=2)
        assert uses["k2"] == NOON
        assert "k3" not in uses


class TestKeyUseInMemory(KeyUseOnStore):
    @pytest.fixture
    def table(self) -> Iterator[KeyUseTable]:
        yield MemoryKeyUseTable()


class TestKeyUseOnSQLite(KeyUseOnStore):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestKeyUseOnPostgres(KeyUseOnStore):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
