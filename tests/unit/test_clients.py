"""Every client event through the application service, and the state it folds into."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from ledger.application import Ledger
from ledger.domain import Client, RuleViolation
from support.scenario import ADMIN, NOW, REGISTERED_AT, Bank, Clock, by, new_id, register, rejected

MANAGER = "manager:test"


def last_event(ledger: Ledger, client_id: str) -> Client.Event:
    return list(ledger.events.get(Client.id_for(client_id)))[-1]


def test_registration_records_the_client_as_active_at_its_tier(ledger: Ledger, bank: Bank) -> None:
    client_id = new_id("C")
    referrer = register(ledger, bank, at=REGISTERED_AT)
    result = ledger.register_client(
        client_id=client_id,
        name="Wang Fang",
        unit_id=bank.outlet,
        tier="gold",
        occurred_at=REGISTERED_AT,
        source="referral",
        referred_by=referrer,
        recorded_by=MANAGER,
    )
    assert (result.id, result.type, result.version) == (client_id, "Registered", 1)
    assert result.recorded_by == MANAGER
    assert result.position == ledger.position
    client = ledger.get_client(client_id)
    assert (client.name, client.unit_id, client.tier, client.status) == (
        "Wang Fang",
        bank.outlet,
        "gold",
        "active",
    )
    assert (client.source, client.referred_by) == ("referral", referrer)
    assert client.team == {}
    assert client.designated_manager is None
    assert client.profile == {}
    assert client.assets_amount is None
    assert client.last_contact_at is None
    assert client.version == 1


def test_registration_defaults_to_standard_and_now(ledger: Ledger, bank: Bank) -> None:
    client_id = new_id("C")
    ledger.register_client(
        client_id=client_id, name="Zhao Lei", unit_id=bank.outlet, recorded_by=MANAGER
    )
    assert ledger.get_client(client_id).tier == "standard"
    assert ledger.client_history(client_id)[0].occurred_at == NOW


def test_profile_updates_fold_and_null_clears_a_field(ledger: Ledger, client_id: str) -> None:
    first = ledger.update_profile(
        client_id=client_id,
        changes={"address": "1 Bund Road", "phone": "+86 21 5555 0101", "hobbies": "golf"},
        recorded_by=MANAGER,
        effective_at=NOW - timedelta(days=10),
    )
    assert first.type == "ProfileUpdated"
    ledger.update_profile(
        client_id=client_id,
        changes={"phone": None, "risk_appetite": "balanced", "employer": "Acme"},
        recorded_by=MANAGER,
        effective_at=NOW - timedelta(days=5),
    )
    assert ledger.get_client(client_id).profile == {
        "address": "1 Bund Road",
        "hobbies": "golf",
        "risk_appetite": "balanced",
        "employer": "Acme",
    }
    # Before the second update, the phone was still there.
    assert ledger.get_client(client_id, as_of=NOW - timedelta(days=7)).profile == {
        "address": "1 Bund Road",
        "phone": "+86 21 5555 0101",
        "hobbies": "golf",
    }


def test_a_backdated_profile_update_folds_in_effective_order(
    ledger: Ledger, client_id: str
) -> None:
    ledger.update_profile(
        client_id=client_id,
        changes={"employer": "New Co"},
        recorded_by=MANAGER,
        effective_at=NOW - timedelta(days=2),
    )
    # Recorded later, effective earlier: the newer fact still wins.
    ledger.update_profile(
        client_id=client_id,
        changes={"employer": "Old Co"},
        recorded_by=MANAGER,
        effective_at=NOW - timedelta(days=20),
    )
    assert ledger.get_client(client_id).profile == {"employer": "New Co"}
    assert ledger.get_client(client_id, as_of=NOW - timedelta(days=10)).profile == {
        "employer": "Old Co"
    }


def test_assets_are_exact_decimals_as_of_a_date(ledger: Ledger, client_id: str) -> None:
    result = ledger.report_assets(
        client_id=client_id, amount="1234567.89", as_of=date(2025, 6, 1), recorded_by=MANAGER
    )
    assert result.type == "AssetsReported"
    client = ledger.get_client(client_id)
    assert client.assets_amount == Decimal("1234567.89")
    assert isinstance(client.assets_amount, Decimal)
    assert client.assets_as_of == date(2025, 6, 1)
    event = last_event(ledger, client_id)
    assert event.effective_at == datetime(2025, 6, 1, tzinfo=REGISTERED_AT.tzinfo)


def test_assets_accept_an_integer_and_a_decimal(ledger: Ledger, client_id: str) -> None:
    ledger.report_assets(
        client_id=client_id, amount=5_000_000, as_of=date(2025, 5, 1), recorded_by=MANAGER
    )
    assert ledger.get_client(client_id).assets_amount == Decimal(5_000_000)
    ledger.report_assets(
        client_id=client_id, amount=Decimal("0.50"), as_of=date(2025, 6, 1), recorded_by=MANAGER
    )
    assert ledger.get_client(client_id).assets_amount == Decimal("0.50")


def test_assets_as_of_the_registration_day_take_effect_at_registration(
    ledger: Ledger, client_id: str
) -> None:
    ledger.report_assets(
        client_id=client_id, amount="10", as_of=REGISTERED_AT.date(), recorded_by=MANAGER
    )
    assert last_event(ledger, client_id).effective_at == REGISTERED_AT
    assert ledger.get_client(client_id, as_of=REGISTERED_AT).assets_amount == Decimal("10")


def test_a_later_asset_report_replaces_the_earlier_one(ledger: Ledger, client_id: str) -> None:
    ledger.report_assets(client_id=client_id, amount="100", as_of=date(2025, 6, 1), **by())
    ledger.report_assets(client_id=client_id, amount="200", as_of=date(2025, 5, 1), **by())
    assert ledger.get_client(client_id).assets_amount == Decimal("100")
    as_of_may = ledger.get_client(client_id, as_of=datetime(2025, 5, 15, tzinfo=NOW.tzinfo))
    assert as_of_may.assets_amount == Decimal("200")


def test_a_tier_change_records_the_previous_tier(ledger: Ledger, client_id: str) -> None:
    result = ledger.change_tier(
        client_id=client_id, tier="platinum", reason="assets over 6m", effective_at=NOW, **by()
    )
    assert result.type == "TierChanged"
    event = last_event(ledger, client_id)
    assert (event.tier, event.previous_tier, event.reason) == (
        "platinum",
        "standard",
        "assets over 6m",
    )
    assert ledger.get_client(client_id).tier == "platinum"


@pytest.mark.parametrize(
    "role", ["client_manager", "president", "vice_president", "outlet_director"]
)
def test_each_team_role_can_be_assigned(
    ledger: Ledger, bank: Bank, client_id: str, role: str
) -> None:
    staff_for_role = {
        "client_manager": bank.manager,
        "president": bank.president,
        "vice_president": bank.vice_president,
        "outlet_director": bank.director,
    }
    result = ledger.assign(
        client_id=client_id,
        staff_id=staff_for_role[role],
        role=role,
        reason="name list",
        effective_at=NOW - timedelta(days=1),
        **by(),
    )
    assert result.type == "Assigned"
    event = last_event(ledger, client_id)
    assert (event.role, event.staff_id, event.previous_staff_id) == (
        role,
        staff_for_role[role],
        None,
    )
    assert ledger.get_client(client_id).assigned == {role: staff_for_role[role]}


def test_the_team_is_the_one_the_tier_calls_for(ledger: Ledger, bank: Bank, client_id: str) -> None:
    for staff_id, role in (
        (bank.manager, "client_manager"),
        (bank.director, "outlet_director"),
        (bank.vice_president, "vice_president"),
        (bank.president, "president"),
    ):
        ledger.assign(
            client_id=client_id,
            staff_id=staff_id,
            role=role,
            reason="name list",
            effective_at=NOW - timedelta(days=30),
            **by(),
        )
    for tier, roles in (
        ("gold", {"client_manager", "outlet_director"}),
        ("platinum", {"client_manager", "outlet_director", "vice_president"}),
        ("diamond", {"client_manager", "outlet_director", "vice_president", "president"}),
    ):
        ledger.change_tier(
            client_id=client_id, tier=tier, reason="review", effective_at=NOW, **by()
        )
        client = ledger.get_client(client_id)
        assert set(client.team) == roles, tier
        assert len(client.assigned) == 4


def test_the_team_and_designated_manager_follow_assignments(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    for staff_id, role in (
        (bank.manager, "client_manager"),
        (bank.director, "outlet_director"),
        (bank.vice_president, "vice_president"),
        (bank.president, "president"),
    ):
        ledger.assign(
            client_id=client_id,
            staff_id=staff_id,
            role=role,
            reason="diamond team",
            effective_at=NOW - timedelta(days=30),
            **by(),
        )
    ledger.assign(
        client_id=client_id,
        staff_id=bank.other_manager,
        reason="handover",
        effective_at=NOW - timedelta(days=10),
        **by(),
    )
    handover = last_event(ledger, client_id)
    assert (handover.role, handover.previous_staff_id) == ("client_manager", bank.manager)
    client = ledger.get_client(client_id)
    assert client.designated_manager == bank.other_manager
    assert client.assigned == {
        "client_manager": bank.other_manager,
        "president": bank.president,
        "vice_president": bank.vice_president,
        "outlet_director": bank.director,
    }
    # A standard client's team is the outlet director and the designated manager.
    assert client.team == {"client_manager": bank.other_manager, "outlet_director": bank.director}
    before_handover = ledger.get_client(client_id, as_of=NOW - timedelta(days=20))
    assert before_handover.designated_manager == bank.manager


def test_assigning_the_current_holder_again_is_refused(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    ledger.assign(
        client_id=client_id, staff_id=bank.manager, reason="first", effective_at=NOW, **by()
    )
    with rejected(ledger, RuleViolation, rule="already_assigned"):
        ledger.assign(
            client_id=client_id, staff_id=bank.manager, reason="again", effective_at=NOW, **by()
        )


@pytest.mark.parametrize("channel", ["visit", "phone", "sms", "letter", "event", "wechat"])
def test_a_contact_on_any_channel_updates_last_contact(
    ledger: Ledger, bank: Bank, client_id: str, channel: str
) -> None:
    occurred = NOW - timedelta(hours=3)
    result = ledger.log_contact(
        client_id=client_id,
        channel=channel,
        staff_id=bank.manager,
        occurred_at=occurred,
        purpose="Spring Festival greeting",
        summary="Discussed the new wealth product",
        **by(),
    )
    assert result.type == "ContactLogged"
    event = last_event(ledger, client_id)
    assert (event.channel, event.staff_id, event.purpose, event.summary) == (
        channel,
        bank.manager,
        "Spring Festival greeting",
        "Discussed the new wealth product",
    )
    assert ledger.get_client(client_id).last_contact_at == occurred


def test_last_contact_is_the_latest_in_effective_time(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    latest = NOW - timedelta(days=2)
    for days in (2, 9, 5):
        ledger.log_contact(
            client_id=client_id,
            channel="visit",
            staff_id=bank.manager,
            occurred_at=NOW - timedelta(days=days),
            **by(),
        )
    assert ledger.get_client(client_id).last_contact_at == latest
    assert ledger.get_client(client_id, as_of=NOW - timedelta(days=6)).last_contact_at == (
        NOW - timedelta(days=9)
    )


def test_a_contact_may_come_from_any_active_staff_member(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    # All-staff client manager system: a teller at another unit may make the contact.
    teller = new_id("ST")
    ledger.join_staff(
        staff_id=teller,
        name="Teller",
        unit_id=bank.sub_branch,
        role="teller",
        effective_at=NOW - timedelta(days=100),
        **by(),
    )
    ledger.log_contact(
        client_id=client_id, channel="phone", staff_id=teller, occurred_at=NOW, **by()
    )
    assert ledger.get_client(client_id).last_contact_at == NOW


def test_a_churn_records_its_kind(ledger: Ledger, client_id: str) -> None:
    result = ledger.churn(
        client_id=client_id,
        kind="abnormal",
        reason="moved to a competitor",
        effective_at=NOW - timedelta(days=1),
        **by(),
    )
    assert result.type == "Churned"
    client = ledger.get_client(client_id)
    assert (client.status, client.churn_kind) == ("churned", "abnormal")
    assert ledger.get_client(client_id, as_of=NOW - timedelta(days=2)).status == "active"


def test_a_reactivation_wins_the_client_back(ledger: Ledger, client_id: str) -> None:
    ledger.churn(
        client_id=client_id,
        kind="normal",
        reason="relocated",
        effective_at=NOW - timedelta(days=10),
        **by(),
    )
    result = ledger.reactivate(
        client_id=client_id, reason="came back", effective_at=NOW - timedelta(days=1), **by()
    )
    assert result.type == "Reactivated"
    client = ledger.get_client(client_id)
    assert (client.status, client.churn_kind) == ("active", None)
    assert ledger.get_client(client_id, as_of=NOW - timedelta(days=5)).status == "churned"
    # Won back, the client can churn again.
    ledger.churn(
        client_id=client_id, kind="abnormal", reason="lost again", effective_at=NOW, **by()
    )
    assert ledger.get_client(client_id).status == "churned"


def test_a_retraction_takes_a_contact_out_of_last_contact(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    earlier = NOW - timedelta(days=8)
    ledger.log_contact(
        client_id=client_id, channel="visit", staff_id=bank.manager, occurred_at=earlier, **by()
    )
    mistaken = ledger.log_contact(
        client_id=client_id,
        channel="phone",
        staff_id=bank.manager,
        occurred_at=NOW - timedelta(days=1),
        **by(),
    )
    result = ledger.retract(
        client_id=client_id, event_id=mistaken.event_id, reason="wrong client", **by()
    )
    assert result.type == "EventRetracted"
    assert last_event(ledger, client_id).retracted_event_id == mistaken.event_id
    assert ledger.get_client(client_id).last_contact_at == earlier


def test_a_retraction_takes_a_profile_update_or_asset_report_out_of_the_fold(
    ledger: Ledger, client_id: str
) -> None:
    ledger.update_profile(
        client_id=client_id, changes={"phone": "111"}, effective_at=NOW - timedelta(days=3), **by()
    )
    wrong_phone = ledger.update_profile(
        client_id=client_id, changes={"phone": "222"}, effective_at=NOW - timedelta(days=1), **by()
    )
    ledger.report_assets(client_id=client_id, amount="100", as_of=date(2025, 5, 1), **by())
    wrong_assets = ledger.report_assets(
        client_id=client_id, amount="9999", as_of=date(2025, 6, 1), **by()
    )
    ledger.retract(client_id=client_id, event_id=wrong_phone.event_id, reason="typo", **by())
    ledger.retract(client_id=client_id, event_id=wrong_assets.event_id, reason="typo", **by())
    client = ledger.get_client(client_id)
    assert client.profile == {"phone": "111"}
    assert client.assets_amount == Decimal("100")


def test_a_churn_determination_is_recorded_against_the_churn_case(
    ledger: Ledger, client_id: str
) -> None:
    churn = ledger.churn(
        client_id=client_id, kind="abnormal", reason="dissatisfied", effective_at=NOW, **by()
    )
    result = ledger.determine(
        client_id=client_id,
        case_id=churn.event_id,
        outcome="confirmed",
        reason="manager ignored complaints",
        recorded_by="compliance:test",
    )
    assert (result.type, result.recorded_by) == ("ChurnDetermined", "compliance:test")
    ledger.determine(
        client_id=client_id,
        case_id=churn.event_id,
        outcome="waived",
        reason="on appeal: client emigrated",
        recorded_by="compliance:test",
    )
    # The latest determination stands; the earlier one stays in the history.
    determination = ledger.get_client(client_id).determinations[churn.event_id]
    assert (determination["outcome"], determination["reason"]) == (
        "waived",
        "on appeal: client emigrated",
    )
    types = [entry.type for entry in ledger.client_history(client_id)]
    assert types.count("ChurnDetermined") == 2


def test_every_write_answers_with_the_event_and_its_place(
    ledger: Ledger, bank: Bank, client_id: str, clock: Clock
) -> None:
    clock.advance(seconds=1)
    before = ledger.position
    result = ledger.log_contact(
        client_id=client_id, channel="sms", staff_id=bank.manager, occurred_at=NOW, **by()
    )
    entry = ledger.client_history(client_id)[-1]
    assert result.id == client_id
    assert result.event_id == entry.event_id
    assert result.version == entry.version == 2
    assert result.position == entry.position == before + 1
    assert result.recorded_at == entry.recorded_at
    assert result.recorded_by == entry.recorded_by == ADMIN


def test_expected_version_that_matches_lets_the_write_through(
    ledger: Ledger, client_id: str
) -> None:
    result = ledger.change_tier(
        client_id=client_id,
        tier="gold",
        reason="upgrade",
        effective_at=NOW,
        expected_version=1,
        **by(),
    )
    assert result.version == 2


def test_the_outlet_director_defaults_to_the_head_of_the_clients_outlet(
    ledger: Ledger, bank: Bank, client_id: str, clock: Clock
) -> None:
    ledger.assign(
        client_id=client_id,
        staff_id=bank.manager,
        reason="r",
        effective_at=NOW - timedelta(days=30),
        **by(),
    )
    ledger.appoint_head(
        unit_id=bank.outlet, staff_id=bank.director, effective_at=NOW - timedelta(days=10), **by()
    )
    assert ledger.get_client(client_id).team == {
        "client_manager": bank.manager,
        "outlet_director": bank.director,
    }
    before_head = ledger.get_client(client_id, as_of=NOW - timedelta(days=20))
    assert before_head.team == {"client_manager": bank.manager}
    # An explicit assignment to the client wins over the default.
    clock.advance(hours=1)
    ledger.assign(
        client_id=client_id,
        staff_id=bank.vice_president,
        role="outlet_director",
        reason="cover",
        effective_at=NOW - timedelta(days=5),
        **by(),
    )
    assert ledger.get_client(client_id).team["outlet_director"] == bank.vice_president
    assert ledger.get_client(client_id, known_at=NOW).team["outlet_director"] == bank.director


def test_the_default_outlet_director_is_the_head_as_known_at(
    ledger: Ledger, bank: Bank, client_id: str, clock: Clock
) -> None:
    clock.advance(days=1)
    ledger.appoint_head(
        unit_id=bank.outlet, staff_id=bank.director, effective_at=NOW - timedelta(days=10), **by()
    )
    assert ledger.get_client(client_id).team == {"outlet_director": bank.director}
    assert ledger.get_client(client_id, known_at=NOW).team == {}


def test_a_read_as_of_now_shows_a_write_that_landed_while_it_was_loading(
    ledger: Ledger, client_id: str, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read answers the version it loaded; "now" must be no earlier than that load, or a
    write committed meanwhile (effective a moment ago) is counted in the version but missing
    from the state, and a writer acting on that read is refused for a change already made."""
    load = ledger.repository.get
    armed = [True]

    def load_while_a_write_lands(aggregate_id, *args, **kwargs):
        if armed[0] and aggregate_id == Client.id_for(client_id):
            armed[0] = False
            clock.advance(seconds=1)
            ledger.change_tier(
                client_id=client_id,
                tier="platinum",
                reason="grew",
                effective_at=clock.now - timedelta(seconds=0.5),
                recorded_by=ADMIN,
            )
        return load(aggregate_id, *args, **kwargs)

    monkeypatch.setattr(ledger.repository, "get", load_while_a_write_lands)
    state = ledger.get_client(client_id)
    assert state.version == 2
    assert state.tier == "platinum"
