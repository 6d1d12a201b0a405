"""The bulk path's shortcuts make exactly what the long way makes: an aggregate's id as
`uuid5`, an event as its class's constructor, a stored event as `RecordedEvent(...)`."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

import pytest

from ledger.domain import Client
from ledger.domain.client_intake import _constructed
from ledger.domain.values import aggregate_uuid, event_id
from ledger.store.recorded_order import RecordedEvent

NOW = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize("kind", ["client", "staff", "unit", "prospect"])
@pytest.mark.parametrize("business_id", ["N0000001", "C-full", "", "名单:7", "a" * 300, "x\x00y"])
def test_an_aggregate_id_is_its_uuid5(kind: str, business_id: str) -> None:
    made = aggregate_uuid.__wrapped__(kind, business_id)
    expected = uuid5(NAMESPACE_URL, f"urn:ledger:{kind}:{business_id}")
    assert made == expected
    assert (str(made), hash(made), made.version, made.variant) == (
        str(expected),
        hash(expected),
        5,
        expected.variant,
    )
    assert made.is_safe is expected.is_safe
    assert type(made) is UUID
    assert pickle.loads(pickle.dumps(made)) == expected == copy.deepcopy(made)


def test_an_event_id_is_its_uuid5() -> None:
    namespace = uuid5(NAMESPACE_URL, "urn:ledger:event")
    ids = [uuid4() for _ in range(300)] + [UUID(int=0), UUID(int=(1 << 128) - 1)]
    variants = set()
    for n, originator_id in enumerate(ids):
        for version in (1, 2, 10, 99, n * 7919, 10**12):
            expected = str(uuid5(namespace, f"{originator_id}/{version}"))
            assert event_id(originator_id, version) == expected
            variants.add(expected[19])
    assert variants == set("89ab")  # every variant digit was met


ASSIGNED = {
    "originator_id": uuid4(),
    "originator_version": 2,
    "timestamp": NOW,
    "staff_id": "ST-1",
    "role": "designated_manager",
    "reason": "name-list import",
    "previous_staff_id": None,
    "recorded_by": "admin",
    "effective_at": NOW,
}


def test_an_event_constructed_is_the_one_its_class_makes() -> None:
    constructed = _constructed(Client.Assigned, ASSIGNED)
    made = Client.Assigned(**ASSIGNED)
    assert type(constructed) is Client.Assigned
    assert constructed == made
    # In the order the constructor sets them: the order the transcoder writes them in.
    assert list(vars(constructed).items()) == list(vars(made).items())
    with pytest.raises(AttributeError):
        constructed.staff_id = "ST-2"  # type: ignore[misc]


def test_an_event_of_other_values_goes_to_its_constructor() -> None:
    with pytest.raises(TypeError, match="reason"):
        _constructed(Client.Assigned, {k: v for k, v in ASSIGNED.items() if k != "reason"})
    with pytest.raises(TypeError, match="colour"):
        _constructed(
            Client.Assigned,
            {**{k: v for k, v in ASSIGNED.items() if k != "reason"}, "colour": "red"},
        )
    with pytest.raises(TypeError, match="non-UUID originator_id"):
        _constructed(Client.Assigned, {**ASSIGNED, "originator_id": "N0000001"})


def test_a_recorded_event_made_is_the_one_its_class_makes() -> None:
    fields = {
        "originator_id": uuid4(),
        "originator_version": 3,
        "topic": "ledger.domain.client:Client.AssetsReported",
        "state": b'{"amount":"1.00"}',
        "recorded_at": NOW,
    }
    made = RecordedEvent.made(*fields.values())
    assert made == RecordedEvent(**fields)  # type: ignore[arg-type]
    assert list(vars(made).items()) == list(fields.items())
    assert (made.state, made.recorded_at) == (fields["state"], NOW)
    assert pickle.loads(pickle.dumps(made)) == made
