"""Merkle proofs over the memory store, checked by the RFC 9162 verifier in
tests/rfc9162.py (never by the ledger's own code)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent
from hypothesis import given, settings
from hypothesis import strategies as st

import rfc9162
from ledger.domain import InvalidInput, NotFound
from ledger.integrity import Integrity, append
from ledger.store.memory import LedgerPOPOApplicationRecorder

SIZE = 300


def stored(number: int) -> StoredEvent:
    return StoredEvent(
        uuid.uuid4(), 1, f"ledger.test:Event{number % 7}", f"{{n:{number}}}".encode()
    )


def fill(recorder: LedgerPOPOApplicationRecorder, count: int) -> None:
    # Single events and batches of 2..5, as saves of one or several aggregates write them.
    batch = 1
    while recorder.max_event_position() < count:
        room = count - recorder.max_event_position()
        recorder.insert_events([stored(n) for n in range(min(batch, room))])
        batch = batch % 5 + 1


@pytest.fixture(scope="module")
def tree() -> tuple[Integrity, list[bytes]]:
    recorder = LedgerPOPOApplicationRecorder()
    fill(recorder, SIZE)
    leaves = []
    for event in recorder.chain_events(0, SIZE):
        data = rfc9162.leaf_input(
            event.position, uuid.UUID(bytes=event.originator_id), event.version, event.topic,
            event.state,
        )  # fmt: skip
        leaves.append(rfc9162.leaf(data))
    return Integrity(recorder), leaves


def hexes(values: list[str]) -> list[bytes]:
    return [bytes.fromhex(value) for value in values]


def check_inclusion(tree: tuple[Integrity, list[bytes]], index: int, size: int) -> None:
    integrity, leaves = tree
    proof = integrity.inclusion(index + 1, size)  # memory positions are 1, 2, 3, ...
    root = rfc9162.mth(leaves[:size])
    assert (proof.leaf_index, proof.tree_size, proof.position) == (index, size, index + 1)
    assert proof.root_hash == root.hex()
    assert proof.leaf_hash == leaves[index].hex()
    path = hexes(proof.audit_path)
    assert rfc9162.verify_inclusion(index, size, leaves[index], path, root)
    assert len(path) <= (size - 1).bit_length()
    for spoiled in range(len(path)):
        wrong = list(path)
        wrong[spoiled] = bytes(32)
        assert not rfc9162.verify_inclusion(index, size, leaves[index], wrong, root)


def check_consistency(tree: tuple[Integrity, list[bytes]], first: int, second: int) -> None:
    integrity, leaves = tree
    proof = integrity.consistency(first, second)
    first_root, second_root = rfc9162.mth(leaves[:first]), rfc9162.mth(leaves[:second])
    assert (proof.first_root, proof.second_root) == (first_root.hex(), second_root.hex())
    path = hexes(proof.proof)
    assert rfc9162.verify_consistency(first, second, first_root, second_root, path)
    assert len(path) <= 2 * second.bit_length()
    if path:
        wrong = [bytes(32), *path[1:]]
        assert not rfc9162.verify_consistency(first, second, first_root, second_root, wrong)


def test_every_inclusion_proof_in_trees_up_to_40(tree: tuple[Integrity, list[bytes]]) -> None:
    for size in range(1, 41):
        for index in range(size):
            check_inclusion(tree, index, size)


def test_every_consistency_proof_in_trees_up_to_40(tree: tuple[Integrity, list[bytes]]) -> None:
    for second in range(1, 41):
        for first in range(1, second + 1):
            check_consistency(tree, first, second)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_inclusion_proofs_verify_at_any_size(
    tree: tuple[Integrity, list[bytes]], data: st.DataObject
) -> None:
    size = data.draw(st.integers(1, SIZE))
    check_inclusion(tree, data.draw(st.integers(0, size - 1)), size)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_consistency_proofs_verify_between_any_sizes(
    tree: tuple[Integrity, list[bytes]], data: st.DataObject
) -> None:
    second = data.draw(st.integers(1, SIZE))
    check_consistency(tree, data.draw(st.integers(1, second)), second)


def test_digest_carries_the_tree_head_of_the_whole_log(
    tree: tuple[Integrity, list[bytes]],
) -> None:
    integrity, leaves = tree
    digest = integrity.digest()
    assert (digest.position, digest.tree_size) == (SIZE, SIZE)
    assert digest.root_hash == rfc9162.mth(leaves).hex()


def test_unknown_position_and_bad_sizes_are_refused(tree: tuple[Integrity, list[bytes]]) -> None:
    integrity, _ = tree
    with pytest.raises(NotFound):
        integrity.inclusion(SIZE + 1)
    with pytest.raises(InvalidInput, match="tree_size"):
        integrity.inclusion(10, 9)  # leaf 9 is not in a tree of 9 leaves
    with pytest.raises(InvalidInput, match="tree_size"):
        integrity.inclusion(10, SIZE + 1)
    with pytest.raises(InvalidInput, match="first"):
        integrity.consistency(0, 5)
    with pytest.raises(InvalidInput, match="first"):
        integrity.consistency(6, 5)
    with pytest.raises(InvalidInput, match="second"):
        integrity.consistency(1, SIZE + 1)


def test_a_tree_grown_in_batches_matches_one_grown_event_by_event() -> None:
    one_by_one = LedgerPOPOApplicationRecorder()
    batched = LedgerPOPOApplicationRecorder()
    events = [stored(n) for n in range(37)]
    for event in events:
        one_by_one.insert_events([event])
    batched.insert_events(events[:20])
    batched.insert_events(events[20:])
    assert Integrity(one_by_one).digest() == Integrity(batched).digest()


def test_backfill_grows_the_tree_in_windows_while_writes_go_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    recorder = LedgerPOPOApplicationRecorder()
    fill(recorder, 20)
    recorder._leaves.clear()  # a store from before the tree
    recorder._blocks.clear()
    monkeypatch.setattr(append, "BACKFILL_WINDOW", 3)
    locked = recorder._locked
    windows = []

    @contextmanager
    def then_a_write() -> Iterator[Any]:
        with locked() as tables:
            yield tables
        windows.append(len(recorder._leaves))
        recorder.insert_events([stored(len(windows))])  # between two windows

    monkeypatch.setattr(recorder, "_locked", then_a_write)
    done = Integrity(recorder).backfill()
    assert windows[:3] == [0, 3, 6]  # the links first, then three leaves at a time
    total = recorder.max_event_position()
    # The window that reached the end gave the tree back to the writers: the two writes
    # after it (one after the window that found nothing left) joined it themselves.
    assert done.leaves == total - 2
    digest = Integrity(recorder).digest()
    leaves = [
        rfc9162.leaf(
            rfc9162.leaf_input(
                e.position, uuid.UUID(bytes=e.originator_id), e.version, e.topic, e.state
            )
        )
        for e in recorder.chain_events(0, total)
    ]
    assert (digest.tree_size, digest.root_hash) == (total, rfc9162.mth(leaves).hex())
