"""Personal data over HTTP (API.md 1.1, Personal data): erasure per role, the retention
period, what a client looks like after erasure (reads, history, exports, bundles,
verification, the accountability record), and logs that never hold personal data."""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from ledger.api.observability import JSONLogFormatter, access_log
from ledger.bootstrap import Container
from ledger.integrity.bundle import verify_bundle
from ledger.privacy.cipher import PREFIX as SEALED_PREFIX
from support.api_world import (
    ADMIN,
    ADMIN_TOKEN,
    World,
    assert_problem,
    at,
    new_id,
    running_app,
)
from support.console_support import post_form, sign_in

NAME = "Qiao Zhiyuan"
PHONE = "13912345678"
SUMMARY = "talked about her daughter's tuition in Leeds"


def assert_personal_fields_erased(by_type: dict[str, dict]) -> None:
    """The long-gone client's events (by type) show "[erased]" for each personal field."""
    assert by_type["Registered"]["data"]["name"] == "[erased]"
    assert by_type["ProfileUpdated"]["data"]["changes"] == {
        "phone": "[erased]",
        "hobbies": "[erased]",
    }
    assert by_type["ContactLogged"]["data"]["summary"] == "[erased]"
    assert by_type["Churned"]["data"]["reason"] == "[erased]"


class PrivacyContract:
    """Subclasses provide `app`, running on their store."""

    @pytest.fixture
    def world(self, app: tuple[TestClient, Container]) -> World:
        return World(app[0]).build()

    def _long_gone_client(self, world: World) -> tuple[str, str]:
        """Registered eight years ago, served, churned seven years ago (past the five-year
        retention period), the churn case ruled on. Answers (client id, churn case id)."""
        staff = new_id("M")
        world.post(
            "/v1/staff",
            {
                "staff_id": staff,
                "name": "staff old",
                "unit_id": world["O1"],
                "role": "client_manager",
                "effective_at": at(-3000),
            },
        )
        client_id = new_id("C")
        base = f"/v1/clients/{client_id}"
        world.post(
            "/v1/clients",
            {
                "client_id": client_id,
                "name": NAME,
                "unit_id": world["O1"],
                "occurred_at": at(-2990),
            },
        )
        world.post(
            f"{base}/assignments",
            {"staff_id": staff, "reason": "new client", "effective_at": at(-2990)},
        )
        world.post(f"{base}/profile", {"phone": PHONE, "hobbies": "go", "effective_at": at(-2989)})
        world.post(
            f"{base}/contacts",
            {"channel": "visit", "staff_id": staff, "occurred_at": at(-2900), "summary": SUMMARY},
        )
        churn = world.post(
            f"{base}/churn",
            {"kind": "abnormal", "reason": "moved to Hangzhou", "effective_at": at(-2600)},
        )
        world.post(
            f"/v1/accountability/churn-cases/{churn['event_id']}/determinations",
            {"outcome": "confirmed", "reason": "no visit in a year"},
        )
        return client_id, churn["event_id"]

    def test_only_an_admin_erases(self, world: World) -> None:
        client_id, _ = self._long_gone_client(world)
        body = {"reason": "client asked", "legal_basis": "PIPL art. 47"}
        for role in ("auditor", "compliance"):
            _, headers = world.key(role)
            assert_problem(world.post_raw(f"/v1/clients/{client_id}/erasure", body, headers), 403)
        _, manager = world.key("manager", "M1")
        assert_problem(world.post_raw(f"/v1/clients/{client_id}/erasure", body, manager), 403)
        assert world.api.get(f"/v1/clients/{client_id}", headers=ADMIN).json()["name"] == NAME

    def test_erasure_is_refused_while_active_and_within_the_retention_period(
        self, world: World
    ) -> None:
        body = {"reason": "client asked", "legal_basis": "PIPL art. 47"}
        active = world.client()
        problem = assert_problem(world.post_raw(f"/v1/clients/{active}/erasure", body), 409)
        assert problem["type"] == "urn:ledger:problem:retention_period"  # API.md 1.1
        recent = world.client()
        world.post(
            f"/v1/clients/{recent}/churn",
            {"kind": "normal", "reason": "moved", "effective_at": at(10)},
        )
        problem = assert_problem(world.post_raw(f"/v1/clients/{recent}/erasure", body), 409)
        assert problem["rule"] == "retention_period"
        old, _ = self._long_gone_client(world)
        listed = world.api.get(
            "/v1/privacy/erasable", params={"unit_id": world["B"]}, headers=ADMIN
        )
        assert listed.status_code == 200, listed.text
        assert [item["client_id"] for item in listed.json()["items"]] == [old]

    def test_a_client_churned_again_recently_is_not_erasable_however_long_ago_it_first_left(
        self, world: World
    ) -> None:
        old, _ = self._long_gone_client(world)
        back = new_id("C")
        world.post(
            "/v1/clients",
            {"client_id": back, "name": NAME, "unit_id": world["O1"], "occurred_at": at(-2990)},
        )
        for step, body in (
            ("churn", {"kind": "normal", "reason": "moved", "effective_at": at(-2600)}),
            ("reactivation", {"reason": "came back", "effective_at": at(-2500)}),
            ("churn", {"kind": "normal", "reason": "moved again", "effective_at": at(10)}),
        ):
            world.post(f"/v1/clients/{back}/{step}", body)
        listed = world.api.get(
            "/v1/privacy/erasable", params={"unit_id": world["B"]}, headers=ADMIN
        )
        assert listed.status_code == 200, listed.text
        assert [item["client_id"] for item in listed.json()["items"]] == [old]

    def test_after_erasure_no_personal_data_is_answered_and_every_proof_holds(
        self, app: tuple[TestClient, Container], world: World
    ) -> None:
        api, container = app
        client_id, case_id = self._long_gone_client(world)
        digest_before = api.get("/v1/integrity/digest", headers=ADMIN).json()
        erased = world.post(
            f"/v1/clients/{client_id}/erasure",
            {"reason": "client asked", "legal_basis": "PIPL art. 47"},
        )
        assert erased["type"] == "Erased"

        client = api.get(f"/v1/clients/{client_id}", headers=ADMIN).json()
        assert client["erased"] is True
        assert (client["name"], client["profile"]) == (None, None)
        assert client["status"] == "churned"

        history = api.get(f"/v1/clients/{client_id}/history", headers=ADMIN).json()["events"]
        by_type = {event["type"]: event for event in history}
        assert_personal_fields_erased(by_type)
        assert by_type["Erased"]["data"] == {
            "reason": "client asked",
            "legal_basis": "PIPL art. 47",
        }
        assert by_type["Erased"]["recorded_by"] == "admin"

        exported = api.get(
            f"/v1/clients/{client_id}/history", params={"format": "csv"}, headers=ADMIN
        ).text
        roster = api.get(
            "/v1/rosters",
            params={"unit_id": world["O1"], "status": "churned", "after": erased["position"]},
            headers=ADMIN,
        ).json()
        assert [r["name"] for r in roster["items"] if r["client_id"] == client_id] == [None]
        for text in (exported, str(roster)):
            assert NAME not in text and PHONE not in text and SUMMARY not in text

        # The accountability record is whole: who held the client, the case and its ruling.
        cases = api.get(
            "/v1/accountability/churn-cases",
            params={"unit_id": world["O1"], "after": erased["position"]},
            headers=ADMIN,
        ).json()["items"]
        (case,) = [c for c in cases if c["case_id"] == case_id]
        assert (case["client_id"], case["kind"]) == (client_id, "abnormal")
        assert case["designated_manager"] is not None
        assert case["determination"]["outcome"] == "confirmed"
        assert case["determination"]["reason"] == "no visit in a year"
        intervals = api.get(f"/v1/accountability/clients/{client_id}", headers=ADMIN).json()
        assert intervals["intervals"]

        assert api.post("/v1/integrity/verify", json=digest_before, headers=ADMIN).json()["ok"]
        bundle = io.StringIO()
        container.integrity.export(bundle)
        text = bundle.getvalue()
        states = "".join(
            base64.b64decode(line.split('"state": "')[1].split('"')[0]).decode()
            for line in text.splitlines()[1:]
            if '"state": "' in line
        )
        assert NAME not in states and PHONE not in states and SUMMARY not in states
        assert verify_bundle(text.splitlines()).ok

        again = world.post_raw(
            f"/v1/clients/{client_id}/erasure", {"reason": "again", "legal_basis": "PIPL"}
        )
        assert assert_problem(again, 409)["rule"] == "already_erased"
        refused = world.post_raw(
            f"/v1/clients/{client_id}/reactivation", {"reason": "back", "effective_at": at(300)}
        )
        assert assert_problem(refused, 409)["rule"] == "client_erased"

    def test_after_erasure_the_audit_log_shows_erased_not_the_personal_data(
        self, app: tuple[TestClient, Container], world: World
    ) -> None:
        api, _ = app
        client_id, _ = self._long_gone_client(world)

        def audit_events() -> dict[str, dict]:
            answer = api.get(
                "/v1/audit/events",
                params={"client_id": client_id, "after": erased["position"]},
                headers=ADMIN,
            )
            assert answer.status_code == 200, answer.text
            return {event["type"]: event for event in answer.json()["items"]}

        erased = {"position": api.get("/v1/health").json()["position"]}
        before = audit_events()
        assert before["Registered"]["data"]["name"] == NAME
        assert before["ContactLogged"]["data"]["summary"] == SUMMARY
        erased = world.post(
            f"/v1/clients/{client_id}/erasure",
            {"reason": "client asked", "legal_basis": "PIPL art. 47"},
        )
        by_type = audit_events()
        assert_personal_fields_erased(by_type)
        # Neither the plaintext nor the ciphertext the store still holds (sealed values
        # start with the cipher's prefix), in the page or in its export.
        exported = api.get(
            "/v1/audit/events",
            params={"client_id": client_id, "format": "csv", "after": erased["position"]},
            headers=ADMIN,
        ).text
        assert "[erased]" in exported
        for text in (str(by_type), exported):
            assert NAME not in text and PHONE not in text and SUMMARY not in text
            assert SEALED_PREFIX not in text

    def test_the_console_finds_by_phone_until_erasure_and_then_shows_erased(
        self, app: tuple[TestClient, Container], world: World
    ) -> None:
        api, container = app
        client_id, _ = self._long_gone_client(world)
        browser = sign_in(api, ADMIN_TOKEN)
        found = post_form(browser, "/find", "/find", {"q": "139-1234 5678"}, "find")
        assert found.status_code == 200 and f"/clients/{client_id}" in found.text
        by_word = post_form(browser, "/find", "/find", {"q": "ZHIYUAN"}, "find")
        assert f"/clients/{client_id}" in by_word.text
        erased = world.post(
            f"/v1/clients/{client_id}/erasure", {"reason": "asked", "legal_basis": "PIPL"}
        )
        assert container.runner.wait(erased["position"], timeout=5)
        roster = browser.get(f"/roster?unit_id={world['O1']}&status=churned").text
        assert f"/clients/{client_id}" in roster and "[erased]" in roster
        page = browser.get(f"/clients/{client_id}").text
        for text in (roster, page):
            assert NAME not in text and PHONE not in text and SUMMARY not in text
        found = post_form(browser, "/find", "/find", {"q": PHONE}, "find")
        assert f"/clients/{client_id}" not in found.text

    def test_no_log_line_holds_personal_data(
        self,
        app: tuple[TestClient, Container],
        world: World,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Every logger of the process at every level, as `ledger serve` writes them (JSON
        lines), through writes, reads, a refused write, a failure that quotes the client's
        name, a search and an erasure: neither name, phone, summary nor reason appears."""
        api, container = app
        with every_log_line() as lines:
            client_id, _ = self._long_gone_client(world)
            base = f"/v1/clients/{client_id}"
            for path in (base, f"{base}/history", f"{base}/history?format=csv"):
                assert api.get(path, headers=ADMIN).status_code == 200
            again = {"client_id": client_id, "name": NAME, "unit_id": world["O1"]}
            assert_problem(world.post_raw("/v1/clients", again), 409)
            bad_phone = {"phone": PHONE, "effective_at": f"{NAME} {PHONE}"}
            assert_problem(world.post_raw(f"{base}/profile", bad_phone), 422)
            browser = sign_in(api, ADMIN_TOKEN)
            found = post_form(browser, "/find", "/find", {"q": PHONE}, "find")
            assert f"/clients/{client_id}" in found.text

            def failing(*args: object, **kwargs: object) -> None:
                raise RuntimeError(f"could not read {NAME}, {PHONE}")

            with monkeypatch.context() as patch:
                patch.setattr(container.ledger, "get_client", failing)
                assert api.get(base, headers=ADMIN).status_code == 500
            erased = world.post(
                f"{base}/erasure", {"reason": "client asked", "legal_basis": "PIPL art. 47"}
            )
            assert container.runner.wait(erased["position"], timeout=5)
            assert api.get(base, headers=ADMIN).json()["erased"] is True
            assert api.get(f"{base}/history", headers=ADMIN).status_code == 200
        text = lines.getvalue()
        for personal in (NAME, *NAME.split(), PHONE, SUMMARY, "Hangzhou"):
            assert personal not in text, personal
        assert '"route":"/v1/clients/{client_id}/erasure"' in text  # the lines were caught
        assert '"error":"RuntimeError"' in text


@contextmanager
def every_log_line() -> Iterator[io.StringIO]:
    """Every record of every logger, at every level, formatted as `ledger serve` writes
    them; the test's own HTTP client (httpx) left out: it is not the ledger's log."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONLogFormatter())
    handler.addFilter(lambda record: not record.name.startswith(("httpx", "httpcore")))
    # `ledger serve` stops the ledger's loggers propagating to the root: both are caught.
    caught = [logging.getLogger(), logging.getLogger("ledger")]
    levels = {logger: logger.level for logger in (*caught, access_log)}
    for logger in caught:
        logger.addHandler(handler)
    for logger in levels:
        logger.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        for logger in caught:
            logger.removeHandler(handler)
        for logger, level in levels.items():
            logger.setLevel(level)


class TestPrivacyOnSQLite(PrivacyContract):
    @pytest.fixture
    def app(self, sqlite_url: str) -> Iterator[tuple[TestClient, Container]]:
        with running_app(sqlite_url) as running:
            yield running


class TestPrivacyOnPostgres(PrivacyContract):
    @pytest.fixture
    def app(self, postgres_url: str) -> Iterator[tuple[TestClient, Container]]:
        with running_app(postgres_url) as running:
            yield running
