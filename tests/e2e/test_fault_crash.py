"""Fault: `ledger serve` and `ledger project` killed with SIGKILL under write load, then
restarted on the same store. Every write that got a 201 is in the log once, no command is
half-written, the hash chain verifies, an interrupted request retried with its
Idempotency-Key lands once, and the projections catch up to exactly the rows a rebuild
gives."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import pytest

from ledger.bootstrap import build
from ledger.config import Settings
from support.projection_scenarios import dump
from support.served import (
    ADMIN,
    Answer,
    Journal,
    Projector,
    Request,
    Server,
    Writers,
    audit_log,
    build_org,
    idempotency_keys,
    moment,
    new_id,
    register_client,
    send,
    wait_until,
)

WRITERS = 8
ACKNOWLEDGED_BEFORE_KILL = 150

pytestmark = pytest.mark.slow


class CrashContract:
    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    def test_acknowledged_writes_survive_a_sigkill_once_and_whole(
        self, database_url: str, tmp_path: Path
    ) -> None:
        server = Server(database_url, tmp_path)
        projector = Projector(database_url, tmp_path)
        server.start()
        projector.start()
        try:
            self._crash_and_check(server, projector, database_url)
        finally:
            server.stop()
            projector.stop()

    def _crash_and_check(self, server: Server, projector: Projector, database_url: str) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            org = build_org(http)
            clients = [register_client(http, org) for _ in range(6)]
        journal = Journal()

        def make_request(writer: int, n: int) -> Request:
            pick = random.Random(writer * 100_003 + n)
            key = {"Idempotency-Key": new_id("key-")}
            if n % 5 == 4:
                # A unit under a parent: the child's Created and the parent's ChildAttached.
                body = {
                    "unit_id": new_id("O"),
                    "name": "Outlet",
                    "kind": "outlet",
                    "parent_id": org.sub_branch,
                }
                return Request("/v1/units", body, key)
            client = pick.choice(clients)
            if n % 5 == 3:
                body = {
                    "tier": pick.choice(["gold", "platinum", "diamond"]),
                    "reason": "annual review",
                    "effective_at": moment(pick.uniform(1, 290)),
                }
                return Request(f"/v1/clients/{client}/tier-changes", body)
            body = {
                "channel": pick.choice(["visit", "phone", "wechat"]),
                "staff_id": pick.choice(org.staff),
                "occurred_at": moment(pick.uniform(1, 290)),
                "purpose": "review",
            }
            return Request(f"/v1/clients/{client}/contacts", body, key)

        with Writers(server.url, WRITERS, make_request, journal) as writers:
            wait_until(lambda: journal.count(201) >= ACKNOWLEDGED_BEFORE_KILL, 30, "writes to land")
            # Writers finish the request they are in and send no other: whatever has no
            # answer afterwards was in flight when the server died.
            writers.stopping.set()
            server.kill()
            assert projector.running(), projector.output()
            projector.kill()
        acknowledged = journal.with_status(201)
        in_flight = journal.with_status(None)
        refused = [a for a in journal.answers if a.status not in (201, None)]
        # A tier change to the tier the client already has is a 409; nothing else may fail.
        assert {a.status for a in refused} <= {409}, [a.body for a in refused]
        assert all(a.body and a.body.get("rule") == "tier_unchanged" for a in refused), [
            a.body for a in refused
        ]

        restart_seconds = server.start()
        container = build(Settings(database_url=database_url))
        try:
            projections = container.start_projections(follow=False)
            projected_at_kill = projections.positions()
            # The projector was killed mid-stream, having committed some of the log.
            assert max(projected_at_kill.values()) > 0, projector.output()
            projector.start()
            audit = audit_log(container.ledger)
            audit.assert_whole()
            _assert_each_acknowledged_write_logged(acknowledged, audit)
            keys = idempotency_keys(audit)
            for answer in acknowledged:
                key = answer.request.idempotency_key
                if key is not None:
                    assert keys.get(key) == answer.body["event_id"]
            landed = [a for a in in_flight if a.request.idempotency_key in keys]

            # Retried with its key, an interrupted request lands exactly once.
            retried: list[Answer] = []
            with httpx.Client(base_url=server.url, timeout=30) as http:
                for answer in in_flight:
                    if answer.request.idempotency_key is not None:
                        retried.append(send(http, answer.request, Journal()))
                _assert_histories_hold(http, clients, acknowledged)
            assert all(r.status == 201 for r in retried), [r.body for r in retried]
            for answer in retried:
                key = answer.request.idempotency_key
                was_landed = key in keys
                assert (answer.headers.get("idempotent-replayed") == "true") == was_landed
                if was_landed:
                    assert answer.body["event_id"] == keys[key]

            after = audit_log(container.ledger)
            after.assert_whole()
            _assert_each_acknowledged_write_logged(acknowledged + retried, after)
            # A new contact appends its event and its key's claim; a new unit, also the
            # parent's ChildAttached; a replay appends nothing.
            appended = sum(
                3 if r.request.path == "/v1/units" else 2
                for r in retried
                if r.headers.get("idempotent-replayed") != "true"
            )
            assert len(after.events) == len(audit.events) + appended
            verification = container.integrity.verify()
            assert verification.ok, verification
            assert verification.checked == len(after.events)

            # The restarted projector resumes from what its views committed before the kill.
            end = container.ledger.position
            wait_until(
                lambda: min(projections.positions().values()) >= end,
                30,
                f"the projections to reach {end}\n{projector.output()}",
            )
            projector.stop()
            resumed = dump(projections.views)
            assert sum(len(rows) for rows in resumed.values()) > 0
            projections.rebuild()
            assert dump(projections.views) == resumed
        finally:
            container.close()
        print(
            f"\ncrash on {server.database_url.split(':')[0]}: {len(acknowledged)} writes "
            f"acknowledged, {len(in_flight)} in flight at the kill ({len(landed)} of them "
            f"had committed), {len(refused)} refused by rule; restart to healthy in "
            f"{restart_seconds:.2f} s; {len(after.events)} events verified; projections "
            f"at {projected_at_kill} of log position {audit.events[-1].position} at the kill"
        )


def _assert_each_acknowledged_write_logged(acknowledged: list[Answer], audit) -> None:
    for answer in acknowledged:
        body = answer.body
        assert body is not None
        logged = audit.by_event_id.get(body["event_id"])
        assert logged is not None, f"acknowledged {body} is not in the log"
        assert (logged.position, logged.version) == (body["position"], body["version"])


def _assert_histories_hold(
    http: httpx.Client, clients: list[str], acknowledged: list[Answer]
) -> None:
    """The restarted server's history endpoint shows every acknowledged client event."""
    shown: set[str] = set()
    for client in clients:
        answer = http.get(f"/v1/clients/{client}/history", headers=ADMIN)
        assert answer.status_code == 200, answer.text
        events = answer.json()["events"]
        assert [e["version"] for e in events] == list(range(1, len(events) + 1))
        shown.update(e["event_id"] for e in events)
    for answer in acknowledged:
        if answer.request.path.startswith("/v1/clients/"):
            assert answer.body["event_id"] in shown


class TestCrashOnSqlite(CrashContract):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestCrashOnPostgres(CrashContract):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
