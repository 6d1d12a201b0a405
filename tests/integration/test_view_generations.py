"""Processes of two versions of the ledger keeping the same views (a rolling upgrade, a
rollback): each view is kept by one generation (`kit.generations`). A process starting
claims it for its own; one of an earlier generation then stops writing it, says why, and
leaves its rows as they were; a rebuild claims it back; a claim waits for a batch of
another process in hand. On SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest

from ledger.bootstrap import PROJECTIONS, Container, construct_views
from ledger.config import Settings
from ledger.projections.kit import BatchView
from ledger.projections.recovery import ViewGenerationError
from ledger.projections.runner import ProjectionRunner
from support import READ_MODELS
from support.projection_scenarios import ProjectionCase
from support.scenario import NOW, STAFF_SINCE, build_bank, register

VIEW = "roster"


def generation(view: BatchView) -> int:
    rows = view.query(f"SELECT generation FROM {view.view_name}_generation")
    assert len(rows) == 1
    return int(rows[0]["generation"])


def clients_kept(view: BatchView) -> int:
    return int(view.query(f"SELECT COUNT(*) AS n FROM {VIEW}_clients")[0]["n"])


class GenerationsCase(ProjectionCase):
    """Abstract: subclasses give `database_url`."""

    @pytest.fixture
    def later(self, container: Container) -> Iterator[dict[str, BatchView]]:
        """The roster as a later version of the ledger keeps it (generation 2), started
        beside `container`."""
        yield from self._views(container, 2)

    def _views(self, container: Container, kept_by: int) -> Iterator[dict[str, BatchView]]:
        model = PROJECTIONS[VIEW][1]
        version = type(f"Gen{kept_by}{model.__name__}", (model,), {"generation": kept_by})
        views = construct_views(
            Settings(database_url=container.settings.database_url), [VIEW], {VIEW: version}
        )
        yield views
        for view in views.values():
            view.factory.close()  # type: ignore[attr-defined]

    def _runner(self, container: Container, views: dict[str, BatchView]) -> ProjectionRunner:
        runner = ProjectionRunner(container.ledger, {VIEW: PROJECTIONS[VIEW][0](views[VIEW])})
        container.closers.append(runner.close)
        return runner

    def _bank_with_a_client(self, container: Container) -> object:
        bank = build_bank(container.ledger, staff_since=STAFF_SINCE)
        register(container.ledger, bank, at=NOW - timedelta(days=30), tier="gold")
        return bank

    def test_every_view_is_kept_by_the_generation_that_made_it(self, container: Container) -> None:
        assert set(container.views.by_name) == set(READ_MODELS)
        for view in container.views.by_name.values():
            assert generation(view) == type(view).generation >= 1
            assert view.kept_by_later is None

    def test_an_earlier_process_stops_writing_a_view_a_later_one_claimed(
        self,
        container: Container,
        projections: ProjectionRunner,
        later: dict[str, BatchView],
    ) -> None:
        ledger, earlier = container.ledger, container.views.by_name[VIEW]
        bank = self._bank_with_a_client(container)
        assert generation(earlier) == 2  # claimed by the later process's start
        before = (earlier.max_tracking_id(ledger.name), clients_kept(earlier))
        register(ledger, bank, at=NOW - timedelta(days=3), tier="platinum")

        # Caught up on its own (a rebuild, a catch-up): it raises, naming both generations.
        with pytest.raises(ViewGenerationError) as raised:
            projections.catch_up([VIEW])
        assert str(raised.value) == (
            "view roster is kept by a later version of the ledger (generation 2; this "
            "process keeps 1): this process no longer writes it; stop it and run the "
            "later version"
        )
        # Following: the view is set aside and the health endpoint's text says why.
        projections.advance([VIEW], following=True)
        assert projections.failures[VIEW] == str(raised.value)
        assert (earlier.max_tracking_id(ledger.name), clients_kept(earlier)) == before

        # The later process keeps it, from where it was.
        self._runner(container, later).catch_up([VIEW])
        end = ledger.recorder.max_notification_id()
        assert later[VIEW].max_tracking_id(ledger.name) == end
        assert clients_kept(later[VIEW]) == 2  # both clients, none kept by the earlier
        assert generation(later[VIEW]) == 2

    def test_an_earlier_process_starting_after_leaves_the_view_as_it_is(
        self,
        container: Container,
        later: dict[str, BatchView],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        with caplog.at_level(logging.WARNING, logger="ledger.projections.kit.generations"):
            views = next(self._views(container, 1))
        assert views[VIEW].kept_by_later == 2
        assert generation(views[VIEW]) == 2
        assert "view roster is kept by a later version of the ledger (generation 2" in (caplog.text)
        self._bank_with_a_client(container)
        with pytest.raises(ViewGenerationError):
            self._runner(container, views).catch_up([VIEW])
        assert clients_kept(views[VIEW]) == 0

    def test_a_rebuild_claims_the_view_for_the_version_that_rebuilds_it(
        self,
        container: Container,
        projections: ProjectionRunner,
        later: dict[str, BatchView],
    ) -> None:
        ledger = container.ledger
        bank = self._bank_with_a_client(container)
        projections.rebuild([VIEW])  # by the earlier version: a rollback
        earlier = container.views.by_name[VIEW]
        assert generation(earlier) == 1
        assert clients_kept(earlier) == 1

        register(ledger, bank, at=NOW - timedelta(days=3), tier="platinum")
        with pytest.raises(ViewGenerationError) as raised:
            self._runner(container, later).catch_up([VIEW])
        assert str(raised.value) == (
            "view roster was rebuilt by an earlier version of the ledger (generation 1; "
            "this process keeps 2): restart this process to upgrade it"
        )
        projections.catch_up([VIEW])
        assert clients_kept(earlier) == 2

    def test_a_view_kept_before_generations_is_claimed_at_the_next_start(
        self, container: Container, projections: ProjectionRunner
    ) -> None:
        self._bank_with_a_client(container)
        projections.catch_up()
        earlier = container.views.by_name[VIEW]
        with earlier.transaction() as c:
            c.execute(f"DROP TABLE {VIEW}_generation")
        views = next(self._views(container, 1))
        assert generation(views[VIEW]) == 1
        assert views[VIEW].kept_by_later is None
        assert clients_kept(views[VIEW]) == 1

    def test_a_claim_waits_for_a_batch_of_another_process_in_hand(
        self, container: Container, projections: ProjectionRunner
    ) -> None:
        ledger, earlier = container.ledger, container.views.by_name[VIEW]
        in_batch, release = threading.Event(), threading.Event()
        started: list[dict[str, BatchView]] = []

        def batch_in_hand() -> None:
            with earlier.batch():
                assert earlier.batch_place(ledger.name)[1] == 1
                in_batch.set()
                release.wait(10)

        def later_start() -> None:
            started.append(next(self._views(container, 2)))

        holder = threading.Thread(target=batch_in_hand)
        holder.start()
        assert in_batch.wait(10)
        claimer = threading.Thread(target=later_start)
        claimer.start()
        claimer.join(1.0)
        waited = claimer.is_alive()
        release.set()
        holder.join(10)
        claimer.join(30)
        assert waited, "the claim did not wait for the batch in hand"
        assert started and generation(started[0][VIEW]) == 2

    def test_a_rebuild_waits_for_a_batch_of_another_process_in_hand(
        self,
        container: Container,
        projections: ProjectionRunner,
        later: dict[str, BatchView],
    ) -> None:
        # A rollback's rebuild while the later version is still following: the reset
        # claims the view first, so it waits for the batch in hand and then drops what that
        # batch wrote (it deadlocked on PostgreSQL when the claim came last).
        ledger, view = container.ledger, later[VIEW]
        bank = self._bank_with_a_client(container)
        keeper = self._runner(container, later)
        keeper.catch_up([VIEW])
        register(ledger, bank, at=NOW - timedelta(days=3), tier="platinum")
        in_batch, release = threading.Event(), threading.Event()
        place = view.batch_place

        def held(name: str) -> tuple[int, int]:
            found = place(name)
            in_batch.set()
            release.wait(10)
            return found

        view.batch_place = held  # type: ignore[method-assign]
        ended: dict[str, object] = {}

        def run(name: str, work: Callable[[], object]) -> threading.Thread:
            def target() -> None:
                try:
                    ended[name] = work()
                except Exception as error:
                    ended[name] = error

            thread = threading.Thread(target=target)
            thread.start()
            return thread

        holder = run("batch", lambda: keeper.catch_up([VIEW]))
        assert in_batch.wait(10)
        rebuilder = run("rebuild", lambda: projections.rebuild([VIEW]))
        rebuilder.join(1.5)
        release.set()
        holder.join(20)
        rebuilder.join(20)
        # Neither is killed: the batch commits, then the reset drops what it wrote.
        assert not any(isinstance(e, Exception) for e in ended.values()), ended
        earlier = container.views.by_name[VIEW]
        assert generation(earlier) == 1
        assert earlier.max_tracking_id(ledger.name) == ledger.recorder.max_notification_id()
        assert clients_kept(earlier) == 2


class TestGenerationsOnSQLite(GenerationsCase):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestGenerationsOnPostgres(GenerationsCase):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
