"""The maintenance reports' organisation kept between pages is never one read while the view
was being reset under the same positions (a `ledger rebuild` in another process): on
PostgreSQL each statement of a READ COMMITTED transaction sees what committed before it, so
the positions and the staff were read at different moments (found in review). On SQLite
and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ledger.bootstrap import Container, build
from ledger.config import Settings
from support.projection_scenarios import build_org


class KeptOrganisationContract:
    @pytest.fixture
    def container(self, database_url: str) -> Iterator[Container]:
        container = build(Settings(database_url=database_url))
        try:
            yield container
        finally:
            container.close()

    def test_an_organisation_read_across_a_reset_is_not_kept(self, container: Container) -> None:
        build_org(container.ledger, datetime.now(UTC) - timedelta(days=400))
        runner = container.start_projections(follow=False)
        runner.catch_up()
        view = container.views.maintenance
        kept = view.files.organisation  # type: ignore[attr-defined]
        staff, original = kept.staff, kept.staff.roles_and_departures
        reset: list[bool] = []

        def read_while_reset(c: object = None) -> object:
            if not reset:
                reset.append(True)
                view.reset()  # as a rebuild in another process commits its reset
            return original(c)

        staff.roles_and_departures = read_while_reset
        try:
            kept.at()
        finally:
            staff.roles_and_departures = original
        runner.rebuild(["maintenance"])  # the same positions again: no new events
        roles, _ = original()
        assert roles and kept.at().roles == roles


class TestKeptOrganisationOnSQLite(KeptOrganisationContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestKeptOrganisationOnPostgres(KeptOrganisationContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
