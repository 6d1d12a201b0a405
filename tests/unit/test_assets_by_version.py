"""A client keeps its asset statements as text and by version (ledger/domain/client_assets.py),
no longer typed and by event id: the statement in force at any time and the retraction rules
answer as the statements kept by id answered, whether the client was replayed, read from a
snapshot of either shape, or built command by command."""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.domain import Snapshot
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ledger.domain import Client, RuleViolation
from ledger.domain.values import event_id
from support import client_states as saved
from support.client_states import BY, REGISTERED

SHANGHAI = timezone(timedelta(hours=8))
# A step: ("assets", day, in Shanghai, cents) or ("retract", which, _, _).
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("assets"), st.integers(0, 40), st.booleans(), st.integers(1, 10**9)),
        st.tuples(st.just("retract"), st.integers(0, 30), st.booleans(), st.just(0)),
    ),
    max_size=30,
)


def in_force_by_id(model: dict[str, Any], at: datetime) -> tuple[Any, Any]:
    """The rule as the client kept it before state version 3: typed statements by id."""
    current: tuple[Any, Any] = (None, None)
    for when, report_id, amount, as_of in model["statements"]:
        if when > at:
            break
        if report_id not in model["retracted"]:
            current = (amount, as_of)
    return current


def run(steps: list[tuple[str, int, bool, int]], client: Client, model: dict[str, Any]) -> None:
    for kind, number, shanghai, cents in steps:
        zone = SHANGHAI if shanghai else UTC
        if kind == "assets":
            as_of = (REGISTERED + timedelta(days=number)).astimezone(zone).date()
            amount = Decimal(cents).scaleb(-2)
            client.report_assets(amount=amount, as_of=as_of, recorded_by=BY)
            made = event_id(client.id, client.version)
            at = max(
                datetime.combine(as_of, datetime.min.time(), tzinfo=REGISTERED.tzinfo),
                REGISTERED,
            )
            times = [entry[0] for entry in model["statements"]]
            model["statements"].insert(bisect_right(times, at), [at, made, amount, as_of])
            continue
        target = event_id(client.id, 1 + number % (client.version + 1))
        ids = {entry[1] for entry in model["statements"]}
        expected = None
        if target in model["retracted"]:
            expected = "already_retracted"
        elif target not in ids:
            expected = "not_retractable"
        saved.retract_as_expected(client, target, expected, model["retracted"], REGISTERED)


def assert_same_answers(client: Client, model: dict[str, Any]) -> None:
    for days in (-1, 0, 1, 5, 10, 20, 39, 40, 41, 1000):
        at = REGISTERED + timedelta(days=days, hours=1)
        answer = client.assets_at(at)
        expected = in_force_by_id(model, at)
        assert answer == expected, days
        # The same digits: an amount's exponent is kept (1.50 stays 1.50).
        assert str(answer[0]) == str(expected[0])
        assert client.state_at(at).assets_amount == expected[0]


def new_model() -> dict[str, Any]:
    return {"statements": [], "retracted": set()}


@settings(max_examples=60, deadline=None)
@given(before=STEPS, after=STEPS)
@example(
    before=[("assets", 3, False, 150), ("assets", 3, True, 250), ("assets", 1, False, 5)],
    after=[("retract", 1, False, 0), ("retract", 2, False, 0), ("retract", 1, False, 0)],
)
def test_statements_by_version_answer_as_statements_by_id_did(
    before: list[tuple[str, int, bool, int]], after: list[tuple[str, int, bool, int]]
) -> None:
    client = saved.registered()
    model = new_model()
    run(before, client, model)
    assert_same_answers(client, model)
    events = list(client.collect_events())
    assert_same_answers(saved.replay(events), model)

    # Snapshots of both shapes taken here, then the rest of the steps on each.
    state = dict(Snapshot.take(client).state)
    old = saved.from_snapshot(client, saved.assets_v2(client, {**state, "class_version": 2}))
    new = saved.from_snapshot(client, state)
    assert_same_answers(old, model)
    assert_same_answers(new, model)
    old_model = {"statements": list(model["statements"]), "retracted": set(model["retracted"])}
    run(after, client, model)
    later = list(client.collect_events())
    assert_same_answers(client, model)
    assert_same_answers(saved.replay(later, new), model)
    run(after, old, old_model)
    assert_same_answers(old, old_model)


def test_a_snapshot_keeps_no_statement_id_and_no_typed_value() -> None:
    client = saved.registered()
    for day in range(200):
        as_of = (REGISTERED + timedelta(days=day)).date()
        client.report_assets(amount=Decimal("1000.50"), as_of=as_of, recorded_by=BY)
    state = Snapshot.take(client).state
    assert state["assets"][0] == [REGISTERED.isoformat(), 2, "1000.50", "2025-01-06"]
    assert all(isinstance(v, (str, int)) for entry in state["assets"] for v in entry)
    assert not any(event_id(client.id, 2) in str(value) for value in state.values())


def test_a_statement_of_another_client_is_not_retractable() -> None:
    client = saved.registered()
    client.report_assets(amount=Decimal(5), as_of=REGISTERED.date(), recorded_by=BY)
    foreign = event_id(Client.id_for("C2"), 2)
    with pytest.raises(RuleViolation) as refused:
        client.retract(
            retracted_event_id=foreign, reason="x", recorded_by=BY, effective_at=REGISTERED
        )
    assert refused.value.rule == "not_retractable"
    client.retract(
        retracted_event_id=event_id(client.id, 2),
        reason="x",
        recorded_by=BY,
        effective_at=REGISTERED,
    )
    assert client.assets_at(REGISTERED + timedelta(days=1)) == (None, None)


def test_a_backdated_statement_takes_its_place_in_effective_order() -> None:
    client = saved.registered()
    for day, amount in ((10, "3"), (2, "1"), (10, "4"), (5, "2")):
        as_of = (REGISTERED + timedelta(days=day)).date()
        client.report_assets(amount=Decimal(amount), as_of=as_of, recorded_by=BY)
    assert [entry[2] for entry in client.assets] == ["1", "2", "3", "4"]
    assert client.assets_at(REGISTERED + timedelta(days=6))[0] == Decimal(2)
    assert client.assets_at(REGISTERED + timedelta(days=11))[0] == Decimal(4)
    assert isinstance(date.fromisoformat(client.assets[0][3]), date)
