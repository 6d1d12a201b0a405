"""Personal data in memory: the field cipher, the registry and the mapper step, the key
ring, and the erasure rules (retention period, after erasure)."""

from __future__ import annotations

import json
import os
import unicodedata
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from ledger.bootstrap import build
from ledger.config import Settings
from ledger.domain import Client, RuleViolation
from ledger.privacy import ERASED, KeyRing, MasterKey, MemoryKeyTable, PersonalDataMapper, keys
from ledger.privacy.cipher import (
    KeyMismatch,
    blind_terms,
    is_sealed,
    new_key,
    normalise,
    open_sealed,
    seal,
)
from ledger.privacy.keys import WrongMasterKey
from ledger.privacy.registry import EVENTS
from support.api_world import SettableClock

NOW = datetime(2031, 6, 1, tzinfo=UTC)


# ---- lookups ------------------------------------------------------------------------------


def test_lookups_agree_on_normalised_values() -> None:
    assert normalise("phone", "+86 139-1234 5678") == "8613912345678"
    # A phone is the digits of its NFKC form, whether or not it is all digits.
    for phone in (
        "13912345678",
        "\uff11\uff13\uff19",
        "139\u00b2",
        "\u0663\u0669\u0661",
        "\u2460\u2461",
        "+86 \u00b939",
    ):
        text = unicodedata.normalize("NFKC", phone)
        assert normalise("phone", phone) == "".join(c for c in text if c.isdigit())
    assert normalise("name", "  Wang   FANG ") == "wang fang"
    assert blind_terms("name", "Wang Fang") == ["wang fang", "wang", "fang"]
    assert blind_terms("name", "王芳") == ["王芳"]
    assert blind_terms("phone", "n/a") == []


# ---- the registry and the mapper ------------------------------------------------------------


def _registered(name: str = "Han Meimei") -> Client.Registered:
    client = Client.register(
        client_id="C1", name=name, unit_id="O1", recorded_by="t", effective_at=NOW
    )
    return client.collect_events()[0]  # type: ignore[return-value]


def test_the_registry_names_the_personal_fields_and_leaves_the_accountability_record() -> None:
    assert EVENTS[Client.Registered].paths == ("name",)
    assert EVENTS[Client.ContactLogged].paths == ("purpose", "summary")
    assert Client.Assigned not in EVENTS and Client.ChurnDetermined not in EVENTS
    assert Client.Erased not in EVENTS


def test_personal_fields_are_stored_sealed_and_read_plain(mapper: PersonalDataMapper) -> None:
    event = _registered()
    stored = mapper.to_stored_event(event)
    state = json.loads(stored.state)
    assert b"Han Meimei" not in stored.state and is_sealed(state["name"])
    assert (state["client_id"], state["unit_id"]) == ("C1", "O1")  # the rest stays plain
    assert mapper.to_domain_event(stored).name == "Han Meimei"
    assert mapper.plain_fields(stored) == []


def test_a_value_stored_plain_before_is_read_as_it_is_and_reported(
    mapper: PersonalDataMapper,
) -> None:
    stored = mapper.to_stored_event(_registered())
    state = json.loads(stored.state)
    state["name"] = "Han Meimei"
    legacy = type(stored)(
        stored.originator_id, stored.originator_version, stored.topic, json.dumps(state).encode()
    )
    assert mapper.to_domain_event(legacy).name == "Han Meimei"
    assert mapper.plain_fields(legacy) == ["name"]


def test_a_sealed_value_moved_to_another_client_does_not_open(
    mapper: PersonalDataMapper,
) -> None:
    stored = mapper.to_stored_event(_registered())
    other = uuid4()
    mapper.keyring.for_sealing(str(other))
    moved = type(stored)(other, 1, stored.topic, stored.state)
    with pytest.raises(KeyMismatch):
        mapper.to_domain_event(moved)


def test_an_erased_subject_reads_erased_and_cannot_be_sealed_for(
    mapper: PersonalDataMapper,
) -> None:
    event = _registered()
    stored = mapper.to_stored_event(event)
    mapper.keyring.erase(str(event.originator_id))
    assert mapper.to_domain_event(stored).name == ERASED
    with pytest.raises(Exception, match=str(event.originator_id)):
        mapper.to_stored_event(event)


def test_a_read_models_copy_opens_once_and_not_after_erasure() -> None:
    ring = KeyRing(MasterKey(new_key()), MemoryKeyTable())
    sealed = ring.seal_text("c1", "reports:summary", "wants a call back")
    assert sealed != "wants a call back"
    assert ring.open_text("c1", "reports:summary", sealed) == "wants a call back"
    assert ring.open_text("c1", "reports:summary", sealed) == "wants a call back"  # kept
    with pytest.raises(KeyMismatch):  # kept for its place only: another field does not open it
        ring.open_text("c1", "reports:name", sealed)
    ring.erase("c1")
    assert ring.open_text("c1", "reports:summary", sealed) is None


@pytest.mark.parametrize("read", ["load", "one"])
def test_an_erasure_while_a_key_is_read_is_not_undone_by_keeping_the_key(read: str) -> None:
    # A roster page reads its clients' keys while an erasure of one of them commits: the key
    # read before it was kept after `forget` marked it erased (found in review).
    table = MemoryKeyTable()
    ring = KeyRing(MasterKey(os.urandom(32)), table)
    subject = str(uuid4())
    sealed = ring.seal_text(subject, "roster:name", "Ada")
    fresh = KeyRing(ring.master, table)  # a process that has not read the key yet
    get, get_many = table.get, table.get_many

    def erased_meanwhile(read_rows):  # type: ignore[no-untyped-def]
        def reading(*args):  # type: ignore[no-untyped-def]
            rows = read_rows(*args)
            fresh.erase(subject)
            return rows

        return reading

    table.get, table.get_many = erased_meanwhile(get), erased_meanwhile(get_many)
    if read == "load":
        fresh.load([subject])
    else:
        fresh.for_opening(subject)
    table.get, table.get_many = get, get_many
    assert fresh.is_erased(subject)
    assert fresh.open_text(subject, "roster:name", sealed) is None


def test_concurrent_first_writes_share_the_first_key() -> None:
    table = MemoryKeyTable()
    master = MasterKey(new_key())
    first, second = KeyRing(master, table), KeyRing(master, table)
    token = seal(first.for_sealing("s"), b"x", b"a")
    assert open_sealed(second.for_sealing("s"), token, b"a") == b"x"


def _sealed(count: int) -> tuple[MemoryKeyTable, MasterKey, KeyRing, dict[str, str]]:
    """A key table, its master key, a ring, and a token sealed for each of `count` subjects."""
    table, master = MemoryKeyTable(), MasterKey(new_key())
    ring = KeyRing(master, table)
    tokens = {f"s{n}": seal(ring.for_sealing(f"s{n}"), b"x", b"a") for n in range(count)}
    return table, master, ring, tokens


def test_a_key_ring_keeps_few_keys_unwrapped_and_reads_dropped_ones_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(keys, "MAX_KEYS", 4)
    table, master, writer, tokens = _sealed(10)
    writer.erase("s3")
    ring = KeyRing(master, table)
    ring.load(tokens)  # a page's keys in one read: kept together, however many
    assert len(ring._keys) == 10
    ring = KeyRing(master, table)
    for subject, token in tokens.items():
        aead = ring.for_opening(subject)
        if subject == "s3":
            assert aead is None  # erased, read so from the table again
        else:
            assert aead is not None and open_sealed(aead, token, b"a") == b"x"
        assert len(ring._keys) <= 4


def test_rotation_rewraps_every_key_under_the_new_master() -> None:
    table = MemoryKeyTable()
    ring = KeyRing(MasterKey(new_key()), table)
    token = seal(ring.for_sealing("s"), b"x", b"a")
    new = MasterKey(new_key())
    assert ring.rotate(new) == 1
    fresh = KeyRing(new, table)
    assert open_sealed(fresh.for_sealing("s"), token, b"a") == b"x"


def test_a_master_key_that_did_not_wrap_the_stores_keys_is_refused_by_id() -> None:
    table, master = MemoryKeyTable(), MasterKey(new_key())
    KeyRing(master, table).check_master("anywhere")  # no key yet: nothing to refuse
    KeyRing(master, table).for_sealing("prospect")  # a prospect's key, no index key yet
    other = MasterKey(new_key())
    with pytest.raises(WrongMasterKey, match=f"from the file.*id {master.key_id}.*{other.key_id}"):
        KeyRing(other, table).check_master("the file")
    KeyRing(master, table).seal_text("client", "name", "Li Lei")  # the index key too
    with pytest.raises(WrongMasterKey):
        KeyRing(other, table).check_master("the file")
    KeyRing(master, table).check_master("the file")


# ---- erasure rules --------------------------------------------------------------------------


@pytest.fixture
def world() -> tuple:
    clock = SettableClock(NOW - timedelta(days=3650))
    container = build(Settings(database_url="memory://"), clock=clock)
    ledger = container.ledger
    ledger.create_unit(unit_id="B1", name="branch", kind="branch", parent_id=None, recorded_by="t")
    ledger.create_unit(unit_id="O1", name="outlet", kind="outlet", parent_id="B1", recorded_by="t")
    ledger.join_staff(
        staff_id="M1",
        name="m",
        unit_id="O1",
        role="client_manager",
        recorded_by="t",
        effective_at=clock.now,
    )
    ledger.register_client(client_id="C1", name="Han Meimei", unit_id="O1", recorded_by="t")
    yield ledger, clock
    container.close()


def _erase(ledger) -> object:
    return ledger.erase_client(
        client_id="C1", reason="asked", legal_basis="PIPL art. 47", recorded_by="admin"
    )


def test_erasure_waits_for_the_retention_period_after_the_churn(world) -> None:
    ledger, clock = world
    with pytest.raises(RuleViolation) as active:
        _erase(ledger)
    assert active.value.rule == "retention_period"
    clock.now += timedelta(days=10)
    churned_at = clock.now
    ledger.churn(
        client_id="C1", kind="normal", reason="moved", effective_at=churned_at, recorded_by="t"
    )
    clock.now = churned_at + timedelta(days=5 * 365)  # a leap day short of five years
    with pytest.raises(RuleViolation) as early:
        _erase(ledger)
    assert early.value.rule == "retention_period"
    clock.now = churned_at.replace(year=churned_at.year + 5)
    assert _erase(ledger).type == "Erased"  # type: ignore[attr-defined]


def test_an_erased_client_reads_erased_and_takes_no_more_writes(world) -> None:
    ledger, clock = world
    # Enough contacts for a snapshot, which erasure must delete (it holds the name).
    clock.now += timedelta(days=1)
    for day in range(1, 120):
        ledger.log_contact(
            client_id="C1",
            channel="phone",
            staff_id="M1",
            purpose="check-in",
            summary=f"call {day}",
            occurred_at=clock.now - timedelta(hours=3) + timedelta(minutes=day),
            recorded_by="t",
        )
    ledger.churn(
        client_id="C1", kind="normal", reason="moved", effective_at=clock.now, recorded_by="t"
    )
    clock.now += timedelta(days=6 * 366)
    subject = Client.id_for("C1")
    assert list(ledger.snapshots.get(subject))  # type: ignore[union-attr]
    _erase(ledger)
    assert not list(ledger.snapshots.get(subject))  # type: ignore[union-attr]
    state = ledger.get_client("C1")
    assert (state.erased, state.name, state.status) == (True, ERASED, "churned")
    assert state.last_contact_at is not None  # the facts that are not personal remain
    summaries = {
        e.data.get("summary") for e in ledger.client_history("C1") if e.type == "ContactLogged"
    }
    assert summaries == {ERASED}
    with pytest.raises(RuleViolation) as again:
        _erase(ledger)
    assert again.value.rule == "already_erased"
    with pytest.raises(RuleViolation) as write:
        ledger.reactivate(client_id="C1", reason="back", effective_at=clock.now, recorded_by="t")
    assert write.value.rule == "client_erased"
    assert ledger.erasable(["C1"]) == []


def test_an_erasure_cut_short_after_its_event_is_finished_by_the_next_attempt(world) -> None:
    ledger, clock = world
    ledger.churn(
        client_id="C1", kind="normal", reason="moved", effective_at=clock.now, recorded_by="t"
    )
    clock.now += timedelta(days=6 * 366)
    # The event recorded, then the process stopped before the key was destroyed.
    ledger.update(
        Client,
        "C1",
        None,
        Client.erase,
        reason="asked",
        legal_basis="PIPL",
        retention_years=5,
        recorded_by="admin",
        effective_at=clock.now,
    )
    subject = str(Client.id_for("C1"))
    assert not ledger.keyring.is_erased(subject)
    with pytest.raises(RuleViolation):
        _erase(ledger)
    assert ledger.keyring.is_erased(subject)
    assert ledger.get_client("C1").name == ERASED


def test_a_key_ring_keeps_few_contexts_made_and_none_for_an_erased_subject(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(keys, "MAX_CONTEXTS", 3)
    _, _, ring, tokens = _sealed(8)
    assert len(ring._keys) == 8 and len(ring._contexts) <= 3
    for subject, token in tokens.items():
        aead = ring.for_opening(subject)
        assert aead is not None and open_sealed(aead, token, b"a") == b"x"
        assert len(ring._contexts) <= 3
    ring.erase("s7")  # its context was among those kept
    assert ring.for_opening("s7") is None
    with pytest.raises(keys.SubjectErased):
        ring.for_sealing("s7")


def test_an_idempotency_claim_keeps_its_fingerprint_sealed_and_erased_with_the_client(
    world,
) -> None:
    """A claim's fingerprint hashes the request's body (a name, what was said): kept in the
    clear it would let anyone holding the log confirm a guess, after erasure too. Sealed
    under the client's key, it compares retries as before and goes with the key."""
    ledger, clock = world
    fingerprint = "ab" * 32  # the hex digest the API's writer gives

    def contact() -> object:
        return ledger.log_contact(
            client_id="C1",
            channel="phone",
            staff_id="M1",
            purpose="留学贷款",
            occurred_at=clock.now,
            recorded_by="t",
        )

    first, replayed = ledger.idempotent(
        scope="admin", key="k1", fingerprint=fingerprint, write=contact
    )
    assert not replayed
    stored = b"".join(n.state for n in ledger.recorder.select_notifications(start=1, limit=10**6))
    assert fingerprint.encode() not in stored
    again, replayed = ledger.idempotent(
        scope="admin", key="k1", fingerprint=fingerprint, write=lambda: pytest.fail("wrote again")
    )
    assert (again, replayed) == (first, True)
    with pytest.raises(RuleViolation) as other:
        ledger.idempotent(scope="admin", key="k1", fingerprint="cd" * 32, write=contact)
    assert other.value.rule == "idempotency_key_reused"
    assert "another request" in str(other.value)

    ledger.churn(
        client_id="C1", kind="normal", reason="moved", effective_at=clock.now, recorded_by="t"
    )
    clock.now += timedelta(days=6 * 366)
    _erase(ledger)
    position = ledger.position
    with pytest.raises(RuleViolation) as erased:
        ledger.idempotent(
            scope="admin", key="k1", fingerprint=fingerprint, write=lambda: pytest.fail("wrote")
        )
    assert erased.value.rule == "idempotency_key_reused"
    assert "erased" in str(erased.value)
    assert ledger.position == position
