"""The integrity service: the digest of the log and its verification against the store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TextIO

from eventsourcing.application import Application

from ledger.integrity.bundle import write_bundle
from ledger.integrity.chain import (
    GENESIS,
    ChainEntry,
    ChainRecorder,
    Digest,
    Verification,
    check_chain,
    stream_entries,
)

PAGE_SIZE = 2000


class Integrity:
    """Answers API.md's integrity shapes: `digest()` -> {position, hash, recorded_at},
    `verify(digest)` -> {ok, checked, first_mismatch} (see `.as_dict()` on each)."""

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
        """The latest position of the log, its chain hash, and when it was recorded."""
        head = self.recorder.chain_head()
        if head is None:
            return Digest(0, GENESIS.hex(), None)
        position, head_hash = head
        return Digest(position, head_hash.hex(), self._recorded_at(position))

    def verify(self, digest: Digest | None = None) -> Verification:
        """Recompute the chain from the stored events, a page at a time.

        Without a digest: the whole log against the stored hashes. With one (from an
        earlier `digest()`): the log up to its position against the stored hashes and the
        digest's hash, so later writes do not disturb it.
        """
        return check_chain(self.entries(digest), digest)

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
