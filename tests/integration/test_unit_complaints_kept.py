"""The reports view keeps each complaint under every unit above its client, with the designated
manager of the complaint's time (`reports_unit_complaints`). A plain contact leaves those rows
as they were (not written again: a long-lived client's every contact rewrote its every
complaint), while a complaint, a backdated reassignment or a retraction writes them again; on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ledger.bootstrap import Container
from ledger.projections.runner import ProjectionRunner
from support.projection_scenarios import ProjectionCase
from support.scenario import NOW, STAFF_SINCE, build_bank, by, register


def complaint_rows(container: Container, client: str) -> list[tuple[Any, ...]]:
    """The client's kept complaint rows, each with its place in the table (`rowid`, `ctid`):
    a row written again moves."""
    view = container.views.by_name["reports"]
    place = "rowid" if view.__class__.__name__.startswith("SQLite") else "ctid::text"
    return [
        (row["place"], row["ancestor_id"], row["occurred_at"], row["manager"])
        for row in view.query(
            f"SELECT {place} AS place, ancestor_id, occurred_at, manager FROM "
            "reports_unit_complaints WHERE client_id = ? ORDER BY ancestor_id, occurred_at",
            (client,),
        )
    ]


class UnitComplaintsCase(ProjectionCase):
    """Abstract: subclasses give `database_url`."""

    def test_a_plain_contact_leaves_the_complaints_and_a_reassignment_rewrites_them(
        self, container: Container, projections: ProjectionRunner
    ) -> None:
        ledger = container.ledger
        bank = build_bank(ledger, staff_since=STAFF_SINCE)
        client = register(ledger, bank, at=NOW - timedelta(days=50), tier="gold")
        ledger.assign(
            client_id=client,
            staff_id=bank.manager,
            reason="list",
            effective_at=NOW - timedelta(days=40),
            **by(),
        )

        def contact(days_ago: int, *, complaint: bool = False) -> str:
            written = ledger.log_contact(
                client_id=client,
                channel="visit",
                staff_id=bank.manager,
                occurred_at=NOW - timedelta(days=days_ago),
                summary="slow answers" if complaint else None,
                complaint=complaint,
                **by(),
            )
            return written.event_id

        contact(30, complaint=True)
        projections.catch_up()
        # Another client's complaint kept after it: a row written again would take a later
        # place than these (SQLite gives a new row the next rowid after the largest).
        other = register(ledger, bank, at=NOW - timedelta(days=50), tier="gold")
        ledger.log_contact(
            client_id=other,
            channel="phone",
            staff_id=bank.manager,
            occurred_at=NOW - timedelta(days=20),
            summary="no call back",
            complaint=True,
            **by(),
        )
        projections.catch_up()
        kept = complaint_rows(container, client)
        units = {bank.branch, bank.department, bank.sub_branch, bank.outlet}
        assert {row[1] for row in kept} == units and {row[3] for row in kept} == {bank.manager}

        contact(2)
        contact(1)
        projections.catch_up()
        assert complaint_rows(container, client) == kept  # the same rows, in the same places

        # Dated before the complaint: the complaint was the other manager's client's then.
        ledger.assign(
            client_id=client,
            staff_id=bank.other_manager,
            reason="backdated",
            effective_at=NOW - timedelta(days=35),
            **by(),
        )
        projections.catch_up()
        assert {row[3] for row in complaint_rows(container, client)} == {bank.other_manager}

        second = contact(10, complaint=True)
        projections.catch_up()
        assert len(complaint_rows(container, client)) == 2 * len(units)
        ledger.retract(client_id=client, event_id=second, reason="not a complaint", **by())
        projections.catch_up()
        after = complaint_rows(container, client)
        assert [row[1:] for row in after] == [(*row[1:3], bank.other_manager) for row in kept]


class TestUnitComplaintsOnSQLite(UnitComplaintsCase):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestUnitComplaintsOnPostgres(UnitComplaintsCase):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
