"""Processes starting together on a new database (`ledger serve --workers N`, `ledger
project`) each create the tables they need; none may fail on another's half-made table
(PostgreSQL's CREATE TABLE IF NOT EXISTS is not atomic across sessions; a new SQLite file
is switched to write-ahead logging, which needs the file to itself)."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path
from typing import Any

from eventsourcing.sqlite import SQLiteDatastore

from ledger.bootstrap import Container, build
from ledger.config import Settings
from ledger.projections.kit.backends import view_class
from ledger.projections.roster import SQLRosterView
from ledger.store.sqlite import use_write_ahead_log
from support import READ_MODELS
from support.starting import start_in_a_process

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


def test_processes_opening_a_new_sqlite_store_at_once_all_start(tmp_path: Path) -> None:
    # Before: "database is locked" in 1 of 8 rounds of four processes.
    spawn = multiprocessing.get_context("spawn")
    for round_ in range(5):
        url = f"sqlite:///{tmp_path}/round{round_}/ledger.db"
        barrier, results = spawn.Barrier(4), spawn.Queue()
        processes = [
            spawn.Process(target=start_in_a_process, args=(url, barrier, results)) for _ in range(4)
        ]
        for process in processes:
            process.start()
        answers = [results.get(timeout=120) for _ in processes]
        for process in processes:
            process.join(timeout=30)
        assert answers == ["started"] * 4, answers


def test_two_processes_creating_a_new_sqlite_view_at_once_both_start(tmp_path: Path) -> None:
    # The library looks for the view's tracking table, then creates it and its migration
    # row in a transaction: a second process that looked before the first committed
    # inserted the row again ("UNIQUE constraint failed"). The window is widened here: the
    # first creator waits inside its transaction until the second has looked.
    path = str(tmp_path / "ledger.roster.db")
    use_write_ahead_log(path)
    view_type = view_class(SQLRosterView, "sqlite")
    looked, failures = threading.Event(), []

    class FirstCreator(view_type):  # type: ignore[misc, valid-type]
        def _create_table(self, c: Any) -> None:
            second.start()
            looked.wait(timeout=2)  # the second creator blocks on the lock (fixed) or looks
            super()._create_table(c)

    class SecondCreator(view_type):  # type: ignore[misc, valid-type]
        def max_tracking_id(self, application_name: str) -> int | None:
            try:
                return super().max_tracking_id(application_name)
            finally:
                looked.set()

    def create(cls: type) -> None:
        try:
            cls(SQLiteDatastore(db_name=path)).create_table()
        except BaseException as error:
            failures.append(error)

    second = threading.Thread(target=create, args=(SecondCreator,))
    create(FirstCreator)
    second.join(timeout=30)
    assert not failures, [repr(f) for f in failures]
    view = view_type(SQLiteDatastore(db_name=path))
    assert view.max_tracking_id(SQLRosterView.view_name) is None  # made once, nothing followed
