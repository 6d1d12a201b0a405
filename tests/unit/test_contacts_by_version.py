"""A client keeps its contacts by version (ledger/domain/client_contacts.py), no longer by
event id: the last contact as of any time and the retraction rules answer as the contacts
kept by id answered, whether the client was replayed, read from a snapshot of either
shape, or built command by command."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from eventsourcing.domain import Snapshot
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ledger.domain import Client, RuleViolation
from ledger.domain.values import event_id
from support.client_states import (
    BY,
    REGISTERED,
    assets_v2,
    from_snapshot,
    registered,
    replay,
    retract_as_expected,
)

SHANGHAI = timezone(timedelta(hours=8))

# A step: ("contact", hour, in Shanghai time), ("assets", _, _) or ("retract", which, _).
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("contact"), st.integers(0, 48), st.booleans()),
        st.tuples(st.just("assets"), st.integers(0, 48), st.booleans()),
        st.tuples(st.just("retract"), st.integers(0, 30), st.booleans()),
    ),
    max_size=30,
)


def last_contact_by_id(contacts: dict[str, str], retracted: set[str], at: datetime) -> Any:
    """The rule as the client kept it before state version 2: every contact by id."""
    latest = None
    for contact_id, when in contacts.items():
        if contact_id in retracted:
            continue
        moment = datetime.fromisoformat(when)
        if moment <= at and (latest is None or moment > latest):
            latest = moment
    return latest


def state_v1(client: Client) -> dict[str, Any]:
    """The snapshot state the client had as version 1 kept it: its contacts by id, each
    retractable as a contact."""
    state = dict(Snapshot.take(client).state)
    del state["class_version"]
    versions = [v for first, last in state.pop("contact_versions") for v in range(first, last + 1)]
    contacts = {
        **state.pop("contacts_by_id"),
        **{
            event_id(client.id, v): when
            for v, when in zip(versions, state.pop("contact_times"), strict=True)
        },
    }
    for key in ("retracted_contacts", "latest_contact"):
        del state[key]
    state["contacts"] = contacts
    state["retractable"] = {**state["retractable"], **dict.fromkeys(contacts, "contact")}
    return assets_v2(client, state)


def contact(client: Client, at: datetime) -> None:
    client.log_contact(
        channel="phone", staff_id="M1", purpose=None, summary=None, recorded_by=BY, effective_at=at
    )


def run(steps: list[tuple[str, int, bool]], client: Client, model: dict[str, Any]) -> None:
    """The steps on `client`, the contacts by id in `model` as version 1 kept them."""
    for kind, number, shanghai in steps:
        at = (REGISTERED + timedelta(hours=number)).astimezone(SHANGHAI if shanghai else UTC)
        if kind == "contact":
            contact(client, at)
            model["contacts"][event_id(client.id, client.version)] = at.isoformat()
        elif kind == "assets":
            client.report_assets(amount=Decimal(number), as_of=at.date(), recorded_by=BY)
            model["assets"].add(event_id(client.id, client.version))
        else:
            # Any event of the client, or one past its latest: a contact, another event,
            # one retracted already, or none at all.
            target = event_id(client.id, 1 + number % (client.version + 1))
            expected = None
            if target in model["retracted"]:
                expected = "already_retracted"
            elif not ({target} & (model["contacts"].keys() | model["assets"])) and (
                target not in client.retractable
            ):
                expected = "not_retractable"
            retract_as_expected(client, target, expected, model["retracted"], at)


def assert_same_answers(client: Client, model: dict[str, Any]) -> None:
    for hour in (-1, 0, 1, 7, 8, 9, 24, 40, 48, 49, 1000):
        at = REGISTERED + timedelta(hours=hour)
        expected = last_contact_by_id(model["contacts"], model["retracted"], at)
        answer = client.last_contact_at(at)
        # The same instant in the same offset: the ISO text of the answer is unchanged too.
        assert (answer, answer and answer.isoformat()) == (
            expected,
            expected and expected.isoformat(),
        ), hour
    assert client.contact_count == len(model["contacts"])


@settings(max_examples=60, deadline=None)
@given(before=STEPS, after=STEPS)
# One instant in two offsets: the earlier recorded is the answer, in its own offset.
@example(before=[("contact", 5, False), ("contact", 5, True)], after=[("retract", 1, False)])
@example(before=[("contact", 5, True)], after=[("contact", 5, False), ("retract", 1, False)])
def test_contacts_by_version_answer_as_contacts_by_id_did(
    before: list[tuple[str, int, bool]], after: list[tuple[str, int, bool]]
) -> None:
    client = registered()
    model: dict[str, Any] = {"contacts": {}, "retracted": set(), "assets": set()}
    run(before, client, model)
    assert_same_answers(client, model)
    events = list(client.collect_events())
    assert_same_answers(replay(events), model)

    # Snapshots of both shapes taken here, then the rest of the steps on each.
    old = from_snapshot(client, state_v1(client))
    new = from_snapshot(client, dict(Snapshot.take(client).state))
    assert_same_answers(old, model)
    old_model = {
        "contacts": dict(model["contacts"]),
        "retracted": set(model["retracted"]),
        "assets": set(model["assets"]),
    }
    run(after, client, model)
    later = list(client.collect_events())
    assert_same_answers(client, model)
    assert_same_answers(replay(later, new), model)
    # The old snapshot's client takes the same commands and answers the same.
    run(after, old, old_model)
    assert_same_answers(old, old_model)
    assert old_model == model


def test_a_snapshot_keeps_no_contact_id() -> None:
    client = registered()
    for hour in range(200):
        contact(client, REGISTERED + timedelta(hours=hour))
    state = Snapshot.take(client).state
    assert state["contact_versions"] == [[2, 201]]
    assert not any(event_id(client.id, 2) in str(value) for value in state.values())


def test_a_contact_of_another_client_is_not_retractable() -> None:
    client = registered()
    contact(client, REGISTERED)
    # The same version of another client: the id differs.
    foreign = event_id(Client.id_for("C2"), 2)
    with pytest.raises(RuleViolation) as refused:
        client.retract(
            retracted_event_id=foreign, reason="x", recorded_by=BY, effective_at=REGISTERED
        )
    assert refused.value.rule == "not_retractable"
