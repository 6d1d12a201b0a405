"""The demo branch on a store of its own per test class, for contracts run once per store
whose tests only read it or leave it as they found it (building it takes seconds): a
subclass of `SQLiteDemoPerClass` or `PostgresDemoPerClass` supplies `database_url`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from ledger.bootstrap import Container, build
from ledger.config import Settings
from ledger.demo import load_demo
from support.pg import ThrowawayPostgres

# The demo's last day: two days back, so reports "now" see it settled.
END = datetime.now(UTC).date() - timedelta(days=2)


@contextmanager
def demo_container(database_url: str) -> Iterator[Container]:
    """The ledger on `database_url` holding a 150-client demo branch, its views caught up."""
    container = build(Settings(database_url=database_url))
    try:
        load_demo(container.ledger, seed=11, clients=150, end=END)
        container.start_projections(follow=False).catch_up()
        yield container
    finally:
        container.close()


class SQLiteDemoPerClass:
    @pytest.fixture(scope="class")
    @classmethod
    def database_url(cls, tmp_path_factory: pytest.TempPathFactory) -> str:
        return f"sqlite:///{tmp_path_factory.mktemp('demo')}/ledger.db"


class PostgresDemoPerClass:
    @pytest.fixture(scope="class")
    @classmethod
    def database_url(cls, pg_server: ThrowawayPostgres) -> str:
        return pg_server.fresh_database()
