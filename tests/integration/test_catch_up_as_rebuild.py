"""A runner starting on a long log with empty views (`ledger serve`, `ledger project`)
catches them up as a rebuild does: their query-only indexes dropped and built once at the
end; a view far behind, with its indexes dropped. Of runners starting together on one
database, one does so for each view and the others wait for it; a process that dies half
way leaves the indexes to the next start."""

from __future__ import annotations

import multiprocessing
import re
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger.bootstrap import Container, build
from ledger.config import Settings
from ledger.domain import Client
from ledger.projections import following, rebuild_settings
from ledger.projections.kit import BatchView
from ledger.projections.kit.backends import PostgresBackend
from support.projection_scenarios import build_org, bulk_clients, dump
from support.starting import catch_up_in_a_process

NOW = datetime.now(UTC)
CLIENTS = 60


def _query_indexes(view: BatchView) -> set[str]:
    pattern = re.compile(r"CREATE INDEX IF NOT EXISTS (\w+)")
    return {m.group(1) for s in view.query_index_statements() if (m := pattern.search(s))}


def _present(view: BatchView, names: set[str]) -> set[str]:
    """Which of the named indexes the view's database has."""
    with view.read_transaction() as c:
        found = set()
        for name in names:
            if isinstance(view, PostgresBackend):
                c.execute("SELECT to_regclass(%s) IS NOT NULL AS found", (name,))
                present = bool(c.fetchone()["found"])
            else:
                c.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (name,))
                present = c.fetchone() is not None
            if present:
                found.add(name)
        return found


@pytest.fixture
def long_log(database_url: str, monkeypatch: pytest.MonkeyPatch) -> int:
    """A log no view has seen, longer than a runner catches up without rebuilding."""
    monkeypatch.setattr(following, "CATCH_UP_AT_LEAST", 20)
    writer = build(Settings(database_url=database_url))
    try:
        build_org(writer.ledger, NOW - timedelta(days=400))
        bulk_clients(
            writer.ledger,
            ((f"E{n:03}", "O1", "gold", NOW - timedelta(days=30)) for n in range(CLIENTS)),
        )
        return writer.ledger.position
    finally:
        writer.close()


def bulk_clients_after(container: Container, end: int) -> int:
    """More clients, until the log reaches `end`; returns its end."""
    n = 0
    while container.ledger.position < end:
        bulk_clients(
            container.ledger,
            ((f"F{n + k:04}", "O2", "gold", NOW - timedelta(days=20)) for k in range(CLIENTS)),
        )
        n += CLIENTS
    return container.ledger.position


@pytest.fixture
def starters(database_url: str) -> Iterator[list[Container]]:
    containers = [build(Settings(database_url=database_url)) for _ in range(2)]
    yield containers
    for container in containers:
        container.close()


def _spy_starts(container: Container, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Per view, how often this container set it to the rebuild's settings."""
    started: Counter[str] = Counter()
    for name, view in container.views.by_name.items():
        start = view.start_rebuild

        def spying(*, reset: bool = True, name: str = name, start: Any = start) -> None:
            started[name] += 1
            start(reset=reset)

        monkeypatch.setattr(view, "start_rebuild", spying)
    return started


def _spy_roster(container: Container, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """At the roster's first registration: whether it was rebuilding, and its query indexes."""
    roster = container.views.roster
    seen: list[tuple[bool, set[str]]] = []
    handlers = container.runner.projections["roster"].handlers
    register = handlers[Client.Registered]

    def spying(event: Any, tracking: Any) -> None:
        if not seen:
            seen.append((roster.rebuilding, _present(roster, _query_indexes(roster))))
        register(event, tracking)

    monkeypatch.setitem(handlers, Client.Registered, spying)
    return seen


class CatchUpAsRebuildCase:
    def test_an_empty_view_is_caught_up_with_its_query_indexes_built_at_the_end(
        self, long_log: int, starters: list[Container], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        container = starters[0]
        runner = container.start_projections(follow=False)
        roster = container.views.roster
        seen = _spy_roster(container, monkeypatch)
        waiting: list[bool] = []
        reader = threading.Thread(target=lambda: waiting.append(runner.wait(long_log, 30)))
        runner.start()
        reader.start()
        reader.join(timeout=60)
        assert waiting == [True]
        assert seen == [(True, set())], "the roster's query indexes were kept up while catching up"
        assert _query_indexes(roster) and _present(roster, _query_indexes(roster)) == (
            _query_indexes(roster)
        )
        assert not roster.rebuilding
        caught_up = dump(runner.views)
        runner.rebuild()
        assert dump(runner.views) == caught_up

    def test_of_two_runners_starting_together_one_catches_each_view_up_as_a_rebuild(
        self, long_log: int, starters: list[Container], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        counts = [_spy_starts(container, monkeypatch) for container in starters]
        runners = [container.start_projections(follow=False) for container in starters]
        barrier = threading.Barrier(len(runners))
        reached: list[int] = []
        failures: list[BaseException] = []

        def catch_up(index: int) -> None:
            try:
                barrier.wait()
                reached.append(runners[index].catch_up())
            except BaseException as error:
                failures.append(error)

        threads = [threading.Thread(target=catch_up, args=(i,)) for i in range(len(runners))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not failures, [repr(f) for f in failures]
        assert reached == [long_log, long_log]
        started = counts[0] + counts[1]
        assert started == Counter(dict.fromkeys(runners[0].views, 1)), started
        for view in runners[1].views.values():
            assert _present(view, _query_indexes(view)) == _query_indexes(view)
        caught_up = dump(runners[1].views)
        runners[0].rebuild()
        assert dump(runners[1].views) == caught_up

    def test_of_two_processes_starting_together_one_catches_each_view_up_as_a_rebuild(
        self, database_url: str, long_log: int
    ) -> None:
        # The views made (empty) first: two processes creating a SQLite view's tables at
        # once is another matter (the library's migration row, `__migration__`).
        made = build(Settings(database_url=database_url))
        assert not any(v.max_tracking_id(made.ledger.name) for v in made.views.by_name.values())
        made.close()
        context = multiprocessing.get_context("spawn")
        barrier, results = context.Barrier(2), context.Queue()
        processes = [
            context.Process(
                target=catch_up_in_a_process,
                args=(database_url, following.CATCH_UP_AT_LEAST, barrier, results),
            )
            for _ in range(2)
        ]
        for process in processes:
            process.start()
        try:
            reached = [results.get(timeout=180) for _ in processes]
        finally:
            for process in processes:
                process.join(timeout=60)
        assert [end for end, _ in reached] == [long_log, long_log], reached
        started = Counter(name for _, names in reached for name in names)
        again = build(Settings(database_url=database_url))
        try:
            assert started == Counter(dict.fromkeys(again.views.by_name, 1)), started
            for view in again.views.by_name.values():
                assert _present(view, _query_indexes(view)) == _query_indexes(view)
            runner = again.start_projections(follow=False)
            caught_up = dump(runner.views)
            runner.rebuild()
            assert dump(runner.views) == caught_up
        finally:
            again.close()

    def test_a_view_far_behind_is_caught_up_with_its_query_indexes_dropped(
        self,
        database_url: str,
        long_log: int,
        starters: list[Container],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        first = starters[0].start_projections(follow=False)
        first.catch_up()
        more = bulk_clients_after(starters[0], 3 * long_log)
        monkeypatch.setattr(rebuild_settings, "FAR_BEHIND", 10)
        runner = starters[1].start_projections(follow=False)
        started = _spy_starts(starters[1], monkeypatch)
        roster = starters[1].views.roster
        seen = _spy_roster(starters[1], monkeypatch)
        assert runner.catch_up() == more
        assert seen == [(False, set())], "the roster's query indexes were kept up"
        assert not started, "a view with rows was caught up as if empty"
        assert _present(roster, _query_indexes(roster)) == _query_indexes(roster)
        caught_up = dump(runner.views)
        runner.rebuild()
        assert dump(runner.views) == caught_up

    def test_a_view_left_half_caught_up_gets_its_query_indexes_at_the_next_start(
        self, database_url: str, long_log: int, starters: list[Container]
    ) -> None:
        runner = starters[0].start_projections(follow=False)
        view = runner.views["reports"]
        with view.catch_up_lock() as got:
            assert got
            view.start_rebuild(reset=False)
            runner.advance(["reports"])
            assert _present(view, _query_indexes(view)) == set()
            # As if the process died here: no `finish_rebuild`.
        again = build(Settings(database_url=database_url))
        try:
            restarted = again.views.by_name["reports"]
            assert _present(restarted, _query_indexes(restarted)) == _query_indexes(restarted)
        finally:
            again.close()


class TestCatchUpAsRebuildSQLite(CatchUpAsRebuildCase):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestCatchUpAsRebuildPostgres(CatchUpAsRebuildCase):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
