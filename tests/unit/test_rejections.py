"""DOMAIN.md's "Bad input" and the other refusals: each names its field or rule, and
leaves the ledger as it was (`rejected` checks the global position)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from ledger.application import Ledger
from ledger.domain import (
    AlreadyExists,
    InvalidInput,
    LedgerError,
    NotFound,
    RuleViolation,
    StaleVersion,
)
from support.scenario import NOW, REGISTERED_AT, Bank, Clock, by, new_id, register, rejected

NAIVE = datetime(2025, 6, 1, 12, 0)


def churned(ledger: Ledger, client_id: str) -> str:
    result = ledger.churn(
        client_id=client_id,
        kind="abnormal",
        reason="lost",
        effective_at=NOW - timedelta(days=5),
        **by(),
    )
    return result.event_id


# ---- unknown ids --------------------------------------------------------------------


def test_every_client_command_on_an_unknown_client_is_not_found(ledger: Ledger, bank: Bank) -> None:
    unknown = new_id("C")
    commands: list[Any] = [
        lambda: ledger.update_profile(client_id=unknown, changes={"phone": "1"}, **by()),
        lambda: ledger.report_assets(client_id=unknown, amount="1", as_of=date(2025, 6, 1), **by()),
        lambda: ledger.change_tier(
            client_id=unknown, tier="gold", reason="r", effective_at=NOW, **by()
        ),
        lambda: ledger.assign(
            client_id=unknown, staff_id=bank.manager, reason="r", effective_at=NOW, **by()
        ),
        lambda: ledger.log_contact(
            client_id=unknown, channel="visit", staff_id=bank.manager, occurred_at=NOW, **by()
        ),
        lambda: ledger.churn(
            client_id=unknown, kind="normal", reason="r", effective_at=NOW, **by()
        ),
        lambda: ledger.reactivate(client_id=unknown, reason="r", effective_at=NOW, **by()),
        lambda: ledger.retract(client_id=unknown, event_id="e", reason="r", **by()),
        lambda: ledger.determine(
            client_id=unknown, case_id="c", outcome="waived", reason="r", **by()
        ),
    ]
    for command in commands:
        with rejected(ledger, NotFound) as info:
            command()
        assert (info.value.kind, info.value.identifier) == ("client", unknown)
        assert unknown in str(info.value)


def test_reading_an_unknown_client_is_not_found(ledger: Ledger) -> None:
    with pytest.raises(NotFound):
        ledger.get_client("NO-SUCH-CLIENT")
    with pytest.raises(NotFound):
        ledger.client_history("NO-SUCH-CLIENT")


def test_a_contact_by_unknown_staff_is_not_found(ledger: Ledger, client_id: str) -> None:
    with rejected(ledger, NotFound) as info:
        ledger.log_contact(
            client_id=client_id, channel="visit", staff_id="NO-STAFF", occurred_at=NOW, **by()
        )
    assert info.value.kind == "staff"


def test_assigning_unknown_staff_is_not_found(ledger: Ledger, client_id: str) -> None:
    with rejected(ledger, NotFound) as info:
        ledger.assign(
            client_id=client_id, staff_id="NO-STAFF", reason="r", effective_at=NOW, **by()
        )
    assert info.value.kind == "staff"


def test_registering_at_an_unknown_unit_is_not_found(ledger: Ledger) -> None:
    with rejected(ledger, NotFound) as info:
        ledger.register_client(client_id=new_id("C"), name="N", unit_id="NO-UNIT", **by())
    assert info.value.kind == "unit"


def test_a_referral_by_an_unknown_client_is_not_found(ledger: Ledger, bank: Bank) -> None:
    with rejected(ledger, NotFound) as info:
        ledger.register_client(
            client_id=new_id("C"), name="N", unit_id=bank.outlet, referred_by="NO-CLIENT", **by()
        )
    assert (info.value.kind, info.value.identifier) == ("client", "NO-CLIENT")


def test_a_client_cannot_refer_itself(ledger: Ledger, bank: Bank) -> None:
    client_id = new_id("C")
    with rejected(ledger, InvalidInput, field="referred_by"):
        ledger.register_client(
            client_id=client_id, name="N", unit_id=bank.outlet, referred_by=client_id, **by()
        )


# ---- registration ---------------------------------------------------------------------


def test_a_second_registration_of_the_same_client_id_is_refused(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    with rejected(ledger, AlreadyExists) as info:
        ledger.register_client(client_id=client_id, name="Twin", unit_id=bank.outlet, **by())
    assert info.value.rule == "duplicate_client_id"
    assert client_id in str(info.value)
    assert ledger.get_client(client_id).name == "Client " + client_id


@pytest.mark.parametrize("unit", ["branch", "department", "sub_branch"])
def test_a_client_home_unit_must_be_an_outlet(ledger: Ledger, bank: Bank, unit: str) -> None:
    with rejected(ledger, RuleViolation, rule="home_unit_not_outlet"):
        ledger.register_client(client_id=new_id("C"), name="N", unit_id=getattr(bank, unit), **by())


@pytest.mark.parametrize("tier", ["silver", "Gold", "", None, "vip"])
def test_a_tier_outside_the_list_is_refused_at_registration(
    ledger: Ledger, bank: Bank, tier: Any
) -> None:
    with rejected(ledger, InvalidInput, field="tier"):
        ledger.register_client(
            client_id=new_id("C"), name="N", unit_id=bank.outlet, tier=tier, **by()
        )


def test_an_unknown_source_is_refused(ledger: Ledger, bank: Bank) -> None:
    with rejected(ledger, InvalidInput, field="source"):
        ledger.register_client(
            client_id=new_id("C"), name="N", unit_id=bank.outlet, source="billboard", **by()
        )


@pytest.mark.parametrize("client_id", ["", " ", "a b", "x" * 65, "C/1", "../etc"])
def test_a_malformed_client_id_is_refused(ledger: Ledger, bank: Bank, client_id: str) -> None:
    with rejected(ledger, InvalidInput, field="client_id"):
        ledger.register_client(client_id=client_id, name="N", unit_id=bank.outlet, **by())


def test_a_64_character_client_id_is_accepted(ledger: Ledger, bank: Bank) -> None:
    client_id = "C" * 64
    ledger.register_client(client_id=client_id, name="N", unit_id=bank.outlet, **by())
    assert ledger.get_client(client_id).client_id == client_id


def test_a_naive_registration_time_is_refused(ledger: Ledger, bank: Bank) -> None:
    with rejected(ledger, InvalidInput, field="occurred_at"):
        ledger.register_client(
            client_id=new_id("C"), name="N", unit_id=bank.outlet, occurred_at=NAIVE, **by()
        )


def test_a_registration_in_the_future_is_refused(ledger: Ledger, bank: Bank) -> None:
    with rejected(ledger, InvalidInput, field="occurred_at"):
        ledger.register_client(
            client_id=new_id("C"),
            name="N",
            unit_id=bank.outlet,
            occurred_at=NOW + timedelta(minutes=6),
            **by(),
        )


@pytest.mark.parametrize("name", ["", "   ", "n" * 201, 42])
def test_a_blank_oversized_or_non_text_name_is_refused(
    ledger: Ledger, bank: Bank, name: Any
) -> None:
    with rejected(ledger, InvalidInput, field="name"):
        ledger.register_client(client_id=new_id("C"), name=name, unit_id=bank.outlet, **by())


# ---- time -----------------------------------------------------------------------------


def test_a_naive_effective_time_is_refused_by_every_timed_command(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    cases: list[tuple[str, Any]] = [
        (
            "effective_at",
            lambda: ledger.change_tier(
                client_id=client_id, tier="gold", reason="r", effective_at=NAIVE, **by()
            ),
        ),
        (
            "effective_at",
            lambda: ledger.assign(
                client_id=client_id, staff_id=bank.manager, reason="r", effective_at=NAIVE, **by()
            ),
        ),
        (
            "occurred_at",
            lambda: ledger.log_contact(
                client_id=client_id,
                channel="visit",
                staff_id=bank.manager,
                occurred_at=NAIVE,
                **by(),
            ),
        ),
        (
            "effective_at",
            lambda: ledger.churn(
                client_id=client_id, kind="normal", reason="r", effective_at=NAIVE, **by()
            ),
        ),
        (
            "effective_at",
            lambda: ledger.reactivate(client_id=client_id, reason="r", effective_at=NAIVE, **by()),
        ),
        (
            "effective_at",
            lambda: ledger.update_profile(
                client_id=client_id, changes={"phone": "1"}, effective_at=NAIVE, **by()
            ),
        ),
        (
            "effective_at",
            lambda: ledger.transfer_staff(
                staff_id=bank.manager, unit_id=bank.sub_branch, effective_at=NAIVE, **by()
            ),
        ),
        (
            "effective_at",
            lambda: ledger.depart_staff(
                staff_id=bank.manager, reason="r", effective_at=NAIVE, **by()
            ),
        ),
        (
            "effective_at",
            lambda: ledger.appoint_head(
                unit_id=bank.outlet, staff_id=bank.director, effective_at=NAIVE, **by()
            ),
        ),
    ]
    for field, command in cases:
        with rejected(ledger, InvalidInput, field=field) as info:
            command()
        assert "timezone" in info.value.detail


def test_a_naive_as_of_or_known_at_is_refused(ledger: Ledger, client_id: str) -> None:
    with pytest.raises(InvalidInput) as info:
        ledger.get_client(client_id, as_of=NAIVE)
    assert info.value.field == "as_of"
    with pytest.raises(InvalidInput) as info:
        ledger.get_client(client_id, known_at=NAIVE)
    assert info.value.field == "known_at"


def test_five_minutes_ahead_is_tolerated_but_more_is_refused(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    ledger.log_contact(
        client_id=client_id,
        channel="phone",
        staff_id=bank.manager,
        occurred_at=NOW + timedelta(minutes=5),
        **by(),
    )
    with rejected(ledger, InvalidInput, field="occurred_at") as info:
        ledger.log_contact(
            client_id=client_id,
            channel="phone",
            staff_id=bank.manager,
            occurred_at=NOW + timedelta(minutes=5, seconds=1),
            **by(),
        )
    assert "future" in info.value.detail
    with rejected(ledger, InvalidInput, field="effective_at"):
        ledger.change_tier(
            client_id=client_id,
            tier="gold",
            reason="r",
            effective_at=NOW + timedelta(days=1),
            **by(),
        )


def test_an_asset_report_dated_in_the_future_is_refused(ledger: Ledger, client_id: str) -> None:
    with rejected(ledger, InvalidInput, field="as_of"):
        ledger.report_assets(
            client_id=client_id, amount="1", as_of=NOW.date() + timedelta(days=1), **by()
        )


def test_every_timed_client_command_refuses_a_time_before_registration(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    before = REGISTERED_AT - timedelta(seconds=1)
    commands: list[Any] = [
        lambda: ledger.change_tier(
            client_id=client_id, tier="gold", reason="r", effective_at=before, **by()
        ),
        lambda: ledger.assign(
            client_id=client_id, staff_id=bank.manager, reason="r", effective_at=before, **by()
        ),
        lambda: ledger.log_contact(
            client_id=client_id,
            channel="visit",
            staff_id=bank.manager,
            occurred_at=before,
            **by(),
        ),
        lambda: ledger.churn(
            client_id=client_id, kind="normal", reason="r", effective_at=before, **by()
        ),
        lambda: ledger.update_profile(
            client_id=client_id, changes={"phone": "1"}, effective_at=before, **by()
        ),
        lambda: ledger.report_assets(
            client_id=client_id, amount="1", as_of=before.date() - timedelta(days=1), **by()
        ),
    ]
    for command in commands:
        with rejected(ledger, RuleViolation, rule="effective_before_registration") as info:
            command()
        assert "registration" in str(info.value)


# ---- staff ----------------------------------------------------------------------------


def test_a_departed_staff_member_cannot_log_a_contact(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    ledger.depart_staff(
        staff_id=bank.manager, reason="left", effective_at=NOW - timedelta(days=3), **by()
    )
    with rejected(ledger, RuleViolation, rule="staff_departed") as info:
        ledger.log_contact(
            client_id=client_id, channel="visit", staff_id=bank.manager, occurred_at=NOW, **by()
        )
    assert bank.manager in str(info.value)


def test_a_contact_made_before_the_departure_may_still_be_logged(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    ledger.depart_staff(
        staff_id=bank.manager, reason="left", effective_at=NOW - timedelta(days=3), **by()
    )
    visit = NOW - timedelta(days=4)
    ledger.log_contact(
        client_id=client_id, channel="visit", staff_id=bank.manager, occurred_at=visit, **by()
    )
    assert ledger.get_client(client_id).last_contact_at == visit


def test_a_departed_staff_member_cannot_be_assigned(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    ledger.depart_staff(
        staff_id=bank.other_manager, reason="left", effective_at=NOW - timedelta(days=1), **by()
    )
    with rejected(ledger, RuleViolation, rule="staff_departed"):
        ledger.assign(
            client_id=client_id, staff_id=bank.other_manager, reason="r", effective_at=NOW, **by()
        )


def test_staff_cannot_act_before_joining(ledger: Ledger, bank: Bank, client_id: str) -> None:
    newcomer = new_id("ST")
    ledger.join_staff(
        staff_id=newcomer,
        name="New",
        unit_id=bank.outlet,
        role="client_manager",
        effective_at=NOW - timedelta(days=1),
        **by(),
    )
    with rejected(ledger, RuleViolation, rule="staff_not_yet_joined"):
        ledger.log_contact(
            client_id=client_id,
            channel="visit",
            staff_id=newcomer,
            occurred_at=NOW - timedelta(days=2),
            **by(),
        )


# ---- status ---------------------------------------------------------------------------


def test_a_churn_of_a_churned_client_is_refused(ledger: Ledger, client_id: str) -> None:
    churned(ledger, client_id)
    with rejected(ledger, RuleViolation, rule="already_churned"):
        ledger.churn(client_id=client_id, kind="normal", reason="again", effective_at=NOW, **by())


def test_a_tier_change_on_a_churned_client_is_refused(ledger: Ledger, client_id: str) -> None:
    churned(ledger, client_id)
    with rejected(ledger, RuleViolation, rule="client_churned"):
        ledger.change_tier(client_id=client_id, tier="gold", reason="r", effective_at=NOW, **by())


def test_a_contact_on_a_churned_client_is_refused(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    churned(ledger, client_id)
    with rejected(ledger, RuleViolation, rule="client_churned"):
        ledger.log_contact(
            client_id=client_id, channel="visit", staff_id=bank.manager, occurred_at=NOW, **by()
        )


def test_a_reactivation_of_an_active_client_is_refused(ledger: Ledger, client_id: str) -> None:
    with rejected(ledger, RuleViolation, rule="not_churned"):
        ledger.reactivate(client_id=client_id, reason="r", effective_at=NOW, **by())


def test_a_status_change_cannot_slip_before_the_latest_one(ledger: Ledger, client_id: str) -> None:
    churned(ledger, client_id)
    with rejected(ledger, RuleViolation, rule="effective_time_order"):
        ledger.reactivate(
            client_id=client_id, reason="r", effective_at=NOW - timedelta(days=6), **by()
        )


@pytest.mark.parametrize("kind", ["lost", "ABNORMAL", "", None])
def test_an_unknown_churn_kind_is_refused(ledger: Ledger, client_id: str, kind: Any) -> None:
    with rejected(ledger, InvalidInput, field="kind"):
        ledger.churn(client_id=client_id, kind=kind, reason="r", effective_at=NOW, **by())


# ---- closed sets and text ---------------------------------------------------------------


@pytest.mark.parametrize("tier", ["silver", "", None])
def test_a_tier_change_outside_the_list_is_refused(
    ledger: Ledger, client_id: str, tier: Any
) -> None:
    with rejected(ledger, InvalidInput, field="tier"):
        ledger.change_tier(client_id=client_id, tier=tier, reason="r", effective_at=NOW, **by())


def test_a_tier_change_to_the_same_tier_is_refused(ledger: Ledger, client_id: str) -> None:
    with rejected(ledger, RuleViolation, rule="tier_unchanged"):
        ledger.change_tier(
            client_id=client_id, tier="standard", reason="r", effective_at=NOW, **by()
        )


@pytest.mark.parametrize("channel", ["email", "pigeon", "", None])
def test_an_unknown_contact_channel_is_refused(
    ledger: Ledger, bank: Bank, client_id: str, channel: Any
) -> None:
    with rejected(ledger, InvalidInput, field="channel"):
        ledger.log_contact(
            client_id=client_id, channel=channel, staff_id=bank.manager, occurred_at=NOW, **by()
        )


@pytest.mark.parametrize("role", ["teller", "wealth_manager", "boss", ""])
def test_an_unknown_team_role_is_refused(
    ledger: Ledger, bank: Bank, client_id: str, role: str
) -> None:
    with rejected(ledger, InvalidInput, field="role"):
        ledger.assign(
            client_id=client_id,
            staff_id=bank.manager,
            role=role,
            reason="r",
            effective_at=NOW,
            **by(),
        )


def test_an_unknown_profile_field_or_risk_appetite_is_refused(
    ledger: Ledger, client_id: str
) -> None:
    with rejected(ledger, InvalidInput, field="profile"):
        ledger.update_profile(client_id=client_id, changes={"salary": "high"}, **by())
    with rejected(ledger, InvalidInput, field="profile"):
        ledger.update_profile(client_id=client_id, changes={}, **by())
    with rejected(ledger, InvalidInput, field="risk_appetite"):
        ledger.update_profile(client_id=client_id, changes={"risk_appetite": "reckless"}, **by())


def test_oversized_text_is_refused_wherever_it_goes(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    cases: list[tuple[str, Any]] = [
        (
            "summary",
            lambda: ledger.log_contact(
                client_id=client_id,
                channel="visit",
                staff_id=bank.manager,
                occurred_at=NOW,
                summary="s" * 2001,
                **by(),
            ),
        ),
        (
            "purpose",
            lambda: ledger.log_contact(
                client_id=client_id,
                channel="visit",
                staff_id=bank.manager,
                occurred_at=NOW,
                purpose="p" * 501,
                **by(),
            ),
        ),
        (
            "address",
            lambda: ledger.update_profile(
                client_id=client_id, changes={"address": "a" * 501}, **by()
            ),
        ),
        (
            "reason",
            lambda: ledger.change_tier(
                client_id=client_id, tier="gold", reason="r" * 2001, effective_at=NOW, **by()
            ),
        ),
        (
            "reason",
            lambda: ledger.churn(
                client_id=client_id, kind="normal", reason="r" * 2001, effective_at=NOW, **by()
            ),
        ),
    ]
    for field, command in cases:
        with rejected(ledger, InvalidInput, field=field) as info:
            command()
        assert "at most" in info.value.detail


def test_text_at_its_limit_is_accepted(ledger: Ledger, bank: Bank, client_id: str) -> None:
    ledger.log_contact(
        client_id=client_id,
        channel="visit",
        staff_id=bank.manager,
        occurred_at=NOW,
        purpose="p" * 500,
        summary="s" * 2000,
        **by(),
    )
    assert ledger.client_history(client_id)[-1].data["summary"] == "s" * 2000


@pytest.mark.parametrize(
    "amount",
    [
        "-0.01",
        -1,
        "abc",
        "",
        "1,000",
        "NaN",
        "Infinity",
        1.5,
        0.1,
        True,
        None,
        "1.001",
        "1000000000000000",
    ],
)
def test_a_negative_non_numeric_float_or_overprecise_amount_is_refused(
    ledger: Ledger, client_id: str, amount: Any
) -> None:
    with rejected(ledger, InvalidInput, field="amount"):
        ledger.report_assets(client_id=client_id, amount=amount, as_of=date(2025, 6, 1), **by())


@pytest.mark.parametrize("as_of", ["2025-06-01", datetime(2025, 6, 1, tzinfo=NOW.tzinfo), None])
def test_an_asset_date_must_be_a_date(ledger: Ledger, client_id: str, as_of: Any) -> None:
    with rejected(ledger, InvalidInput, field="as_of"):
        ledger.report_assets(client_id=client_id, amount="1", as_of=as_of, **by())


def test_zero_assets_are_accepted(ledger: Ledger, client_id: str) -> None:
    ledger.report_assets(client_id=client_id, amount="0.00", as_of=date(2025, 6, 1), **by())
    assert ledger.get_client(client_id).assets_amount == Decimal("0")


# ---- retractions and determinations ------------------------------------------------------


def test_retracting_a_non_retractable_event_is_refused(ledger: Ledger, client_id: str) -> None:
    tier = ledger.change_tier(
        client_id=client_id, tier="gold", reason="r", effective_at=NOW, **by()
    )
    registration = ledger.client_history(client_id)[0].event_id
    for event_id in (tier.event_id, registration, "no-such-event"):
        with rejected(ledger, RuleViolation, rule="not_retractable"):
            ledger.retract(client_id=client_id, event_id=event_id, reason="r", **by())
    with rejected(ledger, InvalidInput, field="event_id"):
        ledger.retract(client_id=client_id, event_id="", reason="r", **by())


def test_retracting_another_clients_contact_is_refused(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    other = register(ledger, bank, at=REGISTERED_AT)
    contact = ledger.log_contact(
        client_id=other, channel="visit", staff_id=bank.manager, occurred_at=NOW, **by()
    )
    with rejected(ledger, RuleViolation, rule="not_retractable"):
        ledger.retract(client_id=client_id, event_id=contact.event_id, reason="r", **by())


def test_retracting_an_already_retracted_event_is_refused(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    contact = ledger.log_contact(
        client_id=client_id, channel="visit", staff_id=bank.manager, occurred_at=NOW, **by()
    )
    ledger.retract(client_id=client_id, event_id=contact.event_id, reason="wrong", **by())
    with rejected(ledger, RuleViolation, rule="already_retracted"):
        ledger.retract(client_id=client_id, event_id=contact.event_id, reason="again", **by())


def test_a_determination_needs_a_known_case_and_outcome(ledger: Ledger, client_id: str) -> None:
    case_id = churned(ledger, client_id)
    with rejected(ledger, RuleViolation, rule="unknown_churn_case"):
        ledger.determine(
            client_id=client_id, case_id="not-a-case", outcome="confirmed", reason="r", **by()
        )
    with rejected(ledger, InvalidInput, field="outcome"):
        ledger.determine(client_id=client_id, case_id=case_id, outcome="maybe", reason="r", **by())


# ---- optimistic concurrency ----------------------------------------------------------------


def test_a_stale_expected_version_is_refused(ledger: Ledger, bank: Bank, client_id: str) -> None:
    ledger.change_tier(client_id=client_id, tier="gold", reason="r", effective_at=NOW, **by())
    stale_writes: list[Any] = [
        lambda: ledger.change_tier(
            client_id=client_id,
            tier="platinum",
            reason="r",
            effective_at=NOW,
            expected_version=1,
            **by(),
        ),
        lambda: ledger.log_contact(
            client_id=client_id,
            channel="visit",
            staff_id=bank.manager,
            occurred_at=NOW,
            expected_version=1,
            **by(),
        ),
        lambda: ledger.update_profile(
            client_id=client_id, changes={"phone": "1"}, expected_version=3, **by()
        ),
    ]
    for write in stale_writes:
        with rejected(ledger, StaleVersion) as info:
            write()
        assert info.value.rule == "stale_version"
        assert info.value.actual == 2


def test_every_refusal_is_a_ledger_error_with_a_message(ledger: Ledger, clock: Clock) -> None:
    # The API maps LedgerError subclasses to problem+json; a bare exception would be a 500.
    with pytest.raises(LedgerError) as info:
        ledger.get_client("  bad id  ")
    assert info.value.message
