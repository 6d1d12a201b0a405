"""Fault: 16 writers on one client through a real server. Contacts go in blind; tier changes
and reassignments read the client and write with If-Match, re-reading on a 409. No update is
lost, every refusal is a 409 naming its rule, and the served state is the fold of the log."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from ledger.bootstrap import build
from ledger.config import Settings
from ledger.domain import Client
from support.served import (
    ADMIN,
    Answer,
    Journal,
    Request,
    Server,
    audit_log,
    build_org,
    moment,
    register_client,
    send,
)

CONTACT_WRITERS = 8
TIER_WRITERS = 4
ASSIGNMENT_WRITERS = 4
WRITES_EACH = 12
# A blind write the ledger gave up retrying is a 409 concurrent_write; the caller retries.
BLIND_RETRIES = 5

pytestmark = pytest.mark.slow


class ConcurrencyContract:
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    def test_sixteen_writers_on_one_client_lose_no_update(
        self, database_url: str, tmp_path: Path
    ) -> None:
        server = Server(database_url, tmp_path)
        server.start()
        try:
            self._run(server, database_url)
        finally:
            server.stop()

    def _run(self, server: Server, database_url: str) -> None:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            org = build_org(http, managers=4)
            client_id = register_client(http, org)
        journal = Journal()
        path = f"/v1/clients/{client_id}"
        start = threading.Barrier(CONTACT_WRITERS + TIER_WRITERS + ASSIGNMENT_WRITERS)
        failures: list[BaseException] = []

        def read(http: httpx.Client) -> dict:
            answer = http.get(path, headers=ADMIN)
            assert answer.status_code == 200, answer.text
            return answer.json()

        def contacts(writer: int) -> None:
            pick = random.Random(writer)
            with httpx.Client(base_url=server.url, timeout=60) as http:
                start.wait()
                for _ in range(WRITES_EACH):
                    body = {
                        "channel": "phone",
                        "staff_id": pick.choice(org.staff),
                        "occurred_at": moment(pick.uniform(1, 290)),
                    }
                    for _attempt in range(BLIND_RETRIES):
                        answer = send(http, Request(f"{path}/contacts", body), journal)
                        if answer.status != 409:
                            break

        def conditional(writer: int, kind: str) -> None:
            pick = random.Random(1000 + writer)
            with httpx.Client(base_url=server.url, timeout=60) as http:
                start.wait()
                for _ in range(WRITES_EACH):
                    while True:
                        state = read(http)
                        if kind == "tier":
                            tiers = {"gold", "platinum", "diamond"} - {state["tier"]}
                            body = {
                                "tier": pick.choice(sorted(tiers)),
                                "reason": "review",
                                "effective_at": datetime.now(UTC).isoformat(),
                            }
                            request_path = f"{path}/tier-changes"
                        else:
                            staff = set(org.staff) - {state["designated_manager"]}
                            body = {
                                "staff_id": pick.choice(sorted(staff)),
                                "reason": "rebalance",
                                "effective_at": datetime.now(UTC).isoformat(),
                            }
                            request_path = f"{path}/assignments"
                        headers = {"If-Match": str(state["version"])}
                        answer = send(http, Request(request_path, body, headers), journal)
                        if answer.status != 409:
                            break

        def guarded(target, *args) -> None:
            try:
                target(*args)
            except BaseException as error:
                failures.append(error)
                start.abort()

        threads = [
            threading.Thread(target=guarded, args=(contacts, n)) for n in range(CONTACT_WRITERS)
        ]
        threads += [
            threading.Thread(target=guarded, args=(conditional, n, "tier"))
            for n in range(TIER_WRITERS)
        ]
        threads += [
            threading.Thread(target=guarded, args=(conditional, n, "assignment"))
            for n in range(ASSIGNMENT_WRITERS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not failures, failures
        assert not any(thread.is_alive() for thread in threads)

        statuses = Counter(a.status for a in journal.answers)
        assert set(statuses) <= {201, 409}, [a.body for a in journal.answers if a.status != 201]
        rules = Counter(a.body["rule"] for a in journal.with_status(409))
        assert set(rules) <= {"stale_version", "concurrent_write"}, rules
        acknowledged = journal.with_status(201)
        # Every writer finished its work: each blind write and each conditional one landed.
        assert len(acknowledged) == (CONTACT_WRITERS + TIER_WRITERS + ASSIGNMENT_WRITERS) * (
            WRITES_EACH
        )
        for answer in acknowledged:
            if_match = answer.request.headers.get("If-Match")
            if if_match is not None:
                assert answer.body["version"] == int(if_match) + 1

        with httpx.Client(base_url=server.url, timeout=60) as http:
            served = read(http)
        container = build(Settings(database_url=database_url))
        try:
            audit = audit_log(container.ledger)
            audit.assert_whole()
            client_uuid = Client.id_for(client_id)
            versions = [e.version for e in audit.events if e.originator_id == client_uuid]
            # Registration plus one event per acknowledged write, and nothing else.
            assert len(versions) == 1 + len(acknowledged)
            for answer in acknowledged:
                logged = audit.by_event_id[answer.body["event_id"]]
                assert logged.version == answer.body["version"]
            replayed = container.ledger.repository.get(client_uuid)
            assert replayed.version == served["version"] == 1 + len(acknowledged)
            state = container.ledger.get_client(client_id)
        finally:
            container.close()
        assert served["tier"] == state.tier
        assert served["designated_manager"] == state.designated_manager
        assert served["team"] == state.team
        assert served["status"] == state.status
        assert datetime.fromisoformat(served["last_contact_at"]) == state.last_contact_at
        contacts_at = [
            datetime.fromisoformat(a.request.body["occurred_at"])
            for a in acknowledged
            if a.request.path.endswith("/contacts")
        ]
        assert state.last_contact_at == max(contacts_at)
        last_assignment = max(
            (a for a in acknowledged if a.request.path.endswith("/assignments")),
            key=_version,
        )
        assert state.designated_manager == last_assignment.request.body["staff_id"]
        print(
            f"\n16 writers on {server.database_url.split(':')[0]}: {len(acknowledged)} writes, "
            f"409s by rule {dict(rules)}, final version {served['version']}"
        )


def _version(answer: Answer) -> int:
    return int(answer.body["version"])


class TestConcurrencyOnSqlite(ConcurrencyContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestConcurrencyOnPostgres(ConcurrencyContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
