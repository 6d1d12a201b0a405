"""The hash chain's canonical bytes and its check, with no store at all."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import uuid

import pytest

from ledger.integrity import GENESIS, ChainEvent, Digest, canonical_bytes, verify_bundle
from ledger.integrity.bundle import BundleError, write_bundle
from ledger.integrity.chain import ChainEntry, chain_hashes, check_chain, next_hash

ORIGINATOR = uuid.UUID("12345678-1234-5678-1234-567812345678")


def event(position: int, state: bytes = b'{"a":1}', topic: str = "m:T") -> ChainEvent:
    return ChainEvent(position, ORIGINATOR.bytes, position, topic, state)


def chain(count: int) -> list[ChainEntry]:
    events = [event(p, state=f'{{"n":{p}}}'.encode()) for p in range(1, count + 1)]
    hashes = chain_hashes(GENESIS, events)
    return [ChainEntry(e.position, e, h) for e, h in zip(events, hashes, strict=True)]


def digest_of(entries: list[ChainEntry]) -> Digest:
    last = entries[-1]
    assert last.recorded is not None
    return Digest(last.position, last.recorded.hex())


def test_canonical_bytes_are_the_documented_layout() -> None:
    expected = (
        struct.pack(">Q", 7)
        + ORIGINATOR.bytes
        + struct.pack(">Q", 3)
        + struct.pack(">I", 3)
        + b"m:T"
        + struct.pack(">I", 2)
        + b"{}"
    )
    assert canonical_bytes(ChainEvent(7, ORIGINATOR.bytes, 3, "m:T", b"{}")) == expected


def test_first_hash_chains_from_32_zero_bytes() -> None:
    first = event(1)
    assert bytes(32) == GENESIS
    assert next_hash(GENESIS, first) == hashlib.sha256(bytes(32) + canonical_bytes(first)).digest()


def test_length_prefixes_keep_topic_and_state_apart() -> None:
    a = ChainEvent(1, ORIGINATOR.bytes, 1, "ab", b"c")
    b = ChainEvent(1, ORIGINATOR.bytes, 1, "a", b"bc")
    assert canonical_bytes(a) != canonical_bytes(b)


@pytest.mark.parametrize(
    "changed",
    [
        ChainEvent(2, ORIGINATOR.bytes, 1, "m:T", b"{}"),
        ChainEvent(1, uuid.uuid4().bytes, 1, "m:T", b"{}"),
        ChainEvent(1, ORIGINATOR.bytes, 2, "m:T", b"{}"),
        ChainEvent(1, ORIGINATOR.bytes, 1, "m:U", b"{}"),
        ChainEvent(1, ORIGINATOR.bytes, 1, "m:T", b"{ }"),
    ],
)
def test_every_field_is_hashed(changed: ChainEvent) -> None:
    original = ChainEvent(1, ORIGINATOR.bytes, 1, "m:T", b"{}")
    assert next_hash(GENESIS, changed) != next_hash(GENESIS, original)


def test_originator_id_must_be_raw_uuid_bytes() -> None:
    with pytest.raises(ValueError, match="16 raw bytes"):
        canonical_bytes(ChainEvent(1, ORIGINATOR.hex.encode(), 1, "m:T", b""))


def test_untouched_chain_verifies_against_itself_and_its_digest() -> None:
    entries = chain(5)
    assert check_chain(entries).as_dict() == {"ok": True, "checked": 5, "first_mismatch": None}
    assert check_chain(entries, digest_of(entries)).ok


def test_changed_state_mismatches_at_its_position() -> None:
    entries = chain(5)
    position, original, recorded = entries[2]
    assert original is not None
    entries[2] = ChainEntry(position, original._replace(state=b"{}"), recorded)
    assert check_chain(entries) == check_chain(entries, digest_of(chain(5)))
    assert check_chain(entries).as_dict() == {"ok": False, "checked": 2, "first_mismatch": 3}


def test_missing_event_mismatches_at_its_position() -> None:
    entries = chain(5)
    entries[3] = ChainEntry(4, None, entries[3].recorded)
    assert check_chain(entries).first_mismatch == 4


def test_event_without_a_recorded_hash_mismatches() -> None:
    entries = chain(5)
    entries[4] = ChainEntry(5, entries[4].event, None)
    assert check_chain(entries).first_mismatch == 5


def test_chain_rewritten_with_its_hashes_fails_only_against_an_earlier_digest() -> None:
    entries = chain(5)
    earlier = digest_of(entries)
    events = [e.event for e in entries]
    events[1] = events[1]._replace(state=b"rewritten")  # type: ignore[union-attr]
    rewritten = [
        ChainEntry(e.position, e, h)
        for e, h in zip(events, chain_hashes(GENESIS, events), strict=True)  # type: ignore[arg-type]
    ]
    assert check_chain(rewritten).ok
    result = check_chain(rewritten, earlier)
    assert (result.ok, result.first_mismatch) == (False, 5)


def test_earlier_digest_checks_the_prefix() -> None:
    entries = chain(8)
    earlier = digest_of(entries[:5])
    assert check_chain(entries[:5], earlier).as_dict()["ok"] is True
    assert check_chain(entries[:5], Digest(5, GENESIS.hex())).first_mismatch == 5


def test_log_shorter_than_the_digest_mismatches_after_its_end() -> None:
    entries = chain(5)
    result = check_chain(entries[:3], digest_of(entries))
    assert (result.ok, result.checked, result.first_mismatch) == (False, 3, 4)


def bundle_text(entries: list[ChainEntry]) -> str:
    out = io.StringIO()
    write_bundle(out, digest_of(entries), entries)
    return out.getvalue()


def test_bundle_round_trip_verifies() -> None:
    text = bundle_text(chain(6))
    assert verify_bundle(text.splitlines()).as_dict() == {
        "ok": True,
        "checked": 6,
        "first_mismatch": None,
    }


def test_bundle_with_changed_state_fails_at_that_position() -> None:
    lines = bundle_text(chain(6)).splitlines()
    line = json.loads(lines[4])
    line["state"] = "e30="  # base64 of "{}"
    lines[4] = json.dumps(line)
    assert verify_bundle(lines).first_mismatch == line["position"]


def test_bundle_with_a_dropped_line_fails() -> None:
    lines = bundle_text(chain(6)).splitlines()
    del lines[3]
    result = verify_bundle(lines)
    assert (result.ok, result.first_mismatch) == (False, 4)


def test_bundle_with_swapped_lines_fails_at_the_first() -> None:
    lines = bundle_text(chain(6)).splitlines()
    lines[2], lines[4] = lines[4], lines[2]
    result = verify_bundle(lines)
    assert (result.ok, result.first_mismatch) == (False, 4)


def test_bundle_rehashed_throughout_still_fails_against_a_digest_kept_apart() -> None:
    entries = chain(6)
    kept = digest_of(entries)
    events = [e.event for e in entries]
    events[0] = events[0]._replace(state=b"forged")  # type: ignore[union-attr]
    forged = [
        ChainEntry(e.position, e, h)
        for e, h in zip(events, chain_hashes(GENESIS, events), strict=True)  # type: ignore[arg-type]
    ]
    lines = bundle_text(forged).splitlines()
    assert verify_bundle(lines).ok
    assert verify_bundle(lines, kept).first_mismatch == 6


def test_bundle_verifies_against_an_earlier_digest_kept_apart() -> None:
    entries = chain(6)
    earlier = digest_of(entries[:4])
    result = verify_bundle(bundle_text(entries).splitlines(), earlier)
    assert (result.ok, result.checked) == (True, 4)


def test_not_a_bundle_is_refused() -> None:
    with pytest.raises(BundleError, match="line 1"):
        verify_bundle(['{"format": "something else"}'])


def test_bundle_cut_before_the_digest_kept_apart_fails_after_its_end() -> None:
    entries = chain(6)
    later = digest_of(entries)
    result = verify_bundle(bundle_text(entries[:4]).splitlines(), later)
    assert (result.ok, result.checked, result.first_mismatch) == (False, 4, 5)


def test_digest_from_json_rejects_a_malformed_hash() -> None:
    with pytest.raises(ValueError, match="64 hex digits"):
        Digest.from_dict({"position": 3, "hash": "zz" * 32})
    assert Digest.from_dict({"position": 3, "hash": "AB" * 32}).hash == "ab" * 32
