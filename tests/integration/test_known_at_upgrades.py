"""Views built before the reports took `known_at` (API.md 1.1, Audit), or before the audit
log kept prospects and campaigns, replay the log once at their next start, so what they
answer as known at a past time, and the audit log, hold every event. On SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest

from ledger.bootstrap import Container, build
from ledger.config import Settings
from ledger.projections.audit import AuditQuery
from ledger.projections.runner import ProjectionRunner
from support.projection_scenarios import BY, ProjectionCase, build_org, day


class KnownAtUpgradeCase(ProjectionCase):
    """Abstract: subclasses give `database_url`."""

    @contextmanager
    def restarted(self, database_url: str) -> Iterator[Container]:
        """The ledger started again on the same database, caught up."""
        container = build(Settings(database_url=database_url))
        try:
            container.start_projections(follow=False)
            container.runner.catch_up()
            yield container
        finally:
            container.close()

    def register(self, container: Container) -> None:
        app = container.ledger
        build_org(app, day(1, 1))
        app.register_client(
            client_id="K1",
            name="k",
            unit_id="O1",
            tier="gold",
            occurred_at=day(1, 5),
            recorded_by=BY,
        )
        app.update_profile(
            client_id="K1",
            changes={"risk_appetite": "balanced"},
            effective_at=day(1, 6),
            recorded_by=BY,
        )

    def test_a_reports_view_that_kept_no_recorded_times_replays_the_log(
        self, container: Container, projections: ProjectionRunner, database_url: str
    ) -> None:
        self.register(container)
        projections.catch_up()
        view, known_at = projections.views["reports"], datetime.now(UTC)
        assert container.views.reports.completeness("O1", known_at=known_at)["vip_active"] == 1
        # A reports view of before 1.1 kept no recorded times (nor standings, read as
        # known at a time by when they were recorded): it knew nothing "then".
        with view.transaction() as c:
            view.execute(c, "DELETE FROM reports_recorded")
            view.execute(c, "DELETE FROM reports_client_recorded")
            view.execute(c, "DROP TABLE reports_report_standings_kept")
        assert container.views.reports.completeness("O1", known_at=known_at)["vip_active"] == 0
        for _ in range(2):  # the next start replays the log; the one after, nothing
            with self.restarted(database_url) as restarted:
                known = restarted.views.reports.completeness("O1", known_at=known_at)
                assert known["vip_active"] == 1
                assert restarted.runner.positions()["reports"] == container.ledger.position

    def test_a_reports_view_that_deleted_retracted_rows_replays_the_log_once(
        self, container: Container, projections: ProjectionRunner, database_url: str
    ) -> None:
        self.register(container)
        app = container.ledger
        filled = app.update_profile(
            client_id="K1",
            changes={"address": "1 Bund Road", "phone": "139", "employer": "SAIC"},
            effective_at=day(1, 7),
            recorded_by=BY,
        )
        between = datetime.now(UTC)
        app.retract(client_id="K1", event_id=filled.event_id, reason="x", recorded_by=BY)
        projections.catch_up()
        view = projections.views["reports"]

        def complete(views: Container) -> int:
            return int(views.views.reports.completeness("O1", known_at=between)["complete"])

        assert complete(container) == 1
        # As a view of before kept it: the retracted update gone, and no mark that it keeps them.
        with view.transaction() as c:
            view.execute(c, "DELETE FROM reports_profile_updates_retracted")
            view.execute(c, "DROP TABLE reports_retracted_kept")
        assert complete(container) == 0
        for _ in range(2):  # replayed at the next start, once
            with self.restarted(database_url) as restarted:
                assert complete(restarted) == 1
                assert restarted.runner.positions()["reports"] == container.ledger.position

    def test_a_maintenance_view_that_kept_no_recorded_times_replays_the_log(
        self, container: Container, projections: ProjectionRunner, database_url: str
    ) -> None:
        self.register(container)
        projections.catch_up()
        view, known_at = projections.views["maintenance"], datetime.now(UTC)

        def segments(views: Container) -> dict:
            answer = views.views.maintenance.segments("O1", "risk_appetite", known_at=known_at)
            return answer["segments"]

        assert segments(container) == {"balanced": {"clients": 1, "assets": "0"}}
        with view.transaction() as c:
            view.execute(c, "DELETE FROM maintenance_recorded")
        assert segments(container) == {}
        for _ in range(2):
            with self.restarted(database_url) as restarted:
                assert segments(restarted) == {"balanced": {"clients": 1, "assets": "0"}}

    def test_an_audit_view_built_before_prospects_were_kept_replays_the_log_once(
        self, container: Container, projections: ProjectionRunner, database_url: str
    ) -> None:
        app = container.ledger
        build_org(app, day(1, 1))
        app.record_prospect(
            prospect_id="PR1",
            name="p",
            unit_id="O1",
            source="media",
            owner_staff_id="M1",
            occurred_at=day(2, 1),
            recorded_by=BY,
        )
        projections.catch_up()
        view = projections.views["audit"]
        prospects = AuditQuery(type="Recorded")

        def kept(views: Container) -> list[str]:
            return [
                e["aggregate_id"] for e in views.views.audit.events(prospects, limit=100)["items"]
            ]

        assert kept(container) == ["PR1"]
        # As a view of before 1.1 holds it: no prospect's event, and no mark that it keeps them.
        with view.transaction() as c:
            view.execute(c, "DELETE FROM audit_events WHERE aggregate_type = 'Prospect'")
            view.execute(c, "DROP TABLE audit_outreach_kept")
        assert kept(container) == []
        for _ in range(2):  # replayed at the next start, once
            with self.restarted(database_url) as restarted:
                assert kept(restarted) == ["PR1"]


class TestKnownAtUpgradesSQLite(KnownAtUpgradeCase):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestKnownAtUpgradesPostgres(KnownAtUpgradeCase):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
