"""The integrity service: the digest of the log and its verification against the store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TextIO

from eventsourcing.application import Application

from ledger.domain import InvalidInput, NotFound
from ledger.integrity.append import Backfilled
from ledger.integrity.bundle import write_bundle, write_events_bundle
from ledger.integrity.chain import (
    GENESIS,
    ChainEntry,
    ChainRecorder,
    Digest,
    Verification,
    check_log,
    stream_entries,
)
from ledger.integrity.merkle import (
    ConsistencyProof,
    InclusionProof,
    consistency_ranges,
    inclusion_ranges,
    needed_blocks,
    range_blocks,
    range_hash,
    root_hash,
)

PAGE_SIZE = 2000


class Integrity:
    """Answers API.md's integrity shapes: `digest()` -> {position, hash, recorded_at,
    tree_size, root_hash}, `verify(digest)` -> {ok, checked, first_mismatch},
    `inclusion(position, tree_size)` and `consistency(first, second)` (see `.as_dict()`
    on each). Everything here only reads the store, except `backfill()`."""

    def __init__(
        self,
        recorder: ChainRecorder,
        recorded_at: Callable[[int], str | None] = lambda position: None,
        *,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.recorder = recorder
        self._recorded_at = recorded_at
        self.page_size = page_size

    @classmethod
    def for_application(cls, app: Application, *, page_size: int = PAGE_SIZE) -> Integrity:
        def recorded_at(position: int) -> str | None:
            found = app.recorder.select_notifications(start=position, limit=1, stop=position)
            if not found or found[0].id != position:
                return None
            return app.mapper.to_domain_event(found[0]).timestamp.isoformat()

        recorder: ChainRecorder = app.recorder  # type: ignore[assignment]
        return cls(recorder, recorded_at, page_size=page_size)

    def digest(self) -> Digest:
        """The latest position of the log, its chain hash, when it was recorded, and the
        Merkle tree head over the same events."""
        head = self.recorder.chain_head()
        if head is None:
            size = self._tree_size()
            return Digest(0, GENESIS.hex(), None, size, self._root(size).hex())
        position, head_hash = head
        # The tree head of the chain head's own leaf, so both commit to the same log
        # whatever was written between the two reads (a tree still being backfilled
        # has no leaf there yet: its own head then).
        leaf = self.recorder.leaf_indexes([position]).get(position)
        size = leaf + 1 if leaf is not None else self._tree_size()
        return Digest(
            position,
            head_hash.hex(),
            self._recorded_at(position),
            size,
            self._root(size).hex(),
        )

    def _tree_size(self) -> int:
        tail = self.recorder.tree_tail()
        return tail[1] + 1 if tail else 0

    def _root(self, size: int) -> bytes:
        return root_hash(self.recorder.tree_blocks(range_blocks(0, size)), size)

    def _checked_size(self, name: str, size: int | None, least: int = 1) -> int:
        current = self._tree_size()
        if size is None:
            size = current
        if not least <= size <= current:
            raise InvalidInput(name, f"must be between {least} and the tree size {current}")
        return size

    def inclusion(self, position: int, tree_size: int | None = None) -> InclusionProof:
        """RFC 9162 2.1.3: the audit path of the event at `position` in the tree of
        `tree_size` leaves (the current tree when None)."""
        index = self.recorder.leaf_indexes([position]).get(position)
        if index is None:
            raise NotFound("event position", str(position))
        size = self._checked_size("tree_size", tree_size, least=index + 1)
        ranges = inclusion_ranges(index, size)
        blocks = self.recorder.tree_blocks(needed_blocks([*ranges, (0, size), (index, index + 1)]))
        return InclusionProof(
            position=position,
            leaf_index=index,
            tree_size=size,
            root_hash=root_hash(blocks, size).hex(),
            leaf_hash=blocks[(0, index)].hex(),
            audit_path=[range_hash(blocks, *r).hex() for r in ranges],
        )

    def consistency(self, first: int, second: int) -> ConsistencyProof:
        """RFC 9162 2.1.4: that the tree of `first` leaves is a prefix of the tree of
        `second` leaves."""
        second = self._checked_size("second", second)
        first = self._checked_size("first", first)
        if first > second:
            raise InvalidInput("first", "must not be greater than second")
        ranges = consistency_ranges(first, second)
        blocks = self.recorder.tree_blocks(needed_blocks([*ranges, (0, first), (0, second)]))
        return ConsistencyProof(
            first=first,
            second=second,
            first_root=root_hash(blocks, first).hex(),
            second_root=root_hash(blocks, second).hex(),
            proof=[range_hash(blocks, *r).hex() for r in ranges],
        )

    def unhashed(self) -> int | None:
        """The first position of the log that the chain or the tree does not cover yet
        (what `ledger chain backfill` fills in), or None. Reads three heads only, so
        health may ask often; gaps inside the chain are `verify`'s to find."""
        head = self.recorder.chain_head()
        tail = self.recorder.tree_tail()
        covered = min(head[0] if head else 0, tail[0] if tail else 0)
        if covered >= self.recorder.max_event_position():
            return None
        after = self.recorder.chain_events(covered, covered + self.page_size)
        return after[0].position if after else covered + 1

    def backfill(self) -> Backfilled:
        """Link a log written before the chain and grow the tree over it; refused
        (`ledger.integrity.UnlinkedLog`) where tampering would be blessed."""
        return self.recorder.backfill_chain()  # type: ignore[no-any-return]

    def verify(self, digest: Digest | None = None) -> Verification:
        """Recompute the chain from the stored events, a page at a time.

        Without a digest: the whole log against the stored hashes. With one (from an
        earlier `digest()`): the log up to its position against the stored hashes and the
        digest's hash, so later writes do not disturb it.
        """
        return check_log(self.entries(digest), digest)

    def entries(self, digest: Digest | None = None) -> Iterator[ChainEntry]:
        head = self.recorder.chain_head()
        upto = max(head[0] if head else 0, self.recorder.max_event_position())
        if digest is not None:
            # Never past the log's end: a digest beyond it (mismatching just after the
            # last event) must not page through empty windows up to its position.
            upto = min(upto, digest.position)
        return stream_entries(self.recorder, upto, self.page_size)

    def export(self, out: TextIO) -> Digest:
        """Write a self-contained bundle of the log up to its current digest."""
        digest = self.digest()
        write_bundle(out, digest, self.entries(digest))
        return digest

    def export_events(
        self, out: TextIO, positions: list[int], *, subject: dict[str, str] | None = None
    ) -> Digest:
        """Write the events at `positions` (one client's, say) with their inclusion
        proofs against the current tree head; events the tree does not hold yet are
        left out (see `unhashed()`)."""
        digest = self.digest()
        size = digest.tree_size or 0
        indexes = self.recorder.leaf_indexes(positions)
        proven = sorted(p for p in positions if p in indexes and indexes[p] < size)
        events = [e for p in proven for e in self.recorder.chain_events(p - 1, p)]
        proofs = [self.inclusion(event.position, size) for event in events]
        write_events_bundle(out, digest, zip(events, proofs, strict=True), subject or {})
        return digest
