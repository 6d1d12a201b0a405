"""Creating the tables at a process's start on PostgreSQL: the schema lock waits for a first
connection through several attempts (a server under load may take longer than one
POSTGRES_CONNECT_TIMEOUT to hand out a session), and still fails when none comes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import eventsourcing.utils
import pytest
from eventsourcing.persistence import OperationalError

from ledger.store.postgres import SCHEMA_ATTEMPTS, SCHEMA_LOCK, schema_lock


class SlowDatastore:
    """Hands out a connection only after `refusals` failed attempts."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.attempts = 0
        self.statements: list[tuple[str, Any]] = []

    @contextmanager
    def get_connection(self) -> Iterator[Any]:
        self.attempts += 1
        if self.attempts <= self.refusals:
            raise OperationalError("couldn't get a connection after 2.00 sec")
        yield self

    def execute(self, statement: str, params: Any) -> None:
        self.statements.append((statement, params))


@pytest.fixture(autouse=True)
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(eventsourcing.utils, "sleep", lambda seconds: None)


def test_the_lock_is_taken_once_a_connection_comes() -> None:
    store = SlowDatastore(refusals=SCHEMA_ATTEMPTS - 1)
    with schema_lock(store):  # type: ignore[arg-type]
        assert store.statements == [("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))]
    assert store.attempts == SCHEMA_ATTEMPTS
    assert store.statements[-1] == ("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))


def test_no_connection_in_every_attempt_fails_and_runs_nothing() -> None:
    store = SlowDatastore(refusals=SCHEMA_ATTEMPTS)
    ran = False
    with pytest.raises(OperationalError), schema_lock(store):  # type: ignore[arg-type]
        ran = True
    assert (store.attempts, store.statements, ran) == (SCHEMA_ATTEMPTS, [], False)
