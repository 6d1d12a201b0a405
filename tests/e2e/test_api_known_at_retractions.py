"""A retracted event was known until its retraction was recorded (API.md 1.1, Audit; DOMAIN.md:
a mistake is fixed by a new event that retracts it): every report asked as known at a time
between the two counts it, as known after the retraction leaves it out, and the restatement
between the two names the retraction among the events that changed the answer. Profile
updates, asset statements and complaints, on the reports and the maintenance views. Over HTTP
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from support.api_world import World, WorldCase, at


def now() -> str:
    """A recorded time after every write so far, before any next one."""
    return datetime.now(UTC).isoformat()


class KnownRetractionsContract(WorldCase):
    def retract(self, world: World, client_id: str, event_id: str) -> dict[str, Any]:
        return world.post(
            f"/v1/clients/{client_id}/retractions", {"event_id": event_id, "reason": "mistake"}
        )

    def assert_restated(
        self, world: World, report: str, made: dict, retracted: dict, **params: Any
    ) -> dict[str, Any]:
        body = self.restated(world, report, made["recorded_at"], retracted["recorded_at"], **params)
        assert body["changed"] is True
        assert retracted["event_id"] in [e["event_id"] for e in body["events"]]
        return body

    def test_completeness_counts_a_profile_until_its_retraction(self, world: World) -> None:
        client_id = world.client(unit="O2", tier="diamond")
        filled = world.post(
            f"/v1/clients/{client_id}/profile",
            {"address": "1 Bund Road", "phone": "13900000000", "employer": "SAIC"},
        )
        between = now()
        retracted = self.retract(world, client_id, filled["event_id"])
        path, unit = "/v1/reports/completeness", {"unit_id": world["O2"]}

        def complete(**known: str) -> int:
            return int(self.get(world, path, **unit, **known)["complete"])

        assert complete(known_at=filled["recorded_at"]) == complete(known_at=between) == 1
        assert complete(known_at=retracted["recorded_at"]) == complete() == 0
        body = self.assert_restated(world, "completeness", filled, retracted, **unit)
        assert (body["at_known_at"]["complete"], body["at_compare_known_at"]["complete"]) == (1, 0)

    def test_a_portfolio_counts_an_assets_statement_until_its_retraction(
        self, world: World
    ) -> None:
        client_id = world.client(unit="O1", tier="gold")
        world.post(
            f"/v1/clients/{client_id}/assignments",
            {"staff_id": world["M1"], "reason": "new client", "effective_at": at(1)},
        )
        world.post(
            f"/v1/clients/{client_id}/assets", {"amount": "1000000.00", "as_of": at(10)[:10]}
        )
        grown = world.post(
            f"/v1/clients/{client_id}/assets", {"amount": "1500000.00", "as_of": at(20)[:10]}
        )
        between = now()
        retracted = self.retract(world, client_id, grown["event_id"])
        period = {"staff_id": world["M1"], "from": at(5), "to": at(40)}
        path = "/v1/reports/manager-portfolio"

        def change(**known: str) -> str:
            return str(self.get(world, path, **period, **known)["assets_change"])

        assert change(known_at=grown["recorded_at"]) == change(known_at=between) == "500000.00"
        assert change(known_at=retracted["recorded_at"]) == change() == "0"
        self.assert_restated(world, "manager-portfolio", grown, retracted, **period)

    def test_complaints_list_a_complaint_until_its_retraction(self, world: World) -> None:
        client_id = world.client(unit="O3", tier="gold")
        complaint = world.post(
            f"/v1/clients/{client_id}/contacts",
            {
                "channel": "phone",
                "staff_id": world["M3"],
                "occurred_at": at(10),
                "complaint": True,
                "summary": "fees",
            },
        )
        between = now()
        retracted = self.retract(world, client_id, complaint["event_id"])
        params = {"unit_id": world["S2"], "from": at(0), "to": at(100)}
        path = "/v1/reports/complaints"

        def listed(**known: str) -> list[tuple[str, str]]:
            items = self.get(world, path, **params, **known)["items"]
            return [(i["client_id"], i["summary"]) for i in items]

        assert listed(known_at=complaint["recorded_at"]) == [(client_id, "fees")]
        assert listed(known_at=between) == [(client_id, "fees")]
        assert listed(known_at=retracted["recorded_at"]) == listed() == []
        self.assert_restated(world, "complaints", complaint, retracted, **params)

    def test_segments_count_a_preference_until_its_retraction(self, world: World) -> None:
        client_id = world.client(unit="O1", tier="gold")
        stated = world.post(f"/v1/clients/{client_id}/profile", {"risk_appetite": "balanced"})
        between = now()
        retracted = self.retract(world, client_id, stated["event_id"])
        params = {"unit_id": world["S1"], "by": "risk_appetite"}
        path = "/v1/reports/segments"

        def balanced(**known: str) -> int:
            segments = self.get(world, path, **params, **known)["segments"]
            return int(segments.get("balanced", {}).get("clients", 0))

        assert balanced(known_at=stated["recorded_at"]) == balanced(known_at=between) == 1
        assert balanced(known_at=retracted["recorded_at"]) == balanced() == 0
        self.assert_restated(world, "segments", stated, retracted, **params)

    def test_leader_visits_weigh_an_assets_statement_until_its_retraction(
        self, world: World
    ) -> None:
        client_id = world.client(unit="O1", tier="diamond")
        stated = world.post(
            f"/v1/clients/{client_id}/assets", {"amount": "9000000.00", "as_of": at(10)[:10]}
        )
        between = now()
        retracted = self.retract(world, client_id, stated["event_id"])
        params = {"unit_id": world["S1"], "from": at(0), "to": at(100)}
        path = "/v1/reports/leader-visits"

        def weighed(**known: str) -> list[str]:
            return [i["client_id"] for i in self.get(world, path, **params, **known)["items"]]

        assert client_id in weighed(known_at=stated["recorded_at"])
        assert client_id in weighed(known_at=between)
        assert client_id not in weighed(known_at=retracted["recorded_at"])
        assert client_id not in weighed()
        self.assert_restated(world, "leader-visits", stated, retracted, **params)


class TestKnownRetractionsOnSQLite(KnownRetractionsContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestKnownRetractionsOnPostgres(KnownRetractionsContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
