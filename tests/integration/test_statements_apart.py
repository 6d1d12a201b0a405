"""The maintenance view keeps a client's asset statements beside its file, with their facts in
it (`maintenance_assets`): a contact's standing is worked out from the file alone and says
what the whole file says; reports that fold the statements at a time read them; a file
written before (statements inside, no column) reads as before, and moves them out when next
written. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from ledger.bootstrap import Container, construct_views
from ledger.projections.kit import BatchView
from ledger.projections.maintenance_assets import FACTS, facts_of
from ledger.projections.runner import ProjectionRunner
from support.projection_scenarios import ProjectionCase
from support.scenario import NOW, STAFF_SINCE, build_bank, by, register

# In effective order, a month apart; the latest 20% or more below three of the others.
AMOUNTS = ["1000000.00", "1200000.00", "700000.00", "900000.00", "650000.00"]
STANDING = ("stable_from", "assets", "assets_from", "assets_value", "peak_value", "board_until")


def file_row(view: BatchView, client_id: str) -> dict[str, Any]:
    rows = view.query(
        "SELECT data, assets FROM maintenance_files WHERE client_id = ?", (client_id,)
    )
    assert len(rows) == 1
    return rows[0]


def standing(view: BatchView, client_id: str) -> dict[str, Any]:
    columns = ", ".join(STANDING)
    rows = view.query(
        f"SELECT {columns} FROM maintenance_standings WHERE client_id = ? "
        "AND ancestor_id = unit_id",
        (client_id,),
    )
    assert len(rows) == 1
    return rows[0]


class StatementsApartCase(ProjectionCase):
    """Abstract: subclasses give `database_url`."""

    @pytest.fixture
    def written(self, container: Container, projections: ProjectionRunner) -> tuple[str, Any]:
        """A diamond client with five statements, caught up: its id and its bank."""
        ledger = container.ledger
        bank = build_bank(ledger, staff_since=STAFF_SINCE)
        client = register(ledger, bank, at=NOW - timedelta(days=400), tier="diamond")
        for index, amount in enumerate(AMOUNTS):
            as_of = (NOW - timedelta(days=150 - 30 * index)).date()
            ledger.report_assets(client_id=client, amount=amount, as_of=as_of, **by())
        projections.catch_up()
        return client, bank

    def _reports(self, container: Container, bank: Any) -> dict[str, Any]:
        view = container.views.maintenance
        return {
            "at_risk": view.at_risk(bank.branch, as_of=NOW),
            "at_risk_before": view.at_risk(bank.branch, as_of=NOW - timedelta(days=70)),
            "segments": view.segments(bank.branch, "tier", as_of=NOW - timedelta(days=100)),
            "matching": view.matching(bank.branch, {"min_assets": 800000}, as_of=NOW),
        }

    def test_statements_sit_beside_the_file_and_a_contact_reads_their_facts(
        self, container: Container, projections: ProjectionRunner, written: tuple[str, Any]
    ) -> None:
        ledger, view = container.ledger, container.views.by_name["maintenance"]
        client, bank = written
        row = file_row(view, client)
        data, statements = json.loads(row["data"]), json.loads(row["assets"])
        assert "assets" not in data
        assert [entry[2] for entry in statements] == AMOUNTS
        facts = data[FACTS]
        assert facts == facts_of(statements)
        assert facts["latest"][1] == "650000.00" and facts["peak"] == 1200000.0
        # 1,000,000, 1,200,000 and 900,000 are 20% or more above the latest, 650,000.
        assert len(facts["down_until"]) == 3

        # A contact alone: the standing worked out from the file's data, not its statements.
        ledger.log_contact(
            client_id=client, channel="visit", staff_id=bank.director, occurred_at=NOW, **by()
        )
        projections.catch_up()
        assert file_row(view, client) == row  # the contact did not write the file
        kept, reports = standing(view, client), self._reports(container, bank)
        assert kept["assets"] == "650000.00" and kept["peak_value"] == 1200000.0
        assert [item["client_id"] for item in reports["at_risk"]["items"]] == [client]
        # A rebuild works each standing out from the whole files, in memory: the same.
        projections.rebuild(["maintenance"])
        assert standing(view, client) == kept
        assert self._reports(container, bank) == reports

    def test_a_file_written_before_reads_as_before_then_moves_its_statements(
        self, container: Container, projections: ProjectionRunner, written: tuple[str, Any]
    ) -> None:
        ledger, view = container.ledger, container.views.by_name["maintenance"]
        client, bank = written
        kept, reports = standing(view, client), self._reports(container, bank)
        # As an earlier version wrote it: the statements in the file, no facts, no column.
        row = file_row(view, client)
        before = {k: v for k, v in json.loads(row["data"]).items() if k != FACTS}
        before["assets"] = json.loads(row["assets"])
        with view.transaction() as c:
            c.execute(
                view._sql("UPDATE maintenance_files SET data = ? WHERE client_id = ?"),
                (json.dumps(before), client),
            )
            c.execute("ALTER TABLE maintenance_files DROP COLUMN assets")
        again = construct_views(container.settings, ["maintenance"])["maintenance"]
        try:
            with again.transaction() as c:
                assert again.has_column(c, "maintenance_files", "assets")  # type: ignore[attr-defined]
            assert file_row(again, client)["assets"] is None
            assert self._reports(container, bank) == reports
            # A contact: its standing from the file as written before, the same as ever.
            ledger.log_contact(
                client_id=client, channel="visit", staff_id=bank.director, occurred_at=NOW, **by()
            )
            projections.catch_up()
            assert {k: v for k, v in standing(view, client).items() if k != "stable_from"} == {
                k: v for k, v in kept.items() if k != "stable_from"
            }
            # A statement: the file is written again, its statements apart.
            as_of = (NOW - timedelta(days=1)).date()
            ledger.report_assets(client_id=client, amount="640000.00", as_of=as_of, **by())
            projections.catch_up()
            row = file_row(view, client)
            assert "assets" not in json.loads(row["data"])
            assert [e[2] for e in json.loads(row["assets"])] == [*AMOUNTS, "640000.00"]
            assert standing(view, client)["assets"] == "640000.00"
        finally:
            again.factory.close()  # type: ignore[attr-defined]


class TestStatementsApartOnSQLite(StatementsApartCase):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestStatementsApartOnPostgres(StatementsApartCase):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
