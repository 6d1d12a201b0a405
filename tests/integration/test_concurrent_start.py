"""Processes starting together on a new PostgreSQL database (`ledger serve --workers N`,
`ledger project`) each create the tables they need; none may fail on another's half-made
table (PostgreSQL's CREATE TABLE IF NOT EXISTS is not atomic across sessions)."""

from __future__ import annotations

import threading

from ledger.bootstrap import Container, build
from ledger.config import Settings
from support import READ_MODELS

STARTERS = 6


def test_ledgers_and_views_created_at_once_on_a_new_database_all_start(
    postgres_url: str,
) -> None:
    barrier = threading.Barrier(STARTERS)
    failures: list[BaseException] = []
    containers: list[Container] = []
    lock = threading.Lock()

    def start() -> None:
        try:
            barrier.wait()
            container = build(Settings(database_url=postgres_url))
            with lock:
                containers.append(container)
            container.start_projections(follow=False)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=start) for _ in range(STARTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert not failures, [repr(f) for f in failures]
        assert len(containers) == STARTERS
        positions = containers[0].runner.positions()
        assert set(positions) == set(READ_MODELS)
    finally:
        for container in containers:
            container.close()
