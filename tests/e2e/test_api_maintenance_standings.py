"""The maintenance reports at a time after a client's last change (now, most often) read the
standing the view keeps of each client (ledger/projections/maintenance_standing.py). These
tests move what a standing depends on besides the client's own events (a departure, an
outlet's head), let its deadlines and windows pass, and ask both after the last change (the
kept standing) and before it (the file folded anew), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from support.api_world import World, WorldCase, at


class StandingsContract(WorldCase):
    def assign(self, world: World, client_id: str, staff: str, days: float) -> None:
        world.post(
            f"/v1/clients/{client_id}/assignments",
            {
                "staff_id": staff,
                "role": "client_manager",
                "reason": "team",
                "effective_at": at(days),
            },
        )

    def reasons(self, world: World, client_id: str, **params: str) -> list[str] | None:
        board = self.get(world, "/v1/reports/at-risk", unit_id=world["S1"], limit=1000, **params)
        found = [item["reasons"] for item in board["items"] if item["client_id"] == client_id]
        return found[0] if found else None

    def gaps(self, world: World, **params: str) -> dict[str, list[str]]:
        page = self.get(world, "/v1/reports/team-gaps", unit_id=world["S1"], **params)
        return {item["client_id"]: item["missing"] for item in page["items"]}

    def test_a_departure_after_a_clients_last_change_orphans_it_now(self, world: World) -> None:
        client_id = world.client(unit="O1", tier="gold")
        head = world.hire("H", "O1", "outlet_director", at(-1))
        world.post(f"/v1/units/{world['O1']}/head", {"staff_id": head, "effective_at": at(0)})
        self.assign(world, client_id, world["M1"], 1)
        assert "orphaned" not in (self.reasons(world, client_id) or [])
        assert self.gaps(world) == {}
        world.post(
            f"/v1/staff/{world['M1']}/departure", {"effective_at": at(300), "reason": "resigned"}
        )
        assert {"orphaned", "team_gap"} <= set(self.reasons(world, client_id) or [])
        assert self.gaps(world) == {client_id: ["client_manager"]}
        # Before the departure, as it was.
        assert "orphaned" not in (self.reasons(world, client_id, as_of=at(200)) or [])
        assert self.gaps(world, as_of=at(200)) == {}

    def test_an_outlets_new_head_fills_the_gap_of_every_client_of_the_outlet(
        self, world: World
    ) -> None:
        clients = sorted(world.client(unit="O2", tier="gold") for _ in range(3))
        for client_id in clients:
            self.assign(world, client_id, world["M1"], 1)
        assert self.gaps(world) == {key: ["outlet_director"] for key in clients}
        head = world.hire("H", "O2", "outlet_director", at(-1))
        world.post(f"/v1/units/{world['O2']}/head", {"staff_id": head, "effective_at": at(100)})
        assert self.gaps(world) == {}
        assert self.gaps(world, as_of=at(50)) == {key: ["outlet_director"] for key in clients}
        # The head leaves: the outlet's clients lack their director again.
        world.post(f"/v1/staff/{head}/departure", {"effective_at": at(200), "reason": "retired"})
        assert self.gaps(world) == {key: ["outlet_director"] for key in clients}
        assert self.gaps(world, as_of=at(150)) == {}

    def test_the_boards_windows_close_and_duties_fall_due_as_time_passes(
        self, world: World
    ) -> None:
        client_id = world.client(unit="O1", tier="diamond")
        m2 = world.hire("M2", "O1", "client_manager", at(-1))
        self.assign(world, client_id, m2, 1)
        self.assign(world, client_id, world["M1"], 100)
        world.post(f"/v1/staff/{m2}/departure", {"effective_at": at(110), "reason": "resigned"})
        for amount, day in (("1000000.00", 10), ("700000.00", 120)):
            world.post(f"/v1/clients/{client_id}/assets", {"amount": amount, "as_of": at(day)[:10]})
        world.post(
            f"/v1/clients/{client_id}/tier-changes",
            {"tier": "platinum", "reason": "assets", "effective_at": at(150)},
        )
        # The last change is day 150: from then on the kept standing answers. The lookback
        # (90 days) covers the departed manager's tenure until day 190, the 90-day window
        # the larger statement until day 210 (its successor's day, 120, plus 90) and the
        # downgrade until day 240.
        expected = {
            160: ["manager_departed", "assets_down", "downgraded"],
            200: ["assets_down", "downgraded"],
            230: ["downgraded"],
        }
        for day, reasons in expected.items():
            found = self.reasons(world, client_id, as_of=at(day))
            assert found is not None and found[-len(reasons) :] == reasons, (day, found)
            assert "manager_departed" not in found[: -len(reasons)]
        assert "downgraded" not in (self.reasons(world, client_id, as_of=at(250)) or [])
        # Before the last change (day 150), folded from the file: not yet downgraded.
        assert "downgraded" not in (self.reasons(world, client_id, as_of=at(140)) or [])

        # The manager's duty (platinum: 60 days) falls due 60 days after his last visit.
        world.post(
            f"/v1/clients/{client_id}/contacts",
            {"channel": "visit", "staff_id": world["M1"], "occurred_at": at(300)},
        )

        def duties(day: float) -> list[tuple[str, int]]:
            page = self.get(
                world,
                "/v1/reports/duties-overdue",
                unit_id=world["S1"],
                as_of=at(day),
                role="client_manager",
            )
            return [(i["staff_id"], i["days_overdue"]) for i in page["items"]]

        assert duties(359) == []
        assert duties(362.5) == [(world["M1"], 2)]
        assert duties(299) == [(world["M1"], 239)]  # before the visit: due since day 60

    def test_segments_move_with_backdated_events_and_keep_the_amounts_exact(
        self, world: World
    ) -> None:
        bold = world.client(unit="O1", tier="gold")
        keen = world.client(unit="O2", tier="gold")
        calm = world.client(unit="O1")
        for client_id, appetite in (
            (bold, "aggressive"),
            (keen, "aggressive"),
            (calm, "conservative"),
        ):
            world.post(
                f"/v1/clients/{client_id}/profile",
                {"risk_appetite": appetite, "effective_at": at(5)},
            )
        world.post(f"/v1/clients/{bold}/assets", {"amount": "100.5", "as_of": at(10)[:10]})
        world.post(f"/v1/clients/{keen}/assets", {"amount": "200", "as_of": at(10)[:10]})
        world.post(f"/v1/clients/{calm}/assets", {"amount": "0.25", "as_of": at(10)[:10]})

        def segments(**params: str) -> dict:
            answer = self.get(
                world, "/v1/reports/segments", unit_id=world["S1"], by="risk_appetite", **params
            )
            return answer["segments"]

        assert segments() == {
            "aggressive": {"clients": 2, "assets": "300.5"},
            "conservative": {"clients": 1, "assets": "0.25"},
        }
        world.post(
            f"/v1/clients/{keen}/churn",
            {"kind": "normal", "reason": "moved away", "effective_at": at(20)},
        )
        assert segments() == {
            "aggressive": {"clients": 1, "assets": "100.5"},
            "conservative": {"clients": 1, "assets": "0.25"},
        }
        # Before the churn and before the statements, from the files.
        assert segments(as_of=at(15))["aggressive"] == {"clients": 2, "assets": "300.5"}
        assert segments(as_of=at(7)) == {
            "aggressive": {"clients": 2, "assets": "0"},
            "conservative": {"clients": 1, "assets": "0"},
        }
        assert segments(as_of=at(1)) == {"unknown": {"clients": 3, "assets": "0"}}


class TestStandingsOnSQLite(StandingsContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestStandingsOnPostgres(StandingsContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
