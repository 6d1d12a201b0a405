"""Idempotency claims on the real stores: atomic with the write, one winner under a race."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from ledger.application import Ledger
from ledger.bootstrap import build
from ledger.config import Settings
from ledger.domain import RuleViolation
from support.api_world import new_id


class IdempotencyOnStore:
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def ledger(self, database_url: str) -> Iterator[Ledger]:
        container = build(Settings(database_url=database_url))
        yield container.ledger
        container.close()

    def test_racing_retries_under_one_key_write_once(self, ledger: Ledger) -> None:
        unit_id = new_id("B")
        results = []
        errors = []
        barrier = threading.Barrier(4)

        def attempt() -> None:
            barrier.wait()
            try:
                results.append(
                    ledger.idempotent(
                        scope="admin",
                        key="race",
                        fingerprint="f",
                        write=lambda: ledger.create_unit(
                            unit_id=unit_id,
                            name="Branch",
                            kind="branch",
                            parent_id=None,
                            recorded_by="admin",
                        ),
                    )
                )
            except Exception as error:  # collected: a thread's failure must fail the test
                errors.append(error)

        threads = [threading.Thread(target=attempt) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len({result for result, _ in results}) == 1
        assert sorted(replayed for _, replayed in results) == [False, True, True, True]
        assert ledger.position == 2  # the unit and its claim

    def test_a_refused_write_leaves_neither_event_nor_claim(self, ledger: Ledger) -> None:
        unit_id = new_id("B")
        ledger.create_unit(
            unit_id=unit_id, name="B", kind="branch", parent_id=None, recorded_by="admin"
        )
        with pytest.raises(RuleViolation):
            ledger.idempotent(
                scope="admin",
                key="dup",
                fingerprint="f",
                write=lambda: ledger.create_unit(
                    unit_id=unit_id, name="B", kind="branch", parent_id=None, recorded_by="admin"
                ),
            )
        assert ledger.position == 1


class TestIdempotencyOnSQLite(IdempotencyOnStore):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestIdempotencyOnPostgres(IdempotencyOnStore):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
