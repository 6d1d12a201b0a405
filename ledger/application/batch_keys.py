"""Subject keys and blind indexes made on the bulk path, written together.

A client's first personal write makes its key (ledger.privacy.keys): one look for a key,
one transaction to add it, one more look, and a transaction per blind index: five
statements and three commits per client, 140 µs an event of a bulk import, twice its
whole cost before personal data was sealed. Inside a batch (this thread's) the key table
holds what is made and writes it once per hand-over of the batch's clients to stored
events (`Batch.gather`), in one transaction, before any event sealed under those keys is
inserted: as before, a key is in the store before its events, and a refused import leaves
at most unused keys. Outside that step (a save of anything else in a batch too), and for
the blind-index key, it is the store's table.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field

from eventsourcing.persistence import DatabaseError

from ledger.privacy.keys import INDEX_SUBJECT, KeyRing, KeyTable

KeyRow = tuple[bytes | None, str | None]


@dataclass
class HeldKeys:
    """What one batch has read and made of the key table."""

    read: dict[str, KeyRow | None] = field(default_factory=dict)  # as the store holds them
    made: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    indexes: list[tuple[bytes, str]] = field(default_factory=list)  # (digest, subject)


# Set only while a batch maps its clients' events (`Batch.gather`), in that thread or task.
held_keys: ContextVar[HeldKeys | None] = ContextVar("ledger_held_keys", default=None)


class BatchKeyTable(KeyTable):
    """The store's key table, but inside a batch keys and blind indexes made are held
    until `write_held`."""

    def __init__(self, table: KeyTable) -> None:
        self.table = table

    @staticmethod
    def _held(subject: str) -> HeldKeys | None:
        # The index key is made once and kept by the key ring for the process: never held.
        return None if subject == INDEX_SUBJECT else held_keys.get()

    def get(self, subject: str) -> KeyRow | None:
        held = self._held(subject)
        if held is None:
            return self.table.get(subject)
        if subject in held.made:
            return held.made[subject]
        if subject not in held.read:
            held.read[subject] = self.table.get(subject)
        return held.read[subject]

    def add(self, subject: str, wrapped: bytes, master_key_id: str) -> None:
        held = self._held(subject)
        if held is None:
            self.table.add(subject, wrapped, master_key_id)
        elif self.get(subject) is None:
            held.made[subject] = (wrapped, master_key_id)

    def add_index(self, subject: str, digests: list[bytes]) -> None:
        held = self._held(subject)
        if held is None:
            self.table.add_index(subject, digests)
        else:
            held.indexes += [(digest, subject) for digest in digests]

    def read_ahead(self, held: HeldKeys, subjects: Sequence[str]) -> None:
        """Read the keys of these subjects in a few queries (a name list's clients)."""
        wanted = [s for s in subjects if s not in held.read and s not in held.made]
        found = self.table.get_many(wanted)
        held.read.update({subject: found.get(subject) for subject in wanted})

    def write_held(self, held: HeldKeys, keyring: KeyRing) -> None:
        """Write what the batch made, in one transaction. A subject whose key another
        writer added meanwhile keeps that key (the first writer's wins, as always): the
        key ring is set right and the batch refused, since its events for that subject
        were sealed under the losing key."""
        if not held.made and not held.indexes:
            return
        made = dict(held.made)
        self.table.add_many(
            [(subject, wrapped, key_id) for subject, (wrapped, key_id) in made.items()],
            held.indexes,
        )
        held.made.clear()
        held.indexes.clear()
        stored = self.table.get_many(list(made))
        held.read.update(stored)
        lost = sorted(subject for subject, row in made.items() if stored.get(subject) != row)
        for subject in lost:
            keyring.forget(subject)
            keyring.for_sealing(subject)  # loads the stored key
        if lost:
            raise DatabaseError(
                f"another writer made the keys of {', '.join(lost[:3])} meanwhile; "
                "the batch's events since its last write are not written, try again"
            )

    # ---- the rest is the store's table's ------------------------------------------------

    def create_tables(self) -> None:
        self.table.create_tables()

    def erase(self, subject: str) -> None:
        self.table.erase(subject)

    def wrapped_keys(self) -> list[tuple[str, bytes, str]]:
        return self.table.wrapped_keys()

    def rewrap(self, rows: list[tuple[str, bytes, str]]) -> None:
        self.table.rewrap(rows)

    def find(self, digest: bytes) -> list[str]:
        return self.table.find(digest)

    def erased_subjects(self) -> set[str]:
        return self.table.erased_subjects()

    def get_many(self, subjects: Sequence[str]) -> dict[str, KeyRow]:
        return self.table.get_many(subjects)

    def add_many(
        self, keys: Sequence[tuple[str, bytes, str]], indexes: Sequence[tuple[bytes, str]]
    ) -> None:
        self.table.add_many(keys, indexes)
