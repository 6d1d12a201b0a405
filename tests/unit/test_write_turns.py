"""Writers to one aggregate in one process take turns instead of losing to each other."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

from eventsourcing.persistence import IntegrityError

from ledger.application import TURN_WAIT, Ledger
from ledger.domain import Client
from support.scenario import ADMIN, NOW, Bank


def test_concurrent_contacts_on_one_client_in_one_process_never_conflict(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
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

    def write(n: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            result = ledger.log_contact(
                client_id=client_id,
                channel="phone",
                staff_id=bank.manager,
                occurred_at=NOW - timedelta(minutes=n * per_thread + i),
                recorded_by=ADMIN,
            )
            versions.append(result.version)

    workers = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert conflicts == []
    assert sorted(versions) == list(range(2, 2 + threads * per_thread))


def test_a_writer_stuck_in_its_turn_delays_the_next_by_the_turn_wait_at_most(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    # As when the store is down and the writer ahead waits for a connection.
    turn = ledger.turn_of(Client, client_id)
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
