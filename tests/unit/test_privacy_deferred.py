"""Personal values left sealed when their event is loaded and opened on first read
(ledger.privacy.deferred): every reader sees plain text, an erased subject's value reads
`"[erased]"`, and a copied event shares what opens it rather than copying the key ring."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

from eventsourcing.domain import Snapshot
from eventsourcing.persistence import Mapper, Notification, StoredEvent
from eventsourcing.utils import get_topic

from ledger.application import Ledger
from ledger.application.history import event_data
from ledger.bootstrap import build
from ledger.config import Settings
from ledger.demo import load_demo
from ledger.domain import Client
from ledger.privacy import ERASED, KeyRing, MasterKey, MemoryKeyTable, PersonalDataMapper
from ledger.privacy.cipher import is_sealed, new_key, seal
from ledger.privacy.deferred import SealedValue
from ledger.privacy.registry import EVENTS
from ledger.projections.reading import deserialise
from support.privacy import mapper_on
from support.scenario import REGISTERED_AT, Bank, by

NOW = datetime(2031, 6, 1, tzinfo=UTC)


def _event(cls: Any, version: int, **fields: Any) -> Any:
    """An event of a new client at `version`, recorded and effective NOW."""
    return cls(
        originator_id=uuid4(),
        originator_version=version,
        timestamp=NOW,
        recorded_by="t",
        effective_at=NOW,
        **fields,
    )


def _contact(summary: str | None = "asked about the Shenzhen flat") -> Client.ContactLogged:
    return _event(
        Client.ContactLogged, 2, channel="phone", staff_id="M1", purpose="check-in", summary=summary
    )


def _loaded(mapper: PersonalDataMapper, event: Client.ContactLogged) -> Client.ContactLogged:
    return mapper.to_domain_event(mapper.to_stored_event(event))


def test_only_fields_the_aggregate_never_holds_are_deferred() -> None:
    assert EVENTS[Client.ContactLogged].deferred == ("purpose", "summary")
    assert EVENTS[Client.Churned].deferred == ("reason",)
    # A created event's fields go to the aggregate's __init__ straight from its __dict__,
    # and a profile update's changes are kept in the state: both opened on load.
    assert EVENTS[Client.Registered].deferred == ()
    assert EVENTS[Client.ProfileUpdated].deferred == ()


def test_a_loaded_value_stays_sealed_until_read_then_reads_plain(
    mapper: PersonalDataMapper,
) -> None:
    loaded = _loaded(mapper, _contact())
    assert isinstance(loaded.__dict__["summary"], SealedValue)
    assert loaded.summary == "asked about the Shenzhen flat"
    assert loaded.__dict__["summary"] == "asked about the Shenzhen flat"  # opened once
    assert event_data(loaded)["purpose"] == "check-in"


def test_an_absent_value_is_none_and_nothing_to_open(mapper: PersonalDataMapper) -> None:
    loaded = _loaded(mapper, _contact(summary=None))
    assert loaded.__dict__["summary"] is None and loaded.summary is None


def test_a_value_read_after_its_subject_was_erased_reads_erased(
    mapper: PersonalDataMapper,
) -> None:
    event = _contact()
    loaded = _loaded(mapper, event)
    mapper.keyring.erase(str(event.originator_id))
    assert loaded.summary == ERASED
    assert event_data(loaded)["purpose"] == ERASED


def test_a_copied_event_shares_the_sealed_value_and_not_the_key_ring(
    mapper: PersonalDataMapper,
) -> None:
    loaded = _loaded(mapper, _contact())
    sealed = loaded.__dict__["summary"]
    copied = copy.deepcopy(loaded)
    assert copied.__dict__["summary"] is sealed and sealed[0] is mapper
    assert copied.summary == "asked about the Shenzhen flat"
    assert isinstance(loaded.__dict__["summary"], SealedValue)  # the original is untouched


def test_a_pickled_event_holds_its_values_not_the_key_ring(mapper: PersonalDataMapper) -> None:
    loaded = _loaded(mapper, _contact())
    pickled = pickle.dumps(loaded)
    assert b"KeyRing" not in pickled and b"PersonalDataMapper" not in pickled
    assert pickle.loads(pickled).summary == "asked about the Shenzhen flat"


def test_a_loaded_event_stores_again_sealed_in_its_place(mapper: PersonalDataMapper) -> None:
    loaded = _loaded(mapper, _contact())
    stored = mapper.to_stored_event(loaded)
    assert b"Shenzhen" not in stored.state and is_sealed(mapper._decoded(stored)["summary"])
    assert mapper.to_domain_event(stored).summary == "asked about the Shenzhen flat"


def test_storing_an_event_leaves_it_and_its_aggregate_plain(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    """The mapper seals a copy of what it stores: a profile update's `changes` is one dict
    shared by the event and the client's state, so sealing it in place put ciphertext in
    the client kept in hand after the save (and in any snapshot taken of it)."""
    client = ledger.repository.get(Client.id_for(client_id))
    client.update_profile(
        changes={"phone": "13800000000", "employer": "Acme"}, effective_at=NOW, **by()
    )
    event = client.collect_events()[-1]
    stored = ledger.mapper.to_stored_event(event)
    assert b"13800000000" not in stored.state
    assert event.changes == {"phone": "13800000000", "employer": "Acme"}
    assert client.profile_updates[-1][2] == {"phone": "13800000000", "employer": "Acme"}


def _profile_update(changes: dict[str, str]) -> Client.ProfileUpdated:
    return _event(Client.ProfileUpdated, 3, changes=changes)


def test_a_value_sealed_twice_by_an_earlier_version_opens_to_the_value(
    mapper: PersonalDataMapper,
) -> None:
    """Before e2d291e an insert stamped again stored a profile update's values sealed twice
    (its first encoding had sealed them in the event's own dict): they open to the value,
    in an event loaded and in a history's rows; text that only looks like a token stays."""
    once = _profile_update({"phone": "13800000000", "employer": "pd1:not-a-token"})
    token = mapper._decoded(mapper.to_stored_event(once))["changes"]["phone"]
    twice = _profile_update({"phone": token, "employer": "pd1:not-a-token"})
    object.__setattr__(twice, "originator_id", once.originator_id)
    stored = mapper.to_stored_event(twice)
    assert is_sealed(mapper._decoded(stored)["changes"]["phone"])
    expected = {"phone": "13800000000", "employer": "pd1:not-a-token"}
    assert mapper.to_domain_event(stored).changes == expected
    [(_, state)] = mapper.opened_states(once.originator_id, [(3, stored.topic, stored.state, None)])
    assert state["changes"] == expected


def test_storing_any_event_twice_leaves_it_as_it_was_and_stores_the_same_values() -> None:
    """Every kind of event the demo writes, loaded and stored again twice (as an insert
    stamped again is): the event is unchanged by it, and both stored states open to the
    same values (a mapper that sealed in place stored the second one sealed twice)."""
    container = build(Settings(database_url="memory://"))
    try:
        ledger = container.ledger
        load_demo(ledger, seed=5, clients=120, end=date(2026, 6, 30))
        notifications = ledger.recorder.select_notifications(start=1, limit=10**6)
        mapper = ledger.mapper
        topics = set()
        for n in notifications:
            event = mapper.to_domain_event(n)
            before = copy.deepcopy(vars(event))
            first, second = mapper.to_stored_event(event), mapper.to_stored_event(event)
            assert vars(event) == before, n.topic
            rows = [(n.originator_version, n.topic, s.state, None) for s in (first, second)]
            [(_, once), (_, again)] = mapper.opened_states(n.originator_id, rows)
            assert once == again, n.topic
            topics.add(n.topic)
        assert len(topics) >= 15
    finally:
        container.close()


def _sealed_values(value: object) -> list[SealedValue]:
    if isinstance(value, SealedValue):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return [found for item in value for found in _sealed_values(item)]
    return []


def test_a_replayed_client_holds_no_value_left_sealed(
    ledger: Ledger, bank: Bank, client_id: str
) -> None:
    """A deferred field that an event's `apply` kept in the state would leave the state
    sealed (and its snapshot unwritable): none is kept."""
    at = REGISTERED_AT + timedelta(days=1)
    ledger.log_contact(
        client_id=client_id,
        channel="phone",
        staff_id=bank.manager,
        purpose="check-in",
        summary="the Shenzhen flat",
        occurred_at=at,
        **by(),
    )
    ledger.change_tier(client_id=client_id, tier="gold", reason="grew", effective_at=at, **by())
    ledger.churn(client_id=client_id, kind="normal", reason="moved", effective_at=at, **by())
    ledger.reactivate(client_id=client_id, reason="came back", effective_at=at, **by())
    client = ledger.repository.get(Client.id_for(client_id))
    assert len(client.statuses) == 3 and client.contact_count == 1
    assert _sealed_values(vars(client)) == []


class CountingKeyTable(MemoryKeyTable):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, subject: str) -> tuple[bytes | None, str | None] | None:
        self.reads += 1
        return super().get(subject)

    def get_many(self, subjects: list[str]) -> dict[str, tuple[bytes | None, str | None]]:
        self.reads += 1
        return super().get_many(subjects)


def test_a_page_of_events_opens_with_one_read_of_its_clients_keys() -> None:
    """A rebuild reads pages of events of thousands of clients: their keys are read in one
    query per page, not one each (a query per client cost a 200,000-event rebuild more
    than opening its values did)."""
    table, master = CountingKeyTable(), MasterKey(new_key())
    writer = mapper_on(KeyRing(master, table))
    events = [_registered(f"C{n}") for n in range(30)]
    stored = [writer.to_stored_event(event) for event in events]
    erased = str(events[0].originator_id)
    KeyRing(master, table).erase(erased)
    page = [
        Notification(
            id=n + 1,
            originator_id=s.originator_id,
            originator_version=s.originator_version,
            topic=s.topic,
            state=s.state,
        )
        for n, s in enumerate(stored)
    ]
    app = SimpleNamespace(mapper=mapper_on(KeyRing(master, table)), name="ledger")
    table.reads = 0
    names = [event.name for event, _, _ in deserialise(app, page)]  # type: ignore[arg-type]
    assert table.reads == 1
    assert names == [ERASED, *(f"name of C{n}" for n in range(1, 30))]
    deserialise(app, page)  # type: ignore[arg-type]  # known already: no read at all
    assert table.reads == 1


def _registered(client_id: str) -> Client.Registered:
    client = Client.register(
        client_id=client_id,
        name=f"name of {client_id}",
        unit_id="O1",
        recorded_by="t",
        effective_at=NOW,
    )
    return client.collect_events()[0]  # type: ignore[return-value]


def _snapshot_of_a_long_client() -> Snapshot:
    client = Client.register(
        client_id="C1", name="Han Meimei", unit_id="O1", recorded_by="t", effective_at=NOW
    )
    for n in range(150):
        client.log_contact(
            channel="visit",
            staff_id="M1",
            purpose=None,
            summary=f"call {n}",
            recorded_by="t",
            effective_at=NOW + timedelta(minutes=n),
        )
    client.collect_events()
    return Snapshot.take(client)  # type: ignore[return-value]


def test_a_snapshot_is_compressed_before_it_is_sealed(mapper: PersonalDataMapper) -> None:
    """A long client's snapshot is mostly its contacts' times: sealed as it was, it was
    three times as long as the plain one, and each write after it opened that much base64
    (bench/RESULTS.md, issue 15)."""
    snapshot = _snapshot_of_a_long_client()
    plain = Mapper(mapper.transcoder).to_stored_event(snapshot)
    sealed = mapper.to_stored_event(snapshot)
    assert b"Han Meimei" not in sealed.state
    assert len(sealed.state) < len(plain.state) / 2
    assert vars(mapper.to_domain_event(sealed)) == vars(snapshot)


def test_a_snapshot_sealed_uncompressed_before_still_opens(mapper: PersonalDataMapper) -> None:
    snapshot = _snapshot_of_a_long_client()
    state = dict(vars(snapshot))
    subject, version = str(state.pop("originator_id")), state.pop("originator_version")
    topic = get_topic(Snapshot)
    aead = mapper.keyring.for_sealing(subject)
    associated = f"{topic}\x00{subject}\x00{version}\x00state".encode()
    state["state"] = seal(aead, b"j" + mapper.transcoder.encode(state["state"]), associated)
    stored = StoredEvent(snapshot.originator_id, version, topic, mapper.transcoder.encode(state))
    assert vars(mapper.to_domain_event(stored)) == vars(snapshot)
