"""API.md 1.1, Paging: overdue contacts and orphaned clients a page at a time (`limit`,
default 100, at most 1000; `cursor`; `next_cursor`, null on the last page)."""

from __future__ import annotations

from support.api_world import ADMIN, World, assert_problem, at


def pages(world: World, path: str, **params: object) -> list[list[str]]:
    params["after"] = world.api.get("/v1/health").json()["position"]
    found, cursor = [], None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        answer = world.api.get(path, params=query, headers=ADMIN)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        found.append([item["client_id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return found


def test_overdue_contacts_and_orphaned_clients_come_a_page_at_a_time(sqlite_world: World) -> None:
    world = sqlite_world
    clients = []
    for days in (0, 5, 10, 15, 20):
        client_id = world.client(tier="gold")
        world.post(
            f"/v1/clients/{client_id}/assignments",
            {
                "staff_id": world["M1"],
                "role": "client_manager",
                "reason": "r",
                "effective_at": at(1),
            },
        )
        world.post(
            f"/v1/clients/{client_id}/contacts",
            {"channel": "phone", "staff_id": world["M1"], "occurred_at": at(2 + days)},
        )
        clients.append(client_id)
    world.post(f"/v1/staff/{world['M1']}/departure", {"effective_at": at(300), "reason": "left"})
    unit = {"unit_id": world["B"]}

    overdue = pages(world, "/v1/reports/overdue-contacts", limit=2, **unit)
    assert [len(page) for page in overdue] == [2, 2, 1]
    assert [c for page in overdue for c in page] == clients  # most overdue (earliest contact) first
    orphaned = pages(world, "/v1/reports/orphaned-clients", limit=2, **unit)
    assert [len(page) for page in orphaned] == [2, 2, 1]
    assert [c for page in orphaned for c in page] == sorted(clients)

    whole = pages(world, "/v1/reports/orphaned-clients", **unit)
    assert whole == [sorted(clients)]  # the default limit (100) holds them all
    for path in ("/v1/reports/overdue-contacts", "/v1/reports/orphaned-clients"):
        too_many = world.api.get(path, params={**unit, "limit": 1001}, headers=ADMIN)
        assert_problem(too_many, 422)
    bad = world.api.get(
        "/v1/reports/overdue-contacts", params={**unit, "cursor": "soon"}, headers=ADMIN
    )
    assert_problem(bad, 422)
