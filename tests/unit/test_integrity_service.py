"""The integrity service over the in-memory store."""

from __future__ import annotations

import hashlib
import io

from eventsourcing.persistence import StoredEvent

from ledger.bootstrap import Container
from ledger.integrity import GENESIS, verify_bundle
from support.integrity_support import outlet_of, populate, register


def test_empty_log_digest_is_genesis(container: Container) -> None:
    assert container.integrity.digest().as_dict() == {
        "position": 0,
        "hash": GENESIS.hex(),
        "recorded_at": None,
        "tree_size": 0,
        "root_hash": hashlib.sha256(b"").hexdigest(),  # RFC 9162's MTH of no leaves
    }
    assert container.integrity.verify().as_dict() == {
        "ok": True,
        "checked": 0,
        "first_mismatch": None,
    }


def test_digest_names_the_latest_event_and_when_it_was_recorded(container: Container) -> None:
    populate(container.ledger, 2)
    digest = container.integrity.digest()
    assert digest.position == 5 == container.ledger.position
    assert len(digest.hash) == 64
    assert digest.recorded_at is not None and digest.recorded_at.endswith("+00:00")


def test_store_tamper_is_found_at_its_position(container: Container) -> None:
    populate(container.ledger, 4)
    recorder = container.ledger.recorder
    original = recorder._stored_events[3]  # type: ignore[attr-defined]
    recorder._stored_events[3] = StoredEvent(  # type: ignore[attr-defined]
        original.originator_id, original.originator_version, original.topic, b"{}"
    )
    assert container.integrity.verify().as_dict() == {
        "ok": False,
        "checked": 3,
        "first_mismatch": 4,
    }


def test_earlier_digest_still_verifies_after_more_writes(container: Container) -> None:
    clients = populate(container.ledger, 2)
    earlier = container.integrity.digest()
    register(container.ledger, outlet_of(container.ledger, clients[0]))
    assert container.integrity.digest().position == earlier.position + 1
    result = container.integrity.verify(earlier)
    assert (result.ok, result.checked) == (True, earlier.position)


def test_verification_reads_in_pages(container: Container) -> None:
    populate(container.ledger, 10)
    container.integrity.page_size = 3
    assert container.integrity.verify().checked == 13


def test_exported_bundle_verifies_offline(container: Container) -> None:
    populate(container.ledger, 3)
    out = io.StringIO()
    cut = container.integrity.export(out)
    result = verify_bundle(out.getvalue().splitlines())
    assert (result.ok, result.checked, cut.position) == (True, 6, 6)


def test_history_gives_each_event_its_chain_hash(container: Container) -> None:
    clients = populate(container.ledger, 1)
    [entry] = container.ledger.client_history(clients[0])
    stored = container.ledger.recorder.hashes_at([entry.position])  # type: ignore[attr-defined]
    assert entry.hash == stored[entry.position].hex()
    assert entry.position == container.integrity.digest().position
    assert entry.hash == container.integrity.digest().hash
