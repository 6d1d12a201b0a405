from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger.application import Ledger
from ledger.bootstrap import Container, build
from ledger.config import Settings
from ledger.privacy import PersonalDataMapper
from support.privacy import mapper_on
from support.scenario import REGISTERED_AT, STAFF_SINCE, Bank, Clock, build_bank, register


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ledger(clock: Clock) -> Iterator[Ledger]:
    container = build(Settings(database_url="memory://"), clock=clock)
    yield container.ledger
    container.close()


@pytest.fixture
def container() -> Iterator[Container]:
    """The whole ledger (application and read models) on an in-memory store."""
    container = build(Settings(database_url="memory://"))
    yield container
    container.close()


@pytest.fixture
def bank(ledger: Ledger) -> Bank:
    return build_bank(ledger, staff_since=STAFF_SINCE)


@pytest.fixture
def client_id(ledger: Ledger, bank: Bank) -> str:
    return register(ledger, bank, at=REGISTERED_AT)


@pytest.fixture
def mapper() -> PersonalDataMapper:
    return mapper_on()
