"""Two times: effective ("as of", when it happened) and recorded ("as known at")."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.application import Ledger
from ledger.domain import Client, NotFound, Staff, Unit
from support.scenario import ADMIN, NOW, REGISTERED_AT, Bank, Clock, by


def test_a_backdated_tier_change_applies_from_its_effective_time(
    ledger: Ledger, clock: Clock, client_id: str
) -> None:
    three_weeks_ago = NOW - timedelta(weeks=3)
    result = ledger.change_tier(
        client_id=client_id, tier="gold", reason="Q2 review", effective_at=three_weeks_ago, **by()
    )
    assert result.recorded_at == NOW
    assert ledger.get_client(client_id).tier == "gold"
    assert ledger.get_client(client_id, as_of=three_weeks_ago).tier == "gold"
    assert ledger.get_client(client_id, as_of=three_weeks_ago - timedelta(seconds=1)).tier == (
        "standard"
    )
    assert ledger.get_client(client_id, as_of=REGISTERED_AT).tier == "standard"


def test_a_backdated_change_slots_between_earlier_and_later_ones(
    ledger: Ledger, client_id: str
) -> None:
    ledger.change_tier(
        client_id=client_id,
        tier="diamond",
        reason="r",
        effective_at=NOW - timedelta(days=5),
        **by(),
    )
    # Recorded after the diamond upgrade, effective before it.
    result = ledger.change_tier(
        client_id=client_id,
        tier="gold",
        reason="r",
        effective_at=NOW - timedelta(days=30),
        **by(),
    )
    event = list(ledger.events.get(Client.id_for(client_id)))[-1]
    assert event.previous_tier == "standard"
    assert result.version == 3
    timeline = [
        ledger.get_client(client_id, as_of=NOW - timedelta(days=days)).tier
        for days in (40, 30, 10, 5, 0)
    ]
    assert timeline == ["standard", "gold", "gold", "diamond", "diamond"]


def test_as_of_before_registration_shows_the_registration_tier(
    ledger: Ledger, client_id: str
) -> None:
    ledger.change_tier(client_id=client_id, tier="gold", reason="r", effective_at=NOW, **by())
    early = ledger.get_client(client_id, as_of=REGISTERED_AT - timedelta(days=1))
    assert early.tier == "standard"


def test_known_at_shows_what_the_ledger_knew_then(
    ledger: Ledger, clock: Clock, client_id: str
) -> None:
    # The client was registered at NOW (recorded time). A day later a tier change is
    # recorded, backdated three weeks.
    recorded_registration = NOW
    clock.advance(days=1)
    ledger.change_tier(
        client_id=client_id,
        tier="platinum",
        reason="late paperwork",
        effective_at=NOW - timedelta(weeks=3),
        **by(),
    )
    as_of = NOW - timedelta(days=7)
    as_known_then = ledger.get_client(client_id, as_of=as_of, known_at=recorded_registration)
    as_known_now = ledger.get_client(client_id, as_of=as_of)
    assert (as_known_then.tier, as_known_then.version) == ("standard", 1)
    assert (as_known_now.tier, as_known_now.version) == ("platinum", 2)
    # known_at between the two recordings still sees only the first.
    between = ledger.get_client(client_id, as_of=as_of, known_at=NOW + timedelta(hours=12))
    assert between.tier == "standard"


def test_known_at_before_the_client_was_recorded_is_not_found(
    ledger: Ledger, client_id: str
) -> None:
    with pytest.raises(NotFound):
        ledger.get_client(client_id, known_at=NOW - timedelta(seconds=1))


def test_recorded_time_comes_from_the_ledgers_clock(
    ledger: Ledger, clock: Clock, bank: Bank, client_id: str
) -> None:
    clock.advance(hours=2)
    result = ledger.log_contact(
        client_id=client_id,
        channel="visit",
        staff_id=bank.manager,
        occurred_at=NOW - timedelta(days=1),
        **by(),
    )
    assert result.recorded_at == clock.now
    entry = ledger.client_history(client_id)[-1]
    assert entry.recorded_at == clock.now
    assert entry.occurred_at == NOW - timedelta(days=1)


def test_a_retraction_is_seen_only_by_those_who_know_of_it(
    ledger: Ledger, clock: Clock, bank: Bank, client_id: str
) -> None:
    visit = NOW - timedelta(days=2)
    contact = ledger.log_contact(
        client_id=client_id, channel="visit", staff_id=bank.manager, occurred_at=visit, **by()
    )
    clock.advance(days=1)
    ledger.retract(client_id=client_id, event_id=contact.event_id, reason="wrong", **by())
    assert ledger.get_client(client_id).last_contact_at is None
    assert ledger.get_client(client_id, known_at=NOW).last_contact_at == visit


def test_a_backdated_assignment_answers_who_was_responsible_then(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    ledger.assign(
        client_id=client_id,
        staff_id=bank.manager,
        reason="onboarding",
        effective_at=REGISTERED_AT,
        **by(),
    )
    ledger.assign(
        client_id=client_id,
        staff_id=bank.other_manager,
        reason="handover",
        effective_at=NOW - timedelta(days=20),
        **by(),
    )
    # Recorded last, effective in the middle: an interim holder.
    ledger.assign(
        client_id=client_id,
        staff_id=bank.director,
        reason="cover",
        effective_at=NOW - timedelta(days=40),
        **by(),
    )
    holders = [
        ledger.get_client(client_id, as_of=NOW - timedelta(days=days)).designated_manager
        for days in (50, 40, 30, 20, 0)
    ]
    assert holders == [
        bank.manager,
        bank.director,
        bank.director,
        bank.other_manager,
        bank.other_manager,
    ]


def test_every_event_carries_who_recorded_it_and_an_aware_effective_time(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    ledger.appoint_head(unit_id=bank.outlet, staff_id=bank.director, effective_at=NOW, **by())
    ledger.transfer_staff(
        staff_id=bank.other_manager, unit_id=bank.sub_branch, effective_at=NOW, **by()
    )
    ledger.depart_staff(staff_id=bank.other_manager, reason="left", effective_at=NOW, **by())
    ledger.update_profile(client_id=client_id, changes={"phone": "1"}, **by())
    ledger.log_contact(
        client_id=client_id, channel="visit", staff_id=bank.manager, occurred_at=NOW, **by()
    )
    ids = [
        *(Unit.id_for(u) for u in (bank.branch, bank.department, bank.sub_branch, bank.outlet)),
        *(Staff.id_for(s) for s in (bank.manager, bank.other_manager, bank.director)),
        Client.id_for(client_id),
    ]
    events = [event for aggregate_id in ids for event in ledger.events.get(aggregate_id)]
    assert len(events) >= 15
    for event in events:
        assert event.recorded_by == ADMIN
        assert event.effective_at.tzinfo is not None
        assert event.effective_at.utcoffset() is not None
        assert event.timestamp.tzinfo is not None
