"""A store written by the ledger before issue 11's restructure (commit 478c92c) is read by
today's code: every stored event type, a client snapshot, the hash chain and an
idempotency claim. Stored topics embed module paths; a class moved without
`register_topic` would fail here (see tests/fixtures/legacy/make_store.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from support.api_world import ADMIN, running_app
from support.history import model_bytes

LEGACY = Path(__file__).parent.parent / "fixtures" / "legacy" / "store-478c92c.db"
EVENTS = 156


@pytest.fixture
def legacy_url(tmp_path: Path) -> str:
    copy = tmp_path / "ledger.db"
    shutil.copy(LEGACY, copy)
    return f"sqlite:///{copy}"


def test_reads_every_event_type_of_the_old_store(legacy_url: str) -> None:
    with running_app(legacy_url) as (api, _):
        c1 = api.get("/v1/clients/C1", headers=ADMIN).json()
        assert (c1["name"], c1["tier"], c1["status"]) == ("王芳", "platinum", "active")
        assert c1["designated_manager"] == "M1"
        assert c1["profile"]["address"] == "上海市浦东新区"
        # The retracted statement of 9.99 no longer counts.
        assert c1["assets"] == {"amount": "1200000.50", "as_of": "2025-02-01"}
        # 121 contacts among 128 events: loaded from the snapshot at version 100.
        assert c1["version"] == 128
        assert c1["last_contact_at"] == "2025-12-22T09:00:00Z"

        history = api.get("/v1/clients/C1/history", headers=ADMIN).json()["events"]
        assert len(history) == 128
        assert [e["version"] for e in history] == list(range(1, 129))
        retracted = [e for e in history if e["retracted_by"]]
        assert [e["type"] for e in retracted] == ["AssetsReported"]
        assert {e["type"] for e in history} == {
            "Registered",
            "Assigned",
            "ProfileUpdated",
            "AssetsReported",
            "EventRetracted",
            "TierChanged",
            "ContactLogged",
        }

        c2 = api.get("/v1/clients/C2", headers=ADMIN).json()
        assert (c2["status"], c2["referred_by"]) == ("active", "C1")
        assert c2["team"]["vice_president"] == "V1"
        events = api.get("/v1/clients/C2/history", headers=ADMIN).json()["events"]
        types = [e["type"] for e in events]
        assert types[-3:] == ["Churned", "ChurnDetermined", "Reactivated"]

        assert api.get("/v1/staff/M2", headers=ADMIN).json()["status"] == "departed"
        assert api.get("/v1/staff/M3", headers=ADMIN).json()["unit_id"] == "O1"
        unit = api.get("/v1/units/O1", headers=ADMIN).json()
        assert unit["head_staff_id"] == "H1"
        assert api.get("/v1/units/S", headers=ADMIN).json()["children"] == ["O1", "O2"]


def test_old_store_verifies_and_projects(legacy_url: str) -> None:
    with running_app(legacy_url) as (api, _):
        digest = api.get("/v1/integrity/digest", headers=ADMIN).json()
        assert digest["position"] == EVENTS
        check = api.post("/v1/integrity/verify", json=digest, headers=ADMIN).json()
        assert check["ok"] is True
        assert check["checked"] == EVENTS

        roster = api.get(f"/v1/rosters?unit_id=B&after={EVENTS}", headers=ADMIN)
        assert roster.status_code == 200, roster.text
        assert [c["client_id"] for c in roster.json()["items"]] == ["C1", "C2"]
        cases = api.get(f"/v1/accountability/churn-cases?unit_id=B&after={EVENTS}", headers=ADMIN)
        (case,) = cases.json()["items"]
        assert (case["client_id"], case["accountability_tier"], case["in_scope"]) == (
            "C2",
            "platinum",
            True,
        )
        assert case["designated_manager"] == "M2"
        assert case["unit_head"] == "H1"
        assert case["determination"]["outcome"] == "confirmed"
        # Stored before determinations kept a party and facts: the whole case, not stale.
        assert (case["determination"]["party"], case["determination"]["stale"]) == (None, False)
        assert case["pending"] is False


def test_old_idempotency_claim_still_replays(legacy_url: str) -> None:
    with running_app(legacy_url) as (_, container):
        ledger = container.ledger
        before = ledger.position
        result, replayed = ledger.idempotent(
            scope="admin",
            key="legacy-key",
            fingerprint="f" * 64,
            write=lambda: pytest.fail("a claimed key must not write again"),
        )
        assert replayed is True
        assert result.id == "C1"
        assert result.type == "ContactLogged"
        assert ledger.position == before


def test_old_histories_are_the_bytes_the_model_writes(legacy_url: str) -> None:
    """Read from the stored rows (issue 17), an old store's histories are what the model
    writes from its events: personal values stored plain, a snapshot, a retraction."""
    with running_app(legacy_url) as (api, container):
        for client_id in ("C1", "C2"):
            path = f"/v1/clients/{client_id}/history"
            whole = api.get(path, headers=ADMIN)
            assert whole.content == model_bytes(container.ledger, client_id, 0, None)
            page = api.get(path, params={"limit": 50, "cursor": "2"}, headers=ADMIN)
            assert page.content == model_bytes(container.ledger, client_id, 2, 50)
        first = api.get("/v1/clients/C1/history", headers=ADMIN).json()["events"][0]
        assert (first["type"], first["data"]["name"]) == ("Registered", "王芳")
