"""A client's history a page at a time (issue 17; docs/ARCHITECTURE.md, Reading a client's
history) over HTTP on SQLite and PostgreSQL: with `limit` or `cursor` it answers a page and
`next_cursor` (null on the last page), and the pages put together are the whole history it
answers without them; exports still hold every event."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.bootstrap import Container
from support.api_world import ADMIN, World, WorldCase, assert_problem, at, new_id, ok
from support.history import model_bytes


def history(world: World, client_id: str, headers: dict | None = None, **params: Any) -> Any:
    return world.api.get(
        f"/v1/clients/{client_id}/history", params=params, headers=headers or ADMIN
    )


def pages(world: World, client_id: str, **params: Any) -> list[dict[str, Any]]:
    """Every page, following `next_cursor` from the first."""
    found = [ok(history(world, client_id, **params))]
    while found[-1]["next_cursor"] is not None:
        found.append(ok(history(world, client_id, **params, cursor=found[-1]["next_cursor"])))
    return found


class HistoryPagesContract(WorldCase):
    def served(self, world: World, contacts: int) -> str:
        """A client with `contacts` contacts, assets reported, and its first contact
        retracted last (so the first page's event is retracted by one on the last page)."""
        client_id = world.client()
        base = f"/v1/clients/{client_id}"
        first = None
        for n in range(contacts):
            logged = world.post(
                f"{base}/contacts",
                {"channel": "phone", "staff_id": world["M1"], "occurred_at": at(1 + n)},
            )
            first = first or logged["event_id"]
            if n == 2:
                world.post(f"{base}/assets", {"amount": "1000.00", "as_of": at(4)[:10]})
        world.post(f"{base}/retractions", {"event_id": first, "reason": "wrong client"})
        return client_id

    def test_pages_put_together_are_the_whole_history(self, world: World) -> None:
        client_id = self.served(world, contacts=8)
        whole = ok(history(world, client_id))
        events = whole["events"]
        assert (len(events), whole["next_cursor"]) == (11, None)
        assert events[1]["retracted_by"] == events[-1]["event_id"]
        for limit, sizes in ((1, [1] * 11), (4, [4, 4, 3]), (11, [11]), (1000, [11])):
            found = pages(world, client_id, limit=limit)
            assert [len(page["events"]) for page in found] == sizes, limit
            assert [e for page in found for e in page["events"]] == events, limit
            assert {page["client_id"] for page in found} == {client_id}
        # A cursor alone: the default page (100) holds the rest.
        rest = ok(history(world, client_id, cursor="3"))
        assert (rest["events"], rest["next_cursor"]) == (events[3:], None)
        # The last version as a cursor: an empty last page.
        assert ok(history(world, client_id, cursor="11"))["events"] == []

    def test_an_export_holds_every_event_whatever_the_page(self, world: World) -> None:
        client_id = self.served(world, contacts=3)
        answer = history(world, client_id, format="csv", limit=1, cursor="2")
        assert answer.status_code == 200, answer.text
        rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
        assert [row["version"] for row in rows] == [str(v) for v in range(1, 7)]

    def test_a_bad_limit_or_cursor_is_a_problem_naming_it(self, world: World) -> None:
        client_id = self.served(world, contacts=1)
        for params, field in (
            ({"limit": 0}, "limit"),
            ({"limit": 1001}, "limit"),
            ({"limit": "ten"}, "limit"),
            ({"cursor": "v3"}, "cursor"),
            ({"cursor": "0"}, "cursor"),
            ({"cursor": "-1"}, "cursor"),
            ({"cursor": "٣"}, "cursor"),  # a digit, but not an ASCII one
            ({"cursor": "4", "limit": 2}, "cursor"),  # past the client's last version (3)
            ({"cursor": "9" * 21}, "cursor"),
        ):
            body = assert_problem(history(world, client_id, **params), 422)
            assert [error["field"] for error in body["errors"]] == [field], params
        assert_problem(history(world, "nobody", limit=2), 404)

    def test_a_page_is_read_within_a_manager_s_scope_and_recorded(self, world: World) -> None:
        inside, outside = world.client(unit="O1"), world.client(unit="O3")
        key_id, manager = world.key("manager", "M1")
        assert ok(history(world, inside, manager, limit=1))["next_cursor"] is None
        assert_problem(history(world, outside, manager, limit=1), 403)
        for role in ("auditor", "compliance"):
            assert ok(history(world, outside, world.key(role)[1], limit=1))["events"]
        reads = world.api.get("/v1/audit/reads", params={"client_id": inside}, headers=ADMIN)
        assert [(r["principal"], r["path"]) for r in ok(reads)["items"]] == [
            (f"key:{key_id}", f"/v1/clients/{inside}/history")
        ]

    def test_an_erased_client_s_pages_answer_erased(self, world: World) -> None:
        client_id, old_hand = new_id("C"), world.hire("M0", "O1", "client_manager", at(-3000))
        base = f"/v1/clients/{client_id}"
        world.post(
            "/v1/clients",
            {
                "client_id": client_id,
                "name": "Qiao",
                "unit_id": world["O1"],
                "occurred_at": at(-2990),
            },
        )
        world.post(
            f"{base}/contacts",
            {
                "channel": "visit",
                "staff_id": old_hand,
                "occurred_at": at(-2900),
                "summary": "Leeds",
            },
        )
        world.post(
            f"{base}/churn", {"kind": "normal", "reason": "moved", "effective_at": at(-2600)}
        )
        world.post(f"{base}/erasure", {"reason": "client asked", "legal_basis": "PIPL art. 47"})
        whole = ok(history(world, client_id))["events"]
        found = pages(world, client_id, limit=2)
        assert [e for page in found for e in page["events"]] == whole
        by_type = {e["type"]: e["data"] for page in found for e in page["events"]}
        assert by_type["Registered"]["name"] == "[erased]"
        assert by_type["ContactLogged"]["summary"] == "[erased]"
        assert by_type["Erased"]["reason"] == "client asked"

    def test_an_answer_is_the_bytes_the_model_writes(
        self, world: World, app: tuple[TestClient, Container]
    ) -> None:
        """Written to JSON without a model per event (issue 17: a 10,000-event history):
        whole and a page at a time, the very bytes `ClientHistoryPublic` writes from the
        ledger's entries: text beyond ASCII and JSON's escapes, a profile's changes, an
        amount, a date, a time at an offset, a retraction, and an erased client."""
        ledger = app[1].ledger
        line = 'Zoë 张伟 "quoted" \\ back 🎉'
        text = line + "\n\ttabbed"
        kept, gone = new_id("C"), new_id("C")
        world.hire("M0", "O1", "client_manager", at(-3000))
        for client_id, since in ((kept, -300), (gone, -2990)):
            base = f"/v1/clients/{client_id}"
            body = {"client_id": client_id, "name": line, "unit_id": world["O1"]}
            world.post("/v1/clients", {**body, "occurred_at": at(since)})
            world.post(f"{base}/profile", {"hobbies": line, "effective_at": at(since + 1)})
            world.post(f"{base}/assets", {"amount": "1234567.80", "as_of": at(since + 2)[:10]})
            contact = world.post(
                f"{base}/contacts",
                {
                    "channel": "visit",
                    "staff_id": world["M0"],
                    "occurred_at": "2020-02-29T23:30:00.5+08:00" if since < -1000 else at(-200),
                    "summary": text,
                },
            )
            world.post(f"{base}/retractions", {"event_id": contact["event_id"], "reason": text})
        world.post(
            f"/v1/clients/{gone}/churn",
            {"kind": "normal", "reason": text, "effective_at": at(-2600)},
        )
        world.post(f"/v1/clients/{gone}/erasure", {"reason": text, "legal_basis": "PIPL"})
        for client_id in (kept, gone):
            raw = history(world, client_id)
            assert raw.headers["content-type"] == "application/json"
            assert raw.content == model_bytes(ledger, client_id, 0, None)
            after = 0
            while True:
                raw = history(world, client_id, limit=2, **({"cursor": after} if after else {}))
                assert raw.content == model_bytes(ledger, client_id, after, 2)
                if raw.json()["next_cursor"] is None:
                    break
                after += 2
        assert {e["data"].get("summary") for e in ok(history(world, gone))["events"]} >= {
            "[erased]"
        }
        assert ok(history(world, kept))["events"][-2]["data"]["summary"] == text


class TestHistoryPagesOnSQLite(HistoryPagesContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestHistoryPagesOnPostgres(HistoryPagesContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
