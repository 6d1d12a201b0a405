"""Writers to one aggregate in one process take turns instead of losing to each other."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from eventsourcing.persistence import IntegrityError

from ledger.application import TURN_WAIT, Ledger
from support.scenario import ADMIN, NOW, Bank


def _concurrent_writes(ledger: Ledger, write: Callable[[int], int]) -> list[int]:
    """Eight threads make five writes each at once through `write(n)` (answering the version
    written) on a slow store; asserts none lost to another and answers the versions."""
    conflicts = []
    save = ledger.save

    def counting_save(*objs: Any, **kwargs: Any) -> Any:
        time.sleep(0.002)  # a slow store: room for another writer to load the same version
        try:
            return save(*objs, **kwargs)
        except IntegrityError:
            conflicts.append(objs)
            raise

    ledger.save = counting_save  # type: ignore[method-assign]
    threads, per_thread = 8, 5
    barrier = threading.Barrier(threads)
    versions: list[int] = []

    def writer(n: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            versions.append(write(n * per_thread + i))

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert conflicts == []
    assert len(versions) == threads * per_thread
    return versions


def test_concurrent_contacts_on_one_client_in_one_process_never_conflict(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    def contact(n: int) -> int:
        return ledger.log_contact(
            client_id=client_id,
            channel="phone",
            staff_id=bank.manager,
            occurred_at=NOW - timedelta(minutes=n),
            recorded_by=ADMIN,
        ).version

    versions = _concurrent_writes(ledger, contact)
    assert sorted(versions) == list(range(2, 2 + len(versions)))


def test_concurrent_units_under_one_parent_in_one_process_never_conflict(
    ledger: Ledger, bank: Bank
) -> None:
    # Each new unit attaches to its parent: the writers take turns on the parent.
    def outlet(n: int) -> int:
        return ledger.create_unit(
            unit_id=f"OUT-{n}",
            name="Outlet",
            kind="outlet",
            parent_id=bank.sub_branch,
            recorded_by=ADMIN,
        ).version

    assert set(_concurrent_writes(ledger, outlet)) == {1}
    children = ledger.get_unit(bank.sub_branch).children
    assert {f"OUT-{n}" for n in range(40)} <= set(children)


def test_a_writer_stuck_in_its_turn_delays_the_next_by_the_turn_wait_at_most(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    # As when the store is down and the writer ahead waits for a connection.
    turn = ledger.turn_of("client", client_id)
    turn.acquire()
    try:
        started = time.perf_counter()
        result = ledger.log_contact(
            client_id=client_id,
            channel="phone",
            staff_id=bank.manager,
            occurred_at=NOW,
            recorded_by=ADMIN,
        )
        waited = time.perf_counter() - started
    finally:
        turn.release()
    assert result.version == 2
    assert TURN_WAIT <= waited < TURN_WAIT + 1
