"""A client's history read from the stored rows, not the events (issue 17): the mapper's
`opened_states` gives each stored event's class and state with every personal value
opened, the very values its event gives when read (plain, legacy plain, `"[erased]"`,
upcast); each store reads one aggregate's rows with their positions; `event_ids` makes
`event_id`'s ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.compressor import ZlibCompressor
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import MapperDeserialisationError, StoredEvent
from eventsourcing.utils import get_topic

from ledger.application import Ledger
from ledger.domain import Client
from ledger.domain.values import event_id, event_ids
from ledger.privacy import ERASED, PersonalDataMapper
from support.privacy import mapper_on
from support.scenario import NOW, Bank, by

AT = datetime(2031, 6, 1, tzinfo=UTC)
TEXT = 'Zoë 张伟 "quoted" \\ 🎉'


class Noted(Aggregate):
    """An aggregate whose event changed shape (its version 1 held `note`)."""

    class Written(Aggregate.Event):
        class_version = 2
        text: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["text"] = f"{state.pop('note')} (at version {state['originator_version']})"


def _client_events() -> list[Any]:
    """A client's events holding each kind of personal value, and one holding none."""
    client = Client.register(
        client_id="C1", name=TEXT, unit_id="O1", recorded_by="t", effective_at=AT
    )
    client.update_profile(changes={"phone": "139 1234", "hobbies": TEXT}, **_by())
    client.log_contact(channel="visit", staff_id="M1", purpose="p", summary=TEXT, **_by())
    client.log_contact(channel="phone", staff_id="M1", purpose="q", summary=None, **_by())
    client.assign(staff_id="M1", role="client_manager", reason="new", **_by())
    return client.collect_events()


def _by() -> dict[str, Any]:
    return {"recorded_by": "t", "effective_at": AT}


class _AsItIs:
    def compress(self, data: bytes) -> bytes:
        return data

    def decompress(self, data: bytes) -> bytes:
        return data


def _rows(stored: list[StoredEvent]) -> list[tuple[int, str, bytes, int]]:
    return [(s.originator_version, s.topic, s.state, n) for n, s in enumerate(stored, 1)]


def _as_read(mapper: PersonalDataMapper, stored: StoredEvent) -> tuple[type, dict[str, Any]]:
    """The event's class and fields as a reader of the event sees them (by attribute)."""
    event = mapper.to_domain_event(stored)
    ids = ("originator_id", "originator_version")
    return type(event), {key: getattr(event, key) for key in vars(event) if key not in ids}


@pytest.fixture(params=["plain", "compressed"])
def mapper(request: pytest.FixtureRequest) -> PersonalDataMapper:
    """The ledger's mapper, and one whose stored bytes are compressed as well (the
    library's `COMPRESSOR_TOPIC`)."""
    made = mapper_on()
    if request.param == "compressed":
        made.compressor = ZlibCompressor()
    return made


def test_stored_states_open_to_what_their_events_read(mapper: PersonalDataMapper) -> None:
    events = _client_events()
    stored = [mapper.to_stored_event(e) for e in events]
    # A value stored plain, before personal data was sealed, is read as it is.
    compressor = mapper.compressor or _AsItIs()
    legacy = json.loads(compressor.decompress(stored[2].state))
    legacy["purpose"] = "stored plain"
    contact = stored[2]
    stored[2] = StoredEvent(
        contact.originator_id,
        contact.originator_version,
        contact.topic,
        compressor.compress(json.dumps(legacy).encode()),
    )
    opened = mapper.opened_states(events[0].originator_id, _rows(stored))
    assert opened == [_as_read(mapper, s) for s in stored]
    assert [state.get("summary") for _, state in opened] == [None, None, TEXT, "", None]
    assert opened[1][1]["changes"] == {"phone": "139 1234", "hobbies": TEXT}
    assert opened[2][1]["purpose"] == "stored plain"
    # The keys in the order the stored state holds them, as the event's `__dict__` has.
    stored_keys = json.loads(compressor.decompress(stored[2].state))
    assert list(opened[2][1]) == [k for k in stored_keys if k != "class_version"]


def test_an_erased_subject_s_stored_states_read_erased(mapper: PersonalDataMapper) -> None:
    events = _client_events()
    stored = [mapper.to_stored_event(e) for e in events]
    mapper.keyring.erase(str(events[0].originator_id))
    opened = mapper.opened_states(events[0].originator_id, _rows(stored))
    assert opened == [_as_read(mapper, s) for s in stored]
    assert opened[0][1]["name"] == opened[2][1]["summary"] == ERASED
    assert opened[1][1]["changes"] == {"phone": ERASED, "hobbies": ERASED}
    assert opened[4][1]["reason"] == "new"  # not personal: never sealed, never erased


def test_a_stored_state_of_an_older_class_version_is_upcast(
    mapper: PersonalDataMapper,
) -> None:
    topic = get_topic(Noted.Written)
    state = {"timestamp": AT, "note": "first"}
    encoded = (mapper.compressor or _AsItIs()).compress(mapper.transcoder.encode(state))
    stored = StoredEvent(uuid4(), 3, topic, encoded)
    ((cls, opened),) = mapper.opened_states(stored.originator_id, _rows([stored])[:1])
    assert (cls, opened) == _as_read(mapper, stored)
    assert opened == {"timestamp": AT, "text": "first (at version 3)"}


def test_a_stored_state_that_does_not_decode_fails_as_the_event_does(
    mapper: PersonalDataMapper,
) -> None:
    stored = StoredEvent(uuid4(), 1, get_topic(Client.Erased), b"{not json")
    with pytest.raises(MapperDeserialisationError) as as_event:
        mapper.to_domain_event(stored)
    with pytest.raises(MapperDeserialisationError) as as_state:
        mapper.opened_states(stored.originator_id, _rows([stored]))
    assert str(as_state.value) == str(as_event.value)
    assert str(stored.originator_id) in str(as_state.value)


def test_a_store_reads_an_aggregate_s_rows_with_their_positions(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    for _ in range(3):
        ledger.log_contact(
            client_id=client_id, channel="visit", staff_id=bank.manager, occurred_at=NOW, **by()
        )
    client_uuid = Client.id_for(client_id)
    recorder: Any = ledger.recorder
    rows = recorder.aggregate_rows(client_uuid)
    stored = recorder.select_events(client_uuid)
    positions = recorder.event_positions(client_uuid)
    assert rows == [
        (s.originator_version, s.topic, s.state, positions[s.originator_version]) for s in stored
    ]
    assert recorder.aggregate_rows(client_uuid, (1, 3)) == rows[1:3]
    assert recorder.aggregate_rows(client_uuid, (1, 9), 2) == rows[1:3]
    assert recorder.aggregate_rows(Client.id_for("nobody")) == []


def test_event_ids_of_an_aggregate_are_event_id_s() -> None:
    for originator_id in (uuid4(), uuid4(), Client.id_for("C1")):
        made = event_ids(originator_id)
        for version in (*range(1, 300), 4_096, 10_001, 2**31 - 1):
            assert made(version) == event_id(originator_id, version)
