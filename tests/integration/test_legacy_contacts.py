"""A client snapshot written before contacts were kept by version (state version 1, in the
store of commit 478c92c) still loads, answers as a replay of its events answers, and takes
retractions of contacts from before and after it."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledger.application import Ledger
from ledger.domain import Client, RuleViolation
from ledger.store import library_environment

LEGACY = Path(__file__).parent.parent / "fixtures" / "legacy" / "store-478c92c.db"
# The store's client C1: a snapshot at version 100, 128 events, contacts from version 8.
T0 = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
TIMES = [T0 + timedelta(days=days) for days in (0, 41, 45, 46, 200, 349, 350, 1000)]


class ReplayingLedger(Ledger):
    """The same store read by replaying every event, snapshots unread."""

    snapshotting_intervals = {}


@pytest.fixture
def ledgers(tmp_path: Path) -> tuple[Ledger, Ledger]:
    copy = tmp_path / "ledger.db"
    shutil.copy(LEGACY, copy)
    env = library_environment(f"sqlite:///{copy}")
    return Ledger(env), ReplayingLedger({**env, "IS_SNAPSHOTTING_ENABLED": "n"})


def answers(ledger: Ledger) -> list[object]:
    return [ledger.get_client("C1", as_of=at).last_contact_at for at in TIMES]


def contact_versions(ledger: Ledger) -> list[tuple[int, str]]:
    return [
        (e.version, e.event_id) for e in ledger.client_history("C1") if e.type == "ContactLogged"
    ]


def test_an_old_snapshot_answers_and_retracts_as_a_replay(ledgers: tuple[Ledger, Ledger]) -> None:
    ledger, replaying = ledgers
    uuid = Client.id_for("C1")
    assert ledger.snapshots is not None and replaying.snapshots is None
    assert ledger.repository.get(uuid).contacts_by_id  # read from the old snapshot
    assert answers(ledger) == answers(replaying)
    assert answers(ledger)[-1] == datetime(2025, 12, 22, 9, 0, tzinfo=UTC)

    contacts = contact_versions(ledger)
    before_snapshot = [event for version, event in contacts if version <= 100]
    latest = contacts[-1][1]
    for event in (before_snapshot[-1], latest, before_snapshot[0]):
        ledger.retract(client_id="C1", event_id=event, reason="wrong", recorded_by="admin")
        assert answers(ledger) == answers(replaying)
    assert answers(ledger)[-1] == T0 + timedelta(days=41, hours=119)
    for event in (before_snapshot[-1], latest):
        with pytest.raises(RuleViolation) as refused:
            ledger.retract(client_id="C1", event_id=event, reason="again", recorded_by="admin")
        assert refused.value.rule == "already_retracted"

    # A snapshot of the new shape, the old contacts still by id in it, answers the same.
    ledger.take_snapshot(uuid)
    (snapshot,) = list(ledger.snapshots.get(uuid, desc=True, limit=1))
    assert snapshot.originator_version == 131 and snapshot.state["class_version"] == 3
    assert len(snapshot.state["contacts_by_id"]) == len(before_snapshot)
    assert answers(ledger) == answers(replaying)
    ledger.close()
    replaying.close()
