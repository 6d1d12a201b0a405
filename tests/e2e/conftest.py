from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from ledger.bootstrap import Container
from support.api_world import World, running_app


@pytest.fixture
def sqlite_app(sqlite_url: str) -> Iterator[tuple[TestClient, Container]]:
    """The app over a fresh SQLite store, its projections following."""
    with running_app(sqlite_url) as running:
        yield running


@pytest.fixture
def sqlite_world(sqlite_app: tuple[TestClient, Container]) -> World:
    return World(sqlite_app[0]).build()
