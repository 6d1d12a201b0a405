"""The read models and integrity over HTTP, through the real app, on SQLite and PostgreSQL:
rosters, accountability, reports, `after=`, the hash chain's digest, and time travel."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from ledger.bootstrap import Container, build
from ledger.config import Settings
from support.api_world import (
    ADMIN,
    SettableClock,
    World,
    assert_problem,
    at,
    health_at,
    new_id,
    running_app,
)

FAR = 10**12


def ok(answer) -> dict:
    assert answer.status_code == 200, answer.text
    return answer.json()


class ReadModelContract:
    """Every test runs once per store; subclasses provide `database_url`."""

    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def app(self, database_url: str) -> Iterator[tuple[TestClient, Container]]:
        # A position beyond the log is refused at once, whatever the wait; a write's own is
        # waited for up to 2 s (0.3 s was short of a loaded PostgreSQL once: a CI run).
        with running_app(database_url, read_wait_seconds=2) as running:
            yield running

    @pytest.fixture
    def world(self, app: tuple[TestClient, Container]) -> World:
        return World(app[0]).build()

    def get(self, world: World, path: str, headers: dict | None = None, **params) -> dict:
        params.setdefault("after", world.api.get("/v1/health").json()["position"])
        return ok(world.api.get(path, params=params, headers=headers or ADMIN))

    # ---- after= ---------------------------------------------------------------------

    def test_after_a_write_the_read_models_include_it(self, world: World) -> None:
        client_id = world.client(unit="O2", tier="gold")
        tier = world.post(
            f"/v1/clients/{client_id}/tier-changes",
            {"tier": "diamond", "reason": "assets", "effective_at": at(5)},
        )
        summary = ok(
            world.api.get(
                "/v1/rosters/summary",
                params={"unit_id": world["O2"], "after": tier["position"]},
                headers=ADMIN,
            )
        )
        assert summary["counts"] == {"standard": 0, "gold": 0, "platinum": 0, "diamond": 1}
        assert summary["vip"] == 1
        # The read waited for the roster alone; every other view gets there too.
        health = health_at(world.api, tier["position"])
        assert set(health["projections"]) == {
            "roster",
            "accountability",
            "reports",
            "audit",
            "maintenance",
        }

    def test_a_position_never_reached_is_503_with_retry_after(self, world: World) -> None:
        for path, params in (
            ("/v1/rosters", {"unit_id": world["O1"]}),
            ("/v1/reports/orphaned-clients", {"unit_id": world["O1"]}),
            ("/v1/accountability/churn-cases", {}),
        ):
            answer = world.api.get(path, params={**params, "after": FAR}, headers=ADMIN)
            body = assert_problem(answer, 503)
            assert str(FAR) in body["detail"]
            assert int(answer.headers["retry-after"]) >= 1

    def test_a_refused_caller_is_not_kept_waiting(self, world: World) -> None:
        answer = world.api.get("/v1/rosters", params={"unit_id": world["O1"], "after": FAR})
        assert_problem(answer, 401)

    # ---- rosters --------------------------------------------------------------------

    def test_the_roster_filters_and_pages_through_every_client(self, world: World) -> None:
        clients = sorted(world.client(unit="O2", tier="gold") for _ in range(7))
        other = world.client(unit="O2", tier="platinum")
        last = world.post(
            f"/v1/clients/{clients[0]}/assignments",
            {"staff_id": world["M1"], "reason": "name list", "effective_at": at(1)},
        )
        seen, cursor, pages = [], None, 0
        while True:
            params = {"unit_id": world["S1"], "tier": "gold", "limit": 3, "after": last["position"]}
            if cursor:
                params["cursor"] = cursor
            page = ok(world.api.get("/v1/rosters", params=params, headers=ADMIN))
            pages += 1
            assert len(page["items"]) <= 3
            seen += [item["client_id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert (seen, pages) == (clients, 3)
        assert other not in seen
        first = self.get(world, "/v1/rosters", unit_id=world["O2"], manager_id=world["M1"])
        assert first["items"] == [
            {
                "client_id": clients[0],
                "name": "Wang Fang",
                "unit_id": world["O2"],
                "tier": "gold",
                "status": "active",
                "designated_manager": world["M1"],
            }
        ]
        before = self.get(world, "/v1/rosters", unit_id=world["O2"], as_of=at(-0.5))
        assert before == {"items": [], "next_cursor": None}

    def test_the_summary_counts_active_clients_of_the_subtree(self, world: World) -> None:
        world.client(unit="O1", tier="gold")
        world.client(unit="O2", tier="platinum")
        lost = world.client(unit="O2", tier="diamond")
        world.client(unit="O3", tier="gold")
        world.post(
            f"/v1/clients/{lost}/churn",
            {"kind": "normal", "reason": "moved", "effective_at": at(30)},
        )
        now = self.get(world, "/v1/rosters/summary", unit_id=world["S1"])
        assert now["counts"] == {"standard": 0, "gold": 1, "platinum": 1, "diamond": 0}
        assert (now["unit_id"], now["vip"]) == (world["S1"], 2)
        then = self.get(world, "/v1/rosters/summary", unit_id=world["B"], as_of=at(10))
        assert then["counts"] == {"standard": 0, "gold": 2, "platinum": 1, "diamond": 1}

    # ---- accountability -------------------------------------------------------------

    def test_accountability_answers_intervals_and_who_was_responsible(self, world: World) -> None:
        client_id = world.client(unit="O1", tier="gold")
        world.post(
            f"/v1/units/{world['O1']}/head", {"staff_id": world["M1"], "effective_at": at(0)}
        )
        for staff, day in (("M1", 1), ("M3", 20)):
            world.post(
                f"/v1/clients/{client_id}/assignments",
                {"staff_id": world[staff], "reason": "r", "effective_at": at(day)},
            )
        record = self.get(world, f"/v1/accountability/clients/{client_id}")
        managers = [i for i in record["intervals"] if i["role"] == "client_manager"]
        assert [(i["staff_id"], i["from"][:10], i["to"]) for i in managers] == [
            (world["M1"], at(1)[:10], managers[0]["to"]),
            (world["M3"], at(20)[:10], None),
        ]
        assert managers[0]["to"][:10] == at(20)[:10]
        then = self.get(world, "/v1/accountability/responsible", client_id=client_id, at=at(10))
        assert (then["designated_manager"], then["unit_head"]) == (world["M1"], world["M1"])
        assert then["team"]["client_manager"] == world["M1"]

    def test_a_churn_case_carries_the_latest_determination(self, world: World) -> None:
        client_id, case_id = world.churned_client(unit="O1", tier="diamond")
        _, compliance = world.key("compliance")
        path = f"/v1/accountability/churn-cases/{case_id}/determinations"
        # No after=: a case the read model has not seen yet waits for the log's end.
        first = world.api.post(
            path,
            json={"outcome": "confirmed", "reason": "no retention call"},
            headers=compliance,
        )
        assert first.status_code == 201, first.text
        assert (first.json()["id"], first.json()["type"]) == (client_id, "ChurnDetermined")
        wrong = world.api.post(
            path,
            json={"outcome": "waived", "reason": "r", "client_id": world.client()},
            headers=ADMIN,
        )
        assert assert_problem(wrong, 422)["errors"][0]["field"] == "client_id"
        second = world.post(path, {"outcome": "waived", "reason": "client emigrated"})
        cases = self.get(
            world,
            "/v1/accountability/churn-cases",
            unit_id=world["S1"],
            in_scope="true",
            kind="abnormal",
            after=second["position"],
        )["items"]
        assert [c["case_id"] for c in cases] == [case_id]
        case = cases[0]
        assert (case["client_id"], case["accountability_tier"]) == (client_id, "diamond")
        assert case["designated_manager"] == world["M1"]
        assert case["determination"]["outcome"] == "waived"
        assert [d["outcome"] for d in case["determination_history"]] == ["confirmed", "waived"]
        year = case["fiscal_year"]
        record = self.get(world, f"/v1/accountability/staff/{world['M1']}", fiscal_year=year)
        assert record == {
            "staff_id": world["M1"],
            "fiscal_year": year,
            "as_designated_manager": 1,
            "as_unit_head": 0,
            "as_prior_holder": 0,
            # The waiver on the whole case stands against M1 as designated manager.
            "confirmed": {"as_designated_manager": 0, "as_unit_head": 0},
            "waived": {"as_designated_manager": 1, "as_unit_head": 0},
            "pending": {"as_designated_manager": 0, "as_unit_head": 0},
            "known_at": None,
        }
        elsewhere = self.get(world, "/v1/accountability/churn-cases", unit_id=world["S2"])
        assert elsewhere["items"] == []

    # ---- reports --------------------------------------------------------------------

    def test_the_reports_answer_for_a_subtree(self, world: World) -> None:
        gold = world.client(unit="O1", tier="gold")
        world.client(unit="O2", tier="standard")
        world.post(
            f"/v1/clients/{gold}/assignments",
            {"staff_id": world["M1"], "reason": "r", "effective_at": at(1)},
        )
        world.post(f"/v1/clients/{gold}/assets", {"amount": "1000000.00", "as_of": at(2)[:10]})
        world.post(f"/v1/clients/{gold}/assets", {"amount": "1250000.00", "as_of": at(20)[:10]})
        world.post(
            f"/v1/clients/{gold}/tier-changes",
            {"tier": "platinum", "reason": "assets", "effective_at": at(50)},
        )
        world.post(
            f"/v1/staff/{world['M1']}/departure", {"effective_at": at(300), "reason": "resigned"}
        )
        growth = self.get(
            world, "/v1/reports/tier-growth", unit_id=world["S1"], **{"from": at(10), "to": at(100)}
        )
        assert growth["tiers"]["platinum"] == {
            "start": 0,
            "end": 1,
            "change": 1,
            "growth_rate": None,
        }
        assert growth["tiers"]["gold"]["growth_rate"] == -1.0
        assert growth["vip"]["change"] == 0
        ranked = [r["unit_id"] for r in growth["sibling_ranking"]]
        assert sorted(ranked) == sorted([world["S1"], world["S2"]])
        complete = self.get(world, "/v1/reports/completeness", unit_id=world["S1"], target=0.5)
        assert (complete["vip_active"], complete["complete"], complete["meets_target"]) == (
            1,
            0,
            False,
        )
        overdue = self.get(world, "/v1/reports/overdue-contacts", unit_id=world["S1"])
        assert [i["client_id"] for i in overdue["items"]] == [gold]
        assert overdue["items"][0]["days_overdue"] > 0
        orphans = self.get(world, "/v1/reports/orphaned-clients", unit_id=world["B"])
        assert [(o["client_id"], o["former_manager"]) for o in orphans["items"]] == [
            (gold, world["M1"])
        ]
        portfolio = self.get(
            world,
            "/v1/reports/manager-portfolio",
            staff_id=world["M1"],
            **{"from": at(0), "to": at(100)},
        )
        assert portfolio["clients"] == {"standard": 0, "gold": 0, "platinum": 1, "diamond": 0}
        # The first statement is the baseline: only the rise after it is credited.
        assert portfolio["assets_change"] == "250000.00"
        assert (portfolio["from"][:10], portfolio["to"][:10]) == (at(0)[:10], at(100)[:10])

    def test_unknown_units_staff_clients_and_cases_are_404(self, world: World) -> None:
        unit = {"unit_id": new_id("U")}
        period = {"from": at(0), "to": at(1)}
        for path, params in (
            ("/v1/rosters", unit),
            ("/v1/rosters/summary", unit),
            ("/v1/accountability/churn-cases", unit),
            (f"/v1/accountability/clients/{new_id('C')}", {}),
            ("/v1/accountability/responsible", {"client_id": new_id("C"), "at": at(0)}),
            (f"/v1/accountability/staff/{new_id('S')}", {"fiscal_year": 2026}),
            ("/v1/reports/tier-growth", {**unit, **period}),
            ("/v1/reports/completeness", unit),
            ("/v1/reports/overdue-contacts", unit),
            ("/v1/reports/orphaned-clients", unit),
            ("/v1/reports/manager-portfolio", {"staff_id": new_id("S"), **period}),
        ):
            assert_problem(world.api.get(path, params=params, headers=ADMIN), 404)
        bad = world.api.get(
            "/v1/reports/tier-growth",
            params={"unit_id": world["S1"], "from": at(5), "to": at(1)},
            headers=ADMIN,
        )
        assert assert_problem(bad, 422)["errors"][0]["field"] == "to"

    # ---- roles ----------------------------------------------------------------------

    def test_every_role_reads_the_read_models_and_only_auditors_check_integrity(
        self, world: World
    ) -> None:
        client_id = world.client(unit="O1")
        reads = [
            ("/v1/rosters", {"unit_id": world["S1"]}),
            ("/v1/rosters/summary", {"unit_id": world["S1"]}),
            (f"/v1/accountability/clients/{client_id}", {}),
            ("/v1/accountability/responsible", {"client_id": client_id, "at": at(1)}),
            ("/v1/accountability/churn-cases", {}),
            (f"/v1/accountability/staff/{world['M1']}", {"fiscal_year": 2026}),
            ("/v1/reports/tier-growth", {"unit_id": world["S1"], "from": at(0), "to": at(9)}),
            ("/v1/reports/completeness", {"unit_id": world["S1"]}),
            ("/v1/reports/overdue-contacts", {"unit_id": world["S1"]}),
            ("/v1/reports/orphaned-clients", {"unit_id": world["S1"]}),
            (
                "/v1/reports/manager-portfolio",
                {"staff_id": world["M1"], "from": at(0), "to": at(9)},
            ),
        ]
        # A manager of the department above S1 (API.md 1.1: a manager reads its subtree).
        world.ids["MD"] = new_id("MD")
        world.post(
            "/v1/staff",
            {"staff_id": world["MD"], "name": "d", "unit_id": world["D"], "role": "client_manager"},
        )
        keys = {
            role: world.key(role, "MD" if role == "manager" else None)[1]
            for role in (
                "manager",
                "auditor",
                "compliance",
            )
        }
        keys["admin"] = ADMIN
        position = world.api.get("/v1/health").json()["position"]
        for role, headers in keys.items():
            for path, params in reads:
                answer = world.api.get(path, params={**params, "after": position}, headers=headers)
                assert answer.status_code == 200, (role, path, answer.text)
            digest = world.api.get("/v1/integrity/digest", headers=headers)
            verify = world.api.post(
                "/v1/integrity/verify", json={"position": 1, "hash": "0" * 64}, headers=headers
            )
            if role in ("admin", "auditor"):
                assert (digest.status_code, verify.status_code) == (200, 200), role
            else:
                assert_problem(digest, 403)
                assert_problem(verify, 403)
            determination = world.api.post(
                f"/v1/accountability/churn-cases/{new_id('K')}/determinations",
                json={"outcome": "waived", "reason": "r"},
                headers=headers,
            )
            # Compliance and admin may determine (an unknown case is then a 404).
            assert_problem(determination, 404 if role in ("admin", "compliance") else 403)
        for path, params in reads:
            assert_problem(world.api.get(path, params=params), 401)
        assert_problem(world.api.get("/v1/integrity/digest"), 401)

    # ---- integrity ------------------------------------------------------------------

    def test_the_digest_verifies_and_a_wrong_hash_does_not(self, world: World) -> None:
        world.client()
        digest = ok(world.api.get("/v1/integrity/digest", headers=ADMIN))
        assert digest["position"] == world.api.get("/v1/health").json()["position"]
        assert len(digest["hash"]) == 64
        assert datetime.fromisoformat(digest["recorded_at"]).tzinfo is not None
        world.client()  # later writes do not disturb an earlier digest
        check = {"position": digest["position"], "hash": digest["hash"]}
        assert ok(world.api.post("/v1/integrity/verify", json=check, headers=ADMIN)) == {
            "ok": True,
            "checked": digest["position"],
            "first_mismatch": None,
        }
        # The digest as the digest endpoint gave it (with its recorded_at) is accepted too.
        as_kept = ok(world.api.post("/v1/integrity/verify", json=digest, headers=ADMIN))
        assert as_kept["ok"] is True
        wrong = ok(
            world.api.post("/v1/integrity/verify", json={**check, "hash": "ab" * 32}, headers=ADMIN)
        )
        assert wrong["ok"] is False
        end = world.api.get("/v1/health").json()["position"]
        beyond = ok(
            world.api.post("/v1/integrity/verify", json={**check, "position": FAR}, headers=ADMIN)
        )
        assert beyond == {"ok": False, "checked": end, "first_mismatch": end + 1}
        for bad in ({**check, "hash": "xyz"}, {**check, "position": -1}, {"hash": "ab" * 32}):
            assert_problem(world.api.post("/v1/integrity/verify", json=bad, headers=ADMIN), 422)


class TimeTravelContract:
    """Issue 5's example: a tier change recorded on 10 April, effective 15 March."""

    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    def test_a_backdated_change_shows_only_as_known_after_it_was_recorded(
        self, database_url: str
    ) -> None:
        clock = SettableClock(datetime(2026, 3, 1, 9, tzinfo=UTC))
        with running_app(database_url, clock) as (api, _):
            world = World(api).build()
            client_id = world.client(unit="O1", tier="gold")
            clock.now = datetime(2026, 4, 10, 9, tzinfo=UTC)
            change = world.post(
                f"/v1/clients/{client_id}/tier-changes",
                {"tier": "platinum", "reason": "backdated", "effective_at": "2026-03-15T09:00:00Z"},
            )
            assert change["recorded_at"].startswith("2026-04-10")
            as_of = "2026-03-20T00:00:00+00:00"
            after_it, before_it = "2026-04-11T00:00:00+00:00", "2026-04-01T00:00:00+00:00"

            def tier(known_at: str | None) -> str:
                params = {"as_of": as_of} | ({"known_at": known_at} if known_at else {})
                answer = api.get(f"/v1/clients/{client_id}", params=params, headers=ADMIN)
                return ok(answer)["tier"]

            def counts(known_at: str | None, as_of: str = as_of) -> dict:
                params = {"unit_id": world["O1"], "as_of": as_of, "after": change["position"]}
                if known_at:
                    params["known_at"] = known_at
                answer = ok(api.get("/v1/rosters/summary", params=params, headers=ADMIN))
                assert (answer["known_at"] is None) == (known_at is None)
                return {t: n for t, n in answer["counts"].items() if n}

            assert (tier(after_it), tier(None), tier(before_it)) == ("platinum",) * 2 + ("gold",)
            assert counts(after_it) == counts(None) == {"platinum": 1}
            assert counts(before_it) == {"gold": 1}
            # Before it was registered the ledger knew no such client at all.
            assert counts("2026-02-01T00:00:00+00:00") == {}
            assert counts(before_it, as_of="2026-03-10T00:00:00+00:00") == {"gold": 1}


class NoProjectionsContract:
    """`ledger serve --no-projections`: another process keeps the views; reads still wait."""

    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    def test_reads_wait_for_the_views_another_runner_keeps(self, database_url: str) -> None:
        # The wait polls the other runner's tracking rows at 0.1 s, then 0.3 s: a second
        # leaves room for its catch-up of four views (about 0.11 s on PostgreSQL).
        with running_app(database_url, follow=False, read_wait_seconds=1.0) as (api, _):
            world = World(api).build()
            client_id = world.client(unit="O1", tier="gold")
            position = api.get("/v1/health").json()["position"]
            params = {"unit_id": world["O1"], "after": position}
            assert_problem(api.get("/v1/rosters", params=params, headers=ADMIN), 503)
            runner = build(Settings(database_url=database_url))
            try:
                runner.start_projections()
                params["after"] = position
                page = ok(api.get("/v1/rosters", params=params, headers=ADMIN))
                assert [i["client_id"] for i in page["items"]] == [client_id]
            finally:
                runner.close()
            assert api.get("/v1/health").json()["projections"]["roster"] >= position


class TestReadModelsOnSQLite(ReadModelContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestReadModelsOnPostgres(ReadModelContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url


class TestTimeTravelOnSQLite(TimeTravelContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestTimeTravelOnPostgres(TimeTravelContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url


class TestNoProjectionsOnSQLite(NoProjectionsContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestNoProjectionsOnPostgres(NoProjectionsContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
