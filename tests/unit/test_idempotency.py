"""The ledger's idempotency claims: one write per key, atomic with the write it guards."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from ledger.application import Ledger
from ledger.bootstrap import build
from ledger.config import Settings
from ledger.domain import RuleViolation
from ledger.domain.idempotency import IdempotencyKey
from support.api_world import new_id


@pytest.fixture
def ledger() -> Ledger:
    container = build(Settings(database_url="memory://"))
    yield container.ledger
    container.close()


def branch(ledger: Ledger, unit_id: str):
    return lambda: ledger.create_unit(
        unit_id=unit_id, name="Branch", kind="branch", parent_id=None, recorded_by="admin"
    )


def test_a_claimed_key_replays_the_first_result_without_writing(ledger: Ledger) -> None:
    unit_id = new_id("B")
    first, replayed = ledger.idempotent(
        scope="admin", key="k", fingerprint="f", write=branch(ledger, unit_id)
    )
    assert not replayed
    position = ledger.position
    again, replayed = ledger.idempotent(
        scope="admin", key="k", fingerprint="f", write=branch(ledger, new_id("B"))
    )
    assert replayed
    assert again == first
    assert ledger.position == position


def test_a_key_is_scoped_to_its_caller(ledger: Ledger) -> None:
    ledger.idempotent(scope="admin", key="k", fingerprint="f", write=branch(ledger, new_id("B")))
    _, replayed = ledger.idempotent(
        scope="key:other", key="k", fingerprint="f", write=branch(ledger, new_id("B"))
    )
    assert not replayed


def test_another_request_under_a_used_key_is_refused(ledger: Ledger) -> None:
    ledger.idempotent(scope="admin", key="k", fingerprint="f", write=branch(ledger, new_id("B")))
    with pytest.raises(RuleViolation) as refused:
        ledger.idempotent(scope="admin", key="k", fingerprint="g", write=branch(ledger, "X"))
    assert refused.value.rule == "idempotency_key_reused"


def test_a_refused_write_claims_no_key(ledger: Ledger) -> None:
    unit_id = new_id("B")
    branch(ledger, unit_id)()
    with pytest.raises(RuleViolation):
        ledger.idempotent(scope="admin", key="k", fingerprint="f", write=branch(ledger, unit_id))
    # The failed attempt left no claim behind, so a corrected retry under the key writes.
    result, replayed = ledger.idempotent(
        scope="admin", key="k", fingerprint="f", write=branch(ledger, new_id("B"))
    )
    assert not replayed
    assert result.type == "Created"


def test_concurrent_requests_under_one_key_write_once(ledger: Ledger) -> None:
    unit_id = new_id("B")
    results = []
    barrier = threading.Barrier(4)

    def attempt() -> None:
        barrier.wait()
        results.append(
            ledger.idempotent(
                scope="admin", key="race", fingerprint="f", write=branch(ledger, unit_id)
            )
        )

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({result for result, _ in results}) == 1
    assert sum(not replayed for _, replayed in results) == 1
    assert ledger.position == 2  # the unit and its claim


def test_writes_outside_idempotent_claim_nothing(ledger: Ledger) -> None:
    branch(ledger, new_id("B"))()
    assert ledger.position == 1


def test_a_claim_is_recorded_at_the_ledgers_clock() -> None:
    at = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
    container = build(Settings(database_url="memory://"), clock=lambda: at)
    try:
        ledger = container.ledger
        ledger.idempotent(scope="admin", key="k", fingerprint="f", write=branch(ledger, "B"))
        claim = ledger.repository.get(IdempotencyKey.id_for("admin", "k"))
        assert claim.created_on == at
    finally:
        container.close()
