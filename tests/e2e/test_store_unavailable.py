"""A store the service cannot reach is a 503 problem with Retry-After, and writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from eventsourcing.persistence import OperationalError

from support.api_world import ADMIN, SwitchableClock, World, at, running_app


def test_a_store_that_cannot_be_reached_is_a_503_with_retry_after(sqlite_url: str) -> None:
    clock = UnreachableStoreClock()
    with running_app(sqlite_url, clock=clock) as (api, container):
        world = World(api).build()
        client_id = world.client()
        before = container.ledger.position
        clock.failing = True
        answer = api.post(
            f"/v1/clients/{client_id}/tier-changes",
            json={"tier": "gold", "reason": "review", "effective_at": at(2)},
            headers=ADMIN,
        )
        clock.failing = False
        assert answer.status_code == 503, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["retry-after"] == "2"
        assert answer.json()["type"] == "urn:ledger:problem:store-unavailable"
        assert "couldn't get a connection" not in answer.text
        assert container.ledger.position == before


class UnreachableStoreClock(SwitchableClock):
    """Fails the way the library reports a database it cannot reach."""

    def __call__(self) -> datetime:
        if self.failing:
            raise OperationalError("couldn't get a connection after 2.00 sec")
        return datetime.now(UTC)
