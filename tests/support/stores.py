"""Two ledgers on one store, for contracts run on each store (memory, SQLite, PostgreSQL):
a subclass supplies `database_url`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.application import Ledger
from ledger.bootstrap import build
from ledger.config import Settings
from support.scenario import STAFF_SINCE, Bank, Clock, build_bank


class TwoLedgersOnOneStore:
    # Memory stores are private to one Ledger; the others can be opened twice.
    shared_between_instances = True

    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def clock(self) -> Clock:
        return Clock()

    @pytest.fixture
    def ledger(self, database_url: str, clock: Clock) -> Iterator[Ledger]:
        container = build(Settings(database_url=database_url), clock=clock)
        yield container.ledger
        container.close()

    @pytest.fixture
    def other_ledger(self, ledger: Ledger, database_url: str, clock: Clock) -> Iterator[Ledger]:
        """A second Ledger on the same database, as another process would have (the same
        one for memory stores)."""
        if not self.shared_between_instances:
            yield ledger
            return
        container = build(Settings(database_url=database_url), clock=clock)
        yield container.ledger
        container.close()

    @pytest.fixture
    def bank(self, ledger: Ledger) -> Bank:
        return build_bank(ledger, staff_since=STAFF_SINCE)
