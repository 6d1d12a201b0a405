"""Every projection on SQLite and PostgreSQL, from one abstract case per view."""

from __future__ import annotations

import json
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from ledger.bootstrap import Container, build
from ledger.config import Settings
from ledger.domain import Client
from ledger.projections import client_facts, following, rebuild
from ledger.projections.kit import BatchView, utc_text
from ledger.projections.runner import ProjectionError, ProjectionRunner
from support.projection_scenarios import (
    BY,
    LAST_YEAR,
    ProjectionCase,
    assert_tier_counts_match_intervals,
    build_org,
    bulk_clients,
    day,
    dump,
    random_tier_history,
)

NOW = datetime.now(UTC)


# ---- roster and tier growth -------------------------------------------------------------


class RosterCase(ProjectionCase):
    def test_roster_pages_a_subtree_as_of_a_time(
        self, container: Container, projections: ProjectionRunner
    ) -> None:
        app = container.ledger
        build_org(app, day(1, 1))
        bulk_clients(
            app, [(f"C{n:02}", "O1" if n % 2 else "O3", "gold", day(2, 1)) for n in range(10)]
        )
        app.assign(
            client_id="C01", staff_id="M1", reason="r", effective_at=day(3, 1), recorded_by=BY
        )
        app.change_tier(
            client_id="C03", tier="diamond", reason="r", effective_at=day(4, 1), recorded_by=BY
        )
        app.churn(
            client_id="C05", kind="normal", reason="r", effective_at=day(5, 1), recorded_by=BY
        )
        projections.catch_up()
        roster = container.views.roster

        first = roster.roster("S", as_of=day(6, 1), limit=3)
        assert [i["client_id"] for i in first["items"]] == ["C01", "C03", "C05"]
        rest = roster.roster("S", as_of=day(6, 1), limit=3, cursor=first["next_cursor"])
        assert [i["client_id"] for i in rest["items"]] == ["C07", "C09"]
        assert rest["next_cursor"] is None
        assert first["items"][0] == {
            "client_id": "C01",
            "name": "C01",
            "unit_id": "O1",
            "tier": "gold",
            "status": "active",
            "designated_manager": "M1",
        }
        assert roster.roster("S", as_of=day(6, 1), tier="diamond")["items"][0]["client_id"] == "C03"
        assert roster.roster("S", as_of=day(3, 15), tier="diamond")["items"] == []
        assert [
            i["client_id"] for i in roster.roster("B", as_of=day(6, 1), manager_id="M1")["items"]
        ] == ["C01"]
        assert [
            i["client_id"] for i in roster.roster("B", as_of=day(6, 1), status="churned")["items"]
        ] == ["C05"]
        assert roster.roster("B", as_of=day(1, 15))["items"] == []

        summary = roster.roster_summary("D", as_of=day(6, 1))
        assert summary["counts"] == {"standard": 0, "gold": 8, "platinum": 0, "diamond": 1}
        assert summary["vip"] == 9

    def test_the_sub_branch_report_figures(
        self, container: Container, projections: ProjectionRunner
    ) -> None:
        app = container.ledger
        q0 = day(4, 1)
        q1 = day(7, 1)
        before, during = q0 - timedelta(days=10), q0 + timedelta(days=5)
        build_org(app, day(1, 1))
        specs = []

        def add(prefix: str, count: int, unit: str, tier: str, at: datetime) -> None:
            specs.extend((f"{prefix}{n}", unit, tier, at) for n in range(count))

        add("g", 2000, "O1", "gold", before)
        add("h", 1078, "O2", "gold", before)
        add("p", 107, "O1", "platinum", before)
        add("d", 6, "O2", "diamond", before)
        add("ng", 445, "O1", "gold", during)
        add("np", 26, "O2", "platinum", during)
        add("nd", 6, "O1", "diamond", during)
        add("late", 50, "O1", "gold", q1 + timedelta(days=1))
        add("edge", 1, "O1", "gold", q1)
        add("s2g", 100, "O3", "gold", before)
        add("s2p", 10, "O3", "platinum", before)
        add("s2d", 2, "O3", "diamond", before)
        add("s2ng", 10, "O3", "gold", during)
        add("s2nd", 2, "O3", "diamond", during)
        bulk_clients(app, specs)
        # Ten standard clients upgraded in the quarter, three gold ones lost before it.
        upgraded = []
        for n in range(10):
            client = Client.register(
                client_id=f"u{n}",
                name="u",
                unit_id="O2",
                tier="standard",
                recorded_by=BY,
                effective_at=before,
            )
            client.change_tier(tier="gold", reason="r", recorded_by=BY, effective_at=during)
            upgraded.append(client)
        for n in range(3):
            client = Client.register(
                client_id=f"x{n}",
                name="x",
                unit_id="O1",
                tier="gold",
                recorded_by=BY,
                effective_at=before - timedelta(days=30),
            )
            client.churn(kind="normal", reason="r", recorded_by=BY, effective_at=before)
            upgraded.append(client)
        app.save(*upgraded)
        projections.catch_up()

        report = container.views.roster.tier_growth("S", q0, q1)
        assert report["tiers"]["gold"] == {
            "start": 3078,
            "end": 3533,
            "change": 455,
            "growth_rate": 0.1478,
        }
        assert report["tiers"]["platinum"] == {
            "start": 107,
            "end": 133,
            "change": 26,
            "growth_rate": 0.2430,
        }
        assert report["tiers"]["diamond"] == {
            "start": 6,
            "end": 12,
            "change": 6,
            "growth_rate": 1.0,
        }
        assert report["vip"]["change"] == 487
        assert report["vip"]["growth_rate"] == round(487 / 3191, 4)
        assert report["share_of_parent"]["diamond"] == 0.75
        assert [r["unit_id"] for r in report["sibling_ranking"]] == ["S", "S2"]
        assert report["sibling_ranking"][1]["vip_growth_rate"] == round(12 / 112, 4)
        assert container.views.roster.roster_summary("S", as_of=q1)["counts"]["gold"] == 3534

    def test_tier_counts_equal_a_count_of_the_intervals_after_backdated_events(
        self, container: Container, projections: ProjectionRunner
    ) -> None:
        rng = random.Random(5)
        since = NOW - timedelta(days=400)
        build_org(container.ledger, since)
        ids: list[str] = []
        for round_ in "ab":
            ids = random_tier_history(
                container.ledger, rng, clients=12, since=since, steps=50, prefix=round_, earlier=ids
            )
            projections.catch_up()
        view = container.views["roster"]
        units = ["B", "D", "S", "S2", "O1", "O2", "O3"]
        assert assert_tier_counts_match_intervals(view, units, rng, samples=60) > 500
        # A view without counts (built before they were kept) gets exactly these at start.
        kept = dump({"roster": view})
        with view.transaction() as c:
            for table in ("tier_moments", "tier_days", "tier_months"):
                c.execute(f"DELETE FROM roster_{table}")
        view.upgrade()
        assert dump({"roster": view}) == kept


class TestRosterSQLite(RosterCase):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url

    def test_a_caught_up_view_gives_the_planner_statistics(
        self, container: Container, projections: ProjectionRunner
    ) -> None:
        build_org(container.ledger, day(1, 1))
        bulk_clients(container.ledger, [(f"C{n:02}", "O1", "gold", day(2, 1)) for n in range(5)])
        projections.catch_up()
        with container.views["roster"].datastore.transaction(commit=False) as c:
            c.execute("SELECT DISTINCT tbl FROM sqlite_stat1")
            analysed = {row[0] for row in c.fetchall()}
        assert {"roster_clients", "roster_intervals"} <= analysed


class TestRosterPostgres(RosterCase):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url

    def test_a_caught_up_view_gives_the_planner_statistics(
        self, container: Container, projections: ProjectionRunner
    ) -> None:
        build_org(container.ledger, day(1, 1))
        bulk_clients(container.ledger, [(f"C{n:02}", "O1", "gold", day(2, 1)) for n in range(5)])
        projections.catch_up()
        with container.views["roster"].datastore.transaction(commit=False) as c:
            # reltuples stays -1 until the table is first analysed (or vacuumed).
            c.execute(
                "SELECT relname, reltuples FROM pg_class "
                "WHERE relname IN ('roster_clients', 'roster_intervals')"
            )
            counted = {row["relname"]: row["reltuples"] for row in c.fetchall()}
        assert counted == {"roster_clients": 5, "roster_intervals": 5}


# ---- accountability -----------------------------------------------------------------------


class AccountabilityCase(ProjectionCase):
    def _scenario(self, container: Container) -> dict[str, str]:
        app = container.ledger
        build_org(app, day(1, 1))
        # CA: diamond, reassigned 30 days before, downgraded a week before an abnormal churn.
        app.register_client(
            client_id="CA",
            name="a",
            unit_id="O1",
            tier="diamond",
            occurred_at=day(1, 5),
            recorded_by=BY,
        )
        app.assign(
            client_id="CA", staff_id="M1", reason="r", effective_at=day(1, 5), recorded_by=BY
        )
        app.assign(
            client_id="CA", staff_id="M2", reason="r", effective_at=day(5, 16), recorded_by=BY
        )
        app.change_tier(
            client_id="CA", tier="gold", reason="r", effective_at=day(6, 8), recorded_by=BY
        )
        churn_a = app.churn(
            client_id="CA",
            kind="abnormal",
            reason="competitor",
            effective_at=day(6, 15),
            recorded_by=BY,
        )
        # CB: platinum in O2; after its churn is recorded, a backdated reassignment and a
        # backdated head appointment arrive.
        app.register_client(
            client_id="CB",
            name="b",
            unit_id="O2",
            tier="platinum",
            occurred_at=day(1, 5),
            recorded_by=BY,
        )
        app.assign(
            client_id="CB", staff_id="M1", reason="r", effective_at=day(1, 5), recorded_by=BY
        )
        churn_b = app.churn(
            client_id="CB", kind="abnormal", reason="moved", effective_at=day(6, 15), recorded_by=BY
        )
        app.assign(
            client_id="CB", staff_id="M3", reason="late", effective_at=day(5, 1), recorded_by=BY
        )
        app.appoint_head(unit_id="O2", staff_id="H2", effective_at=day(6, 1), recorded_by=BY)
        # CC: a normal churn of a gold client, out of scope, in S2.
        app.register_client(
            client_id="CC",
            name="c",
            unit_id="O3",
            tier="gold",
            occurred_at=day(1, 5),
            recorded_by=BY,
        )
        app.churn(
            client_id="CC", kind="normal", reason="died", effective_at=day(6, 20), recorded_by=BY
        )
        return {"A": churn_a.event_id, "B": churn_b.event_id}

    def test_intervals_and_who_was_responsible(
        self, container: Container, projections: ProjectionRunner
    ) -> None:
        self._scenario(container)
        projections.catch_up()
        view = container.views.accountability
        intervals = view.client_intervals("CA")["intervals"]
        assert intervals == [
            {"role": "client_manager", "staff_id": "M1", "from": day(1, 5), "to": day(5, 16)},
            {"role": "client_manager", "staff_id": "M2", "from": day(5, 16), "to": None},
        ]
        march = view.responsible("CA", day(3, 1))
        assert march["designated_manager"] == "M1"
        assert march["unit_head"] == "H1"
        assert march["team"] == {"client_manager": "M1", "outlet_director": "H1"}
        assert view.responsible("CB", day(3, 1))["unit_head"] is None
        assert view.responsible("CB", day(6, 2))["unit_head"] == "H2"

    def test_churn_cases_reflect_what_was_true_at_the_churn(
        self, container: Container, projections: ProjectionRunner
    ) -> None:
        cases = self._scenario(container)
        projections.catch_up()
        view = container.views.accountability
        by_id = {c["case_id"]: c for c in view.churn_cases()["items"]}
        a, b = by_id[cases["A"]], by_id[cases["B"]]
        assert a["accountability_tier"] == "diamond"
        assert a["in_scope"] is True
        assert (a["designated_manager"], a["unit_head"], a["prior_holders"]) == ("M2", "H1", ["M1"])
        assert a["fiscal_year"] == LAST_YEAR
        assert b["designated_manager"] == "M3"
        assert b["prior_holders"] == ["M1"]
        assert b["unit_head"] == "H2"
        assert {c["client_id"] for c in view.churn_cases(unit_id="S")["items"]} == {"CA", "CB"}
        assert [c["client_id"] for c in view.churn_cases(unit_id="S2")["items"]] == ["CC"]
        assert len(view.churn_cases(in_scope=True, fiscal_year=LAST_YEAR)["items"]) == 2
        assert view.churn_cases(in_scope=True, fiscal_year=LAST_YEAR + 1)["items"] == []
        assert [c["client_id"] for c in view.churn_cases(kind="normal")["items"]] == ["CC"]

    def test_the_latest_determination_stands_and_all_are_kept(
        self, container: Container, projections: ProjectionRunner
    ) -> None:
        cases = self._scenario(container)
        app = container.ledger
        app.determine(
            client_id="CA", case_id=cases["A"], outcome="waived", reason="first", recorded_by="c"
        )
        app.determine(
            client_id="CA", case_id=cases["A"], outcome="confirmed", reason="again", recorded_by="c"
        )
        projections.catch_up()
        case = container.views.accountability.churn_case(cases["A"])
        assert case["determination"]["outcome"] == "confirmed"
        assert [d["outcome"] for d in case["determination_history"]] == ["waived", "confirmed"]

    def test_staff_counts_per_fiscal_year(
        self, container: Container, projections: ProjectionRunner
    ) -> None:
        self._scenario(container)
        projections.catch_up()
        view = container.views.accountability
        assert view.staff_record("M1", LAST_YEAR) == {
            "staff_id": "M1",
            "fiscal_year": LAST_YEAR,
            "as_designated_manager": 0,
            "as_unit_head": 0,
            "as_prior_holder": 2,
            "confirmed": {"as_designated_manager": 0, "as_unit_head": 0},
            "waived": {"as_designated_manager": 0, "as_unit_head": 0},
            "pending": {"as_designated_manager": 0, "as_unit_head": 0},
        }
        assert view.staff_record("M2", LAST_YEAR)["as_designated_manager"] == 1
        assert view.staff_record("H2", LAST_YEAR)["as_unit_head"] == 1
        assert view.staff_record("M2", LAST_YEAR + 1)["as_designated_manager"] == 0


class TestAccountabilitySQLite(AccountabilityCase):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestAccountabilityPostgres(AccountabilityCase):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url


# ---- reports ------------------------------------------------------------------------------


class ReportsCase(ProjectionCase):
    def test_completeness_counts_active_vip_clients_and_honours_retractions(
        self, container: Container, projections: ProjectionRunner
    ) -> None:
        app = container.ledger
        build_org(app, day(1, 1))
        full = {"address": "a", "phone": "p", "employer": "e"}
        for client_id, tier in (("P1", "gold"), ("P2", "platinum"), ("P3", "standard")):
            app.register_client(
                client_id=client_id,
                name=client_id,
                unit_id="O1",
                tier=tier,
                occurred_at=day(1, 5),
                recorded_by=BY,
            )
            app.update_profile(
                client_id=client_id, changes=full, effective_at=day(1, 6), recorded_by=BY
            )
        cleared = app.update_profile(
            client_id="P2", changes={"employer": None}, effective_at=day(1, 7), recorded_by=BY
        )
        projections.catch_up()
        report = container.views.reports.completeness("S", as_of=NOW)
        assert (report["vip_active"], report["complete"], report["rate"]) == (2, 1, 0.5)
        assert report["meets_target"] is False
        assert report["by_unit"] == [{"unit_id": "O1", "vip_active": 2, "complete": 1, "rate": 0.5}]

        app.retract(client_id="P2", event_id=cleared.event_id, reason="typo", recorded_by=BY)
        projections.catch_up()
        report = container.views.reports.completeness("S", as_of=NOW, target=0.9)
        assert (report["complete"], report["rate"], report["meets_target"]) == (2, 1.0, True)

    def test_a_view_that_kept_a_row_per_profile_field_is_upgraded_to_a_row_per_update(
        self, container: Container, projections: ProjectionRunner, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        app = container.ledger
        build_org(app, day(1, 1))
        for client_id in ("U1", "U2"):
            app.register_client(
                client_id=client_id,
                name="u",
                unit_id="O1",
                tier="gold",
                occurred_at=day(1, 5),
                recorded_by=BY,
            )
        app.update_profile(
            client_id="U2",
            changes={"address": "北京市朝阳区", "phone": "p", "employer": "银行"},
            effective_at=day(1, 6),
            recorded_by=BY,
        )
        monkeypatch.setattr(client_facts, "CHUNK", 1)  # a page per client
        app.update_profile(
            client_id="U1",
            changes={"address": "a", "phone": "p", "employer": "e", "risk_appetite": "balanced"},
            effective_at=day(1, 6),
            recorded_by=BY,
        )
        cleared = app.update_profile(
            client_id="U1", changes={"phone": None}, effective_at=day(1, 7), recorded_by=BY
        )
        projections.catch_up()
        view = projections.views["reports"]
        kept = dump({"reports": view})["reports_profile_updates"]
        # The layout of earlier versions: a row per key-information field of each update.
        with view.transaction() as c:
            c.execute(
                "CREATE TABLE reports_profile (aid TEXT, version BIGINT, field TEXT, seq BIGINT, "
                "effective_at TEXT, value TEXT, PRIMARY KEY (aid, version, field))"
            )
            for row in view.fetch(c, "SELECT * FROM reports_profile_updates"):
                for field, is_set in json.loads(row["key_info"]).items():
                    # Those rows held the value itself, NULL where the update cleared it.
                    value = f"{field} value" if is_set else None
                    view.execute(
                        c,
                        "INSERT INTO reports_profile VALUES (?, ?, ?, ?, ?, ?)",
                        (row["aid"], row["version"], field, row["seq"], row["effective_at"], value),
                    )
            view.execute(c, "DELETE FROM reports_profile_updates")
        view.upgrade()
        assert container.views.reports.completeness("O1", as_of=NOW)["complete"] == 1  # U2
        assert dump({"reports": view})["reports_profile_updates"] == kept
        with view.read_transaction() as c:
            assert not view.has_table(c, "reports_profile")
        view.upgrade()  # nothing left to do
        # The upgraded rows serve a retraction as the view's own do.
        app.retract(client_id="U1", event_id=cleared.event_id, reason="typo", recorded_by=BY)
        projections.catch_up()
        assert container.views.reports.completeness("O1", as_of=NOW)["complete"] == 2

    def test_overdue_contacts_follow_the_cadence_and_retractions(
        self, container: Container, projections: ProjectionRunner
    ) -> None:
        app = container.ledger
        build_org(app, NOW - timedelta(days=400))
        app.register_client(
            client_id="G",
            name="g",
            unit_id="O1",
            tier="gold",
            occurred_at=NOW - timedelta(days=300),
            recorded_by=BY,
        )
        app.assign(
            client_id="G",
            staff_id="M1",
            reason="r",
            effective_at=NOW - timedelta(days=300),
            recorded_by=BY,
        )
        app.log_contact(
            client_id="G",
            channel="visit",
            staff_id="M1",
            occurred_at=NOW - timedelta(days=100),
            recorded_by=BY,
        )
        recent = app.log_contact(
            client_id="G",
            channel="phone",
            staff_id="M1",
            occurred_at=NOW - timedelta(days=20),
            recorded_by=BY,
        )
        app.register_client(
            client_id="N",
            name="n",
            unit_id="O2",
            tier="standard",
            occurred_at=NOW - timedelta(days=300),
            recorded_by=BY,
        )
        projections.catch_up()
        assert container.views.reports.overdue_contacts("S", as_of=NOW)["items"] == []

        app.retract(client_id="G", event_id=recent.event_id, reason="wrong client", recorded_by=BY)
        projections.catch_up()
        items = container.views.reports.overdue_contacts("S", as_of=NOW)["items"]
        assert [(i["client_id"], i["days_overdue"], i["designated_manager"]) for i in items] == [
            ("G", 10, "M1")
        ]
        assert items[0]["last_contact_at"] == NOW - timedelta(days=100)

    def test_orphaned_clients_after_their_manager_departs(
        self, container: Container, projections: ProjectionRunner
    ) -> None:
        app = container.ledger
        build_org(app, NOW - timedelta(days=400))
        for client_id in ("K1", "K2"):
            app.register_client(
                client_id=client_id,
                name="k",
                unit_id="O1",
                tier="platinum",
                occurred_at=NOW - timedelta(days=300),
                recorded_by=BY,
            )
            app.assign(
                client_id=client_id,
                staff_id="M3",
                reason="r",
                effective_at=NOW - timedelta(days=300),
                recorded_by=BY,
            )
        departed_at = NOW - timedelta(days=10)
        app.depart_staff(staff_id="M3", reason="left", effective_at=departed_at, recorded_by=BY)
        app.assign(
            client_id="K2",
            staff_id="M1",
            reason="cover",
            effective_at=NOW - timedelta(days=5),
            recorded_by=BY,
        )
        projections.catch_up()
        items = container.views.reports.orphaned_clients("B", as_of=NOW)["items"]
        assert items == [
            {"client_id": "K1", "tier": "platinum", "former_manager": "M3", "since": departed_at}
        ]
        assert container.views.reports.orphaned_clients("S2", as_of=NOW)["items"] == []

    def test_manager_portfolio_credits_asset_changes_to_the_manager_of_the_day(
        self, container: Container, projections: ProjectionRunner
    ) -> None:
        app = container.ledger
        build_org(app, day(1, 1))
        app.register_client(
            client_id="W",
            name="w",
            unit_id="O1",
            tier="gold",
            occurred_at=day(1, 5),
            recorded_by=BY,
        )
        app.assign(client_id="W", staff_id="M1", reason="r", effective_at=day(1, 5), recorded_by=BY)
        app.report_assets(client_id="W", amount="1000.00", as_of=day(2, 1).date(), recorded_by=BY)
        raised = app.report_assets(
            client_id="W", amount="1500.00", as_of=day(3, 1).date(), recorded_by=BY
        )
        app.assign(client_id="W", staff_id="M2", reason="r", effective_at=day(4, 1), recorded_by=BY)
        app.report_assets(client_id="W", amount="1200.00", as_of=day(5, 1).date(), recorded_by=BY)
        projections.catch_up()
        reports = container.views.reports
        m1 = reports.manager_portfolio("M1", day(1, 1), day(12, 31))
        m2 = reports.manager_portfolio("M2", day(1, 1), day(12, 31))
        # The first statement (1000.00) is the baseline, not growth.
        assert m1["assets_change"] == Decimal("500.00")
        assert m2["assets_change"] == Decimal("-300.00")
        assert m2["clients"] == {"standard": 0, "gold": 1, "platinum": 0, "diamond": 0}
        assert m1["clients"]["gold"] == 0
        assert reports.manager_portfolio("M1", day(2, 15), day(12, 31))["assets_change"] == Decimal(
            "500.00"
        )

        app.retract(client_id="W", event_id=raised.event_id, reason="wrong", recorded_by=BY)
        projections.catch_up()
        assert reports.manager_portfolio("M1", day(1, 1), day(12, 31))["assets_change"] == Decimal(
            "0"
        )
        assert reports.manager_portfolio("M2", day(1, 1), day(12, 31))["assets_change"] == Decimal(
            "200.00"
        )

        # A backdated reassignment moves the credit for changes after it.
        app.assign(
            client_id="W", staff_id="M3", reason="late", effective_at=day(4, 15), recorded_by=BY
        )
        projections.catch_up()
        assert reports.manager_portfolio("M2", day(1, 1), day(12, 31))["assets_change"] == Decimal(
            "0"
        )
        assert reports.manager_portfolio("M3", day(1, 1), day(12, 31))["assets_change"] == Decimal(
            "200.00"
        )

        # A view built when the first statement was credited in full loses that credit at
        # its next start.
        view = projections.views["reports"]
        with view.transaction() as c:
            (first,) = view.fetch(
                c,
                "SELECT aid, version FROM reports_assets WHERE seq = "
                "(SELECT MIN(seq) FROM reports_assets)",
            )
            view.execute(
                c,
                "INSERT INTO reports_asset_changes VALUES (?, ?, ?, ?, ?)",
                (first["aid"], first["version"], utc_text(day(2, 1)), "1000.00", "M1"),
            )
            view.execute(c, "DROP TABLE reports_baselines_uncredited")
        assert reports.manager_portfolio("M1", day(1, 1), day(12, 31))["assets_change"] == Decimal(
            "1000.00"
        )
        view.upgrade()
        view.upgrade()  # once only
        assert reports.manager_portfolio("M1", day(1, 1), day(12, 31))["assets_change"] == Decimal(
            "0"
        )


class TestReportsSQLite(ReportsCase):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestReportsPostgres(ReportsCase):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url


# ---- runners -------------------------------------------------------------------------------


class RunnerCase(ProjectionCase):
    def _write_clients(self, container: Container, start: int, count: int) -> int:
        app = container.ledger
        position = 0
        for n in range(start, start + count):
            client_id = f"R{n:04}"
            app.register_client(
                client_id=client_id,
                name="r",
                unit_id="O1",
                tier="gold",
                occurred_at=day(2, 1),
                recorded_by=BY,
            )
            app.assign(
                client_id=client_id,
                staff_id="M1",
                reason="r",
                effective_at=day(2, 2),
                recorded_by=BY,
            )
            position = app.log_contact(
                client_id=client_id,
                channel="visit",
                staff_id="M1",
                occurred_at=day(2, 3),
                recorded_by=BY,
            ).position
        return position

    def test_a_following_runner_lets_a_reader_wait_for_its_own_write(
        self, container: Container, projections: ProjectionRunner, database_url: str
    ) -> None:
        build_org(container.ledger, day(1, 1))
        projections.start()
        written = container.ledger.register_client(
            client_id="RYW",
            name="r",
            unit_id="O1",
            tier="diamond",
            occurred_at=day(2, 1),
            recorded_by=BY,
        )
        assert projections.wait(written.position, timeout=10)
        assert container.views.roster.roster("O1", as_of=NOW)["items"][0]["client_id"] == "RYW"
        # A process that does not run the projections waits on their tracking rows.
        other = build(Settings(database_url=database_url))
        try:
            elsewhere = other.start_projections(follow=False)
            later = container.ledger.change_tier(
                client_id="RYW", tier="gold", reason="r", effective_at=day(3, 1), recorded_by=BY
            )
            assert elsewhere.wait(later.position, timeout=10)
            assert other.views.roster.roster("O1", as_of=NOW)["items"][0]["tier"] == "gold"
            assert elsewhere.wait(later.position + 1000, timeout=0.3) is False
        finally:
            other.close()

    def test_rebuilding_gives_exactly_the_rows_of_incremental_processing(
        self, container: Container, projections: ProjectionRunner
    ) -> None:
        build_org(container.ledger, day(1, 1))
        projections.start()
        end = self._write_clients(container, 0, 15)
        app = container.ledger
        app.change_tier(
            client_id="R0001", tier="diamond", reason="r", effective_at=day(3, 1), recorded_by=BY
        )
        app.assign(
            client_id="R0001", staff_id="M2", reason="back", effective_at=day(2, 10), recorded_by=BY
        )
        end = app.churn(
            client_id="R0001", kind="abnormal", reason="r", effective_at=day(4, 1), recorded_by=BY
        ).position
        assert projections.wait(end, timeout=20)
        incremental = dump(projections.views)
        assert projections.rebuild() == container.ledger.position
        assert dump(projections.views) == incremental
        assert set(projections.positions().values()) == {container.ledger.position}

    def test_a_batch_that_registers_a_client_gives_the_rows_of_one_event_at_a_time(
        self, container: Container, projections: ProjectionRunner
    ) -> None:
        """A client registered in a batch is worked out from memory (no reading back);
        a retraction in the same batch sends it back to the tables."""
        app = container.ledger
        build_org(app, day(1, 1))
        self._write_clients(container, 0, 1)  # R0000: registered in an earlier batch
        projections.start()
        positions = []
        full = {"address": "a", "phone": "p", "employer": "e"}
        for client_id in ("F1", "F2"):
            positions.append(
                app.register_client(
                    client_id=client_id,
                    name=client_id,
                    unit_id="O1",
                    tier="gold",
                    occurred_at=day(3, 1),
                    recorded_by=BY,
                ).position
            )
        writes = [
            lambda: app.assign(
                client_id="F1", staff_id="M1", reason="r", effective_at=day(3, 1), recorded_by=BY
            ),
            lambda: app.update_profile(
                client_id="F1", changes=full, effective_at=day(3, 2), recorded_by=BY
            ),
            lambda: app.update_profile(
                client_id="F1", changes={"phone": None}, effective_at=day(3, 1), recorded_by=BY
            ),
            lambda: app.report_assets(
                client_id="F1", amount="900.00", as_of=day(4, 1).date(), recorded_by=BY
            ),
            lambda: app.report_assets(
                client_id="F1", amount="400.00", as_of=day(3, 20).date(), recorded_by=BY
            ),
            # A backdated reassignment moves the credit for the change of 04-01.
            lambda: app.assign(
                client_id="F1", staff_id="M2", reason="r", effective_at=day(3, 25), recorded_by=BY
            ),
            lambda: app.update_profile(
                client_id="F2", changes=full, effective_at=day(3, 2), recorded_by=BY
            ),
            lambda: app.report_assets(
                client_id="F2", amount="100.00", as_of=day(3, 3).date(), recorded_by=BY
            ),
            lambda: app.update_profile(
                client_id="R0000", changes=full, effective_at=day(3, 2), recorded_by=BY
            ),
            lambda: app.report_assets(
                client_id="R0000", amount="50.00", as_of=day(3, 3).date(), recorded_by=BY
            ),
        ]
        results = []
        for write in writes:
            results.append(write())
            positions.append(results[-1].position)
            assert projections.wait(positions[-1], timeout=10)
        # F2's profile update and assets report are retracted, each its own batch here.
        for retracted in (results[6], results[7]):
            end = app.retract(
                client_id="F2", event_id=retracted.event_id, reason="r", recorded_by=BY
            ).position
            assert projections.wait(end, timeout=10)
        one_at_a_time = dump(projections.views)
        # The rebuild applies all of it in one batch.
        assert projections.rebuild() == container.ledger.position
        assert dump(projections.views) == one_at_a_time
        report = container.views.reports.completeness("O1", as_of=NOW)
        # F1's phone was cleared before the full update took effect; F2's update is gone.
        assert (report["vip_active"], report["complete"]) == (3, 2)
        m1 = container.views.reports.manager_portfolio("M1", day(1, 1), day(12, 31))
        m2 = container.views.reports.manager_portfolio("M2", day(1, 1), day(12, 31))
        # F1's 400 and R0000's 50 are baselines (no credit); M2: F1's rise to 900 after
        # the reassignment.
        assert (m1["assets_change"], m2["assets_change"]) == (Decimal("0"), Decimal("500.00"))
        assert one_at_a_time["reports_asset_changes"] and all(
            "F2" not in str(row) for row in one_at_a_time["reports_asset_changes"]
        )

    def test_a_rebuild_writes_without_the_query_indexes_and_builds_them_once_caught_up(
        self, container: Container, projections: ProjectionRunner, database_url: str
    ) -> None:
        build_org(container.ledger, day(1, 1))
        self._write_clients(container, 0, 3)
        projections.catch_up()
        roster = container.views["roster"]
        wanted = {"roster_clients_id", "roster_clients_unit_aid", "roster_intervals_at"}
        assert wanted <= _indexes(roster, database_url)
        during: list[set[str]] = []
        handlers = projections.projections["roster"].handlers
        register = handlers[Client.Registered]

        def spying(*args: Any, **kwargs: Any) -> None:
            during.append(_indexes(roster, database_url))
            register(*args, **kwargs)

        handlers[Client.Registered] = spying
        try:
            projections.rebuild(["roster"])
        finally:
            handlers[Client.Registered] = register
        assert during and all(not (wanted & present) for present in during)
        assert wanted <= _indexes(roster, database_url)
        assert container.views.roster.roster("O1", as_of=NOW)["items"][0]["client_id"] == "R0000"
        assert not roster.rebuilding

    def test_a_rebuild_that_cannot_start_leaves_the_view_as_it_was(
        self,
        container: Container,
        projections: ProjectionRunner,
        database_url: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        build_org(container.ledger, day(1, 1))
        self._write_clients(container, 0, 2)
        projections.catch_up()
        roster = container.views["roster"]
        before = dump({"roster": roster})
        wanted = {"roster_clients_id", "roster_clients_unit_aid", "roster_intervals_at"}

        def busy() -> None:
            raise RuntimeError("database is locked")

        monkeypatch.setattr(roster, "reset", busy)
        with pytest.raises(RuntimeError, match="locked"):
            projections.rebuild(["roster"])
        assert not roster.rebuilding
        assert wanted <= _indexes(roster, database_url)
        assert dump({"roster": roster}) == before
        # The reports view, started before the roster failed, is not left rebuilding:
        # emptied, it is replayed by the next catch-up.
        reports = projections.views["reports"]
        reports_before = dump({"reports": reports})
        with pytest.raises(RuntimeError, match="locked"):
            projections.rebuild(["reports", "roster"])
        assert not any(view.rebuilding for view in projections.views.values())
        assert {"reports_asset_changes_manager"} <= _indexes(reports, database_url)
        projections.catch_up()
        assert dump({"reports": reports}) == reports_before
        # Counts are kept up as events come, as before the attempt.
        container.ledger.register_client(
            client_id="LATE",
            name="l",
            unit_id="O1",
            tier="gold",
            occurred_at=day(3, 1),
            recorded_by=BY,
        )
        projections.catch_up()
        assert container.views.roster.roster_summary("O1", as_of=NOW)["counts"]["gold"] == 3

    def test_registrations_stored_as_two_rows_by_an_older_view_read_the_same(
        self, container: Container, projections: ProjectionRunner
    ) -> None:
        app = container.ledger
        build_org(app, day(1, 1))
        self._write_clients(container, 0, 2)
        projections.catch_up()
        roster = container.views["roster"]
        summary = container.views.roster.roster_summary("O1", as_of=NOW, known_at=datetime.now(UTC))
        assert summary["counts"]["gold"] == 2
        # The layout of earlier versions: a registration as a tier row and a status row.
        with roster.transaction() as c:
            for row in roster.fetch(c, "SELECT * FROM roster_changes WHERE field = 'registered'"):
                roster.execute(
                    c,
                    "INSERT INTO roster_changes (aid, seq, field, effective_at, value) "
                    "VALUES (?, ?, 'status', ?, 'active')",
                    (row["aid"], row["seq"], row["effective_at"]),
                )
            roster.execute(c, "UPDATE roster_changes SET field = 'tier' WHERE field = 'registered'")
        known = datetime.now(UTC)
        assert (
            container.views.roster.roster_summary("O1", as_of=NOW, known_at=known)["counts"]
            == (summary["counts"])
        )
        # A backdated change refolds the client from its old rows and the new one.
        app.change_tier(
            client_id="R0000", tier="diamond", reason="r", effective_at=day(2, 2), recorded_by=BY
        )
        projections.catch_up()
        items = {i["client_id"]: i for i in container.views.roster.roster("O1", as_of=NOW)["items"]}
        assert (items["R0000"]["tier"], items["R0000"]["status"]) == ("diamond", "active")
        assert container.views.roster.roster_summary("O1", as_of=NOW)["counts"]["diamond"] == 1
        # As known before the change: both still gold.
        then = container.views.roster.roster_summary("O1", as_of=NOW, known_at=known)
        assert then["counts"] == summary["counts"]

    def test_rebuilding_in_a_process_per_view_gives_the_same_rows(
        self, container: Container, projections: ProjectionRunner, database_url: str
    ) -> None:
        build_org(container.ledger, day(1, 1))
        end = self._write_clients(container, 0, 5)
        projections.catch_up()
        incremental = dump(projections.views)
        assert container.rebuild_in_processes() == dict.fromkeys(projections.views, end)
        assert dump(projections.views) == incremental

    def test_a_runner_far_behind_catches_up_in_processes_then_follows(
        self, container: Container, projections: ProjectionRunner, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        build_org(container.ledger, day(1, 1))
        end = self._write_clients(container, 0, 5)
        projections.catch_up()
        incremental = dump(projections.views)
        for view in projections.views.values():
            view.reset()
        monkeypatch.setattr(following, "CATCH_UP_AT_LEAST", 1)
        monkeypatch.setattr(following, "CATCH_UP_IN_PROCESSES_AT_LEAST", 1)
        monkeypatch.setattr(rebuild, "usable_cores", lambda: 2)
        elsewhere = projections.catch_up_elsewhere
        assert elsewhere is not None
        reached: list[dict[str, int]] = []

        def spying(names: list[str], stopping: threading.Event) -> None:
            elsewhere(names, stopping)
            reached.append(projections.positions())

        projections.catch_up_elsewhere = spying
        projections.start()
        deadline = time.monotonic() + 60
        while not reached and time.monotonic() < deadline:
            time.sleep(0.05)
        assert projections.wait(end, timeout=10)
        # The processes caught every view up; the rows are those of one process.
        assert reached == [dict.fromkeys(projections.views, end)]
        assert dump(projections.views) == incremental
        later = self._write_clients(container, 5, 1)
        assert projections.wait(later, timeout=10)

    def test_stopping_mid_stream_and_restarting_applies_every_event_once(
        self, container: Container, projections: ProjectionRunner
    ) -> None:
        build_org(container.ledger, day(1, 1))
        projections.start()
        # The stream pauses half way until following is stopped, so the stop falls inside
        # it whatever the timing (a pull could take the whole stream once writes got faster).
        stopped = threading.Event()

        def stream() -> None:
            self._write_clients(container, 0, 20)
            stopped.wait(20)
            self._write_clients(container, 20, 20)

        writer = threading.Thread(target=stream)
        writer.start()
        while projections.positions()["reports"] < 40:
            threading.Event().wait(0.01)
        projections.stop()
        stopped_at = projections.positions()
        stopped.set()
        writer.join()
        assert min(stopped_at.values()) < container.ledger.position
        projections.start()
        end = self._write_clients(container, 40, 5)
        assert projections.wait(end, timeout=20)
        resumed = dump(projections.views)
        assert len(resumed["reports_contacts"]) == 45
        projections.rebuild()
        assert dump(projections.views) == resumed

    def test_a_follower_stops_rather_than_skip_events_when_its_view_is_reset_elsewhere(
        self, container: Container, projections: ProjectionRunner, database_url: str
    ) -> None:
        build_org(container.ledger, day(1, 1))
        projections.start()
        assert projections.wait(self._write_clients(container, 0, 1), timeout=10)
        other = build(Settings(database_url=database_url))
        try:
            other.views["roster"].reset()
        finally:
            other.close()
        later = self._write_clients(container, 1, 1)
        with pytest.raises(ProjectionError, match="reset by another process"):
            projections.wait(later, timeout=10)
        assert projections.positions()["roster"] == 0


def _indexes(view: BatchView, database_url: str) -> set[str]:
    if database_url.startswith("sqlite"):
        rows = view.query("SELECT name FROM sqlite_master WHERE type = 'index'")
        return {r["name"] for r in rows}
    return {r["indexname"] for r in view.query("SELECT indexname FROM pg_indexes")}


class TestRunnerSQLite(RunnerCase):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestRunnerPostgres(RunnerCase):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
