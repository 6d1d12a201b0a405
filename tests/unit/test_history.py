"""A client's history: every event in version order, with its place in the global log."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from ledger.application import Ledger
from ledger.application import history as history_module
from ledger.domain import Client
from support.scenario import ADMIN, NOW, REGISTERED_AT, Bank, Clock, by, register


def test_history_lists_every_event_in_version_order_with_increasing_positions(
    ledger: Ledger, bank: Bank, clock: Clock, client_id: str
) -> None:
    other = register(ledger, bank, at=REGISTERED_AT)
    # Interleave another client's events so positions skip.
    clock.advance(minutes=1)
    ledger.assign(
        client_id=client_id,
        staff_id=bank.manager,
        reason="r",
        effective_at=REGISTERED_AT,
        **by(),
    )
    ledger.log_contact(
        client_id=other, channel="visit", staff_id=bank.manager, occurred_at=NOW, **by()
    )
    clock.advance(minutes=1)
    ledger.change_tier(
        client_id=client_id,
        tier="gold",
        reason="r",
        effective_at=NOW - timedelta(weeks=3),
        **by(),
    )
    ledger.report_assets(client_id=client_id, amount="500000.00", as_of=date(2025, 6, 1), **by())
    history = ledger.client_history(client_id)
    assert [entry.type for entry in history] == [
        "Registered",
        "Assigned",
        "TierChanged",
        "AssetsReported",
    ]
    assert [entry.version for entry in history] == [1, 2, 3, 4]
    positions = [entry.position for entry in history]
    assert all(isinstance(p, int) for p in positions)
    assert positions == sorted(set(positions))  # type: ignore[type-var]
    assert positions[2] - positions[1] == 2  # the other client's contact sits between
    # Effective times are not in version order (the tier change is backdated) ...
    assert history[2].occurred_at < history[1].recorded_at
    # ... but recorded times are.
    recorded = [entry.recorded_at for entry in history]
    assert recorded == sorted(recorded)
    assert history[0].occurred_at == REGISTERED_AT


def test_history_entries_carry_the_event_payload_without_bookkeeping(
    ledger: Ledger, client_id: str
) -> None:
    ledger.report_assets(client_id=client_id, amount="12.50", as_of=date(2025, 6, 1), **by())
    registered, assets = ledger.client_history(client_id)
    assert registered.data["client_id"] == client_id
    assert registered.data["tier"] == "standard"
    assert assets.data == {"amount": Decimal("12.50"), "as_of": date(2025, 6, 1)}
    for entry in (registered, assets):
        assert entry.recorded_by == ADMIN
        assert entry.occurred_at.tzinfo is not None
        assert not {"originator_id", "originator_version", "timestamp"} & entry.data.keys()


def test_event_ids_are_stable_and_unique(ledger: Ledger, bank: Bank, client_id: str) -> None:
    contact = ledger.log_contact(
        client_id=client_id, channel="visit", staff_id=bank.manager, occurred_at=NOW, **by()
    )
    history = ledger.client_history(client_id)
    ids = [entry.event_id for entry in history]
    assert len(set(ids)) == len(ids)
    assert history[-1].event_id == contact.event_id
    # The same id comes back on every read: it is derived from the log, not made up per read.
    assert [entry.event_id for entry in ledger.client_history(client_id)] == ids


def test_a_retracted_event_stays_in_history_and_names_its_retraction(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    contact = ledger.log_contact(
        client_id=client_id, channel="phone", staff_id=bank.manager, occurred_at=NOW, **by()
    )
    retraction = ledger.retract(
        client_id=client_id, event_id=contact.event_id, reason="logged twice", **by()
    )
    history = {entry.event_id: entry for entry in ledger.client_history(client_id)}
    assert history[contact.event_id].type == "ContactLogged"
    assert history[contact.event_id].retracted_by == retraction.event_id
    assert history[retraction.event_id].data == {
        "retracted_event_id": contact.event_id,
        "reason": "logged twice",
    }
    assert history[retraction.event_id].retracted_by is None
    assert sum(entry.retracted_by is not None for entry in history.values()) == 1


def test_history_is_kept_per_client(ledger: Ledger, bank: Bank, client_id: str) -> None:
    other = register(ledger, bank, at=REGISTERED_AT)
    ledger.log_contact(
        client_id=other, channel="visit", staff_id=bank.manager, occurred_at=NOW, **by()
    )
    assert [entry.type for entry in ledger.client_history(client_id)] == ["Registered"]
    assert [entry.type for entry in ledger.client_history(other)] == [
        "Registered",
        "ContactLogged",
    ]


def test_position_counts_every_event_in_the_log(ledger: Ledger, bank: Bank) -> None:
    # Four units (+3 ChildAttached) and five staff members.
    assert ledger.position == 4 + 3 + 5
    client_id = register(ledger, bank, at=REGISTERED_AT)
    assert ledger.position == 13
    assert ledger.client_history(client_id)[0].position == 13


def test_pages_of_a_history_put_together_are_the_whole_of_it(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    other = register(ledger, bank, at=REGISTERED_AT)
    contacts = []
    for client in (client_id, other) * 4:  # the two clients' events interleave in the log
        contacts.append(
            ledger.log_contact(
                client_id=client, channel="sms", staff_id=bank.manager, occurred_at=NOW, **by()
            )
        )
    ledger.retract(client_id=client_id, event_id=contacts[0].event_id, reason="r", **by())
    whole = ledger.client_history(client_id)
    assert len(whole) == 6 and whole[1].retracted_by == whole[-1].event_id
    every, cursor = ledger.client_history_rows(client_id)
    assert cursor is None and [r["event_id"] for r in every] == [e.event_id for e in whole]
    assert every[1]["retracted_by"] == whole[-1].event_id
    for limit in (1, 4, 6, 100):
        pages = []
        while True:
            # As the API reads a page: by version range, retractions from the client's record.
            rows, cursor = ledger.client_history_rows(client_id, limit=limit, cursor=cursor)
            pages.append(rows)
            if cursor is None:
                break
        assert [len(rows) for rows in pages] == [min(limit, 6 - n) for n in range(0, 6, limit)]
        assert [row for rows in pages for row in rows] == every


@pytest.mark.parametrize("stamp_readable", [True, False])
def test_the_version_known_at_a_time_is_the_last_recorded_by_then(
    ledger: Ledger,
    bank: Bank,
    clock: Clock,
    client_id: str,
    stamp_readable: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Read from each stored event's recorded time, or, where a state holds none that can be
    read, from the event decoded: the same version either way."""
    if not stamp_readable:
        monkeypatch.setattr(history_module, "recorded_time", lambda state: None)
    recorded = [clock.now]
    for _ in range(4):
        clock.advance(minutes=10)
        ledger.log_contact(
            client_id=client_id, channel="sms", staff_id=bank.manager, occurred_at=NOW, **by()
        )
        recorded.append(clock.now)
    client = ledger.repository.get(Client.id_for(client_id))
    for version, at in enumerate(recorded, start=1):
        for moment in (at, at + timedelta(minutes=9)):
            assert ledger._version_known_at(client, moment) == version, (version, moment)
    assert ledger._version_known_at(client, recorded[0] - timedelta(microseconds=1)) is None
