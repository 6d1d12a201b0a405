"""Properties of the effective-time folds: whatever order facts are recorded in, the
client as of any moment agrees with a plain model of the facts."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.bootstrap import build
from ledger.config import Settings
from ledger.domain import RuleViolation
from ledger.domain.values import TIERS
from support.scenario import ADMIN, NOW, REGISTERED_AT, STAFF_SINCE, Clock, build_bank, register

# Offsets in hours after registration; registration is 60 days (1440 h) before "now".
HOURS = st.integers(min_value=0, max_value=1440)


@settings(max_examples=40, deadline=None)
@given(changes=st.lists(st.tuples(HOURS, st.sampled_from(TIERS)), max_size=12))
def test_tier_as_of_any_time_is_the_latest_change_in_effect(
    changes: list[tuple[int, str]],
) -> None:
    container = build(Settings(database_url="memory://"), clock=Clock())
    ledger = container.ledger
    bank = build_bank(ledger, staff_since=STAFF_SINCE)
    client_id = register(ledger, bank, at=REGISTERED_AT)
    # The model: (effective hour, recorded sequence, tier); the registration is hour 0.
    model: list[tuple[int, int, str]] = [(0, 0, "standard")]

    def model_tier(hour: float) -> str:
        return max(entry for entry in model if entry[0] <= hour)[2]

    for sequence, (hour, tier) in enumerate(changes, start=1):
        at = REGISTERED_AT + timedelta(hours=hour)
        if model_tier(hour) == tier:
            try:
                ledger.change_tier(
                    client_id=client_id, tier=tier, reason="r", effective_at=at, recorded_by=ADMIN
                )
            except RuleViolation as error:
                assert error.rule == "tier_unchanged"
            else:
                raise AssertionError("a change to the tier in force was accepted")
        else:
            ledger.change_tier(
                client_id=client_id, tier=tier, reason="r", effective_at=at, recorded_by=ADMIN
            )
            model.append((hour, sequence, tier))

    for hour in (0, 1, 100, 359.5, 720, 1000, 1439, 1440):
        as_of = REGISTERED_AT + timedelta(hours=hour)
        assert ledger.get_client(client_id, as_of=as_of).tier == model_tier(hour), hour
    assert ledger.get_client(client_id).version == len(model)
    container.close()


@settings(max_examples=40, deadline=None)
@given(
    contacts=st.lists(st.tuples(HOURS, st.booleans()), min_size=1, max_size=15),
    as_of_hours=st.lists(HOURS, min_size=1, max_size=5),
)
def test_last_contact_is_the_latest_unretracted_contact_in_effect(
    contacts: list[tuple[int, bool]], as_of_hours: list[int]
) -> None:
    container = build(Settings(database_url="memory://"), clock=Clock())
    ledger = container.ledger
    bank = build_bank(ledger, staff_since=STAFF_SINCE)
    client_id = register(ledger, bank, at=REGISTERED_AT)
    kept = []
    for hour, retract in contacts:
        at = REGISTERED_AT + timedelta(hours=hour)
        result = ledger.log_contact(
            client_id=client_id,
            channel="phone",
            staff_id=bank.manager,
            occurred_at=at,
            recorded_by=ADMIN,
        )
        if retract:
            ledger.retract(
                client_id=client_id, event_id=result.event_id, reason="r", recorded_by=ADMIN
            )
        else:
            kept.append(at)
    for hour in [*as_of_hours, 1440]:
        as_of = REGISTERED_AT + timedelta(hours=hour)
        expected = max((at for at in kept if at <= as_of), default=None)
        assert ledger.get_client(client_id, as_of=as_of).last_contact_at == expected
    assert ledger.get_client(client_id).last_contact_at == max(kept, default=None)
    assert REGISTERED_AT + timedelta(hours=1440) == NOW
    container.close()
