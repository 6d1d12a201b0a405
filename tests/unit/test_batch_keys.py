"""Subject keys on the bulk path: made by a batch, written together before its events, and
the first writer's key still the one every reader uses."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import DatabaseError

from ledger.application import Ledger
from ledger.application.batch_keys import BatchKeyTable, HeldKeys, held_keys
from ledger.domain import Client
from ledger.name_lists import read_name_list
from ledger.privacy import KeyRing, MasterKey, MemoryKeyTable
from ledger.privacy.cipher import new_key, open_sealed, seal
from support.name_lists import a_row, name_list
from support.scenario import ADMIN, Bank


class CountingKeyTable(MemoryKeyTable):
    """The store's key table, counting writes and the log's position at each."""

    def __init__(self, ledger: Ledger) -> None:
        super().__init__()
        self.ledger = ledger
        self.writes: list[tuple[str, int]] = []
        self.inside = False

    def note(self, write: str) -> None:
        if not self.inside:
            self.writes.append((write, self.ledger.position))

    def add(self, subject: str, wrapped: bytes, master_key_id: str) -> None:
        self.note("add")
        super().add(subject, wrapped, master_key_id)

    def add_index(self, subject: str, digests: list[bytes]) -> None:
        self.note("add_index")
        super().add_index(subject, digests)

    def add_many(self, keys: Any, indexes: Any) -> None:
        self.note("add_many")
        self.inside = True
        try:
            super().add_many(keys, indexes)
        finally:
            self.inside = False


@pytest.fixture
def counting(ledger: Ledger, bank: Bank) -> CountingKeyTable:
    ledger.keyring._index_key()  # the blind-index key is made once, outside any batch
    table = CountingKeyTable(ledger)
    table.keys.update(ledger.batch_keys.table.keys)  # type: ignore[attr-defined]
    ledger.batch_keys.table = table
    return table


def test_a_name_list_writes_its_keys_together_before_its_events(
    ledger: Ledger, bank: Bank, counting: CountingKeyTable
) -> None:
    rows = [a_row(phone=f"1391234567{n}") for n in range(3)]
    before = ledger.position
    report = ledger.import_clients(read_name_list(name_list(bank, *rows)), recorded_by=ADMIN)
    assert report.imported == 3
    assert counting.writes == [("add_many", before)]
    for row in rows:
        subject = str(Client.id_for(row["client_id"]))
        assert counting.get(subject) is not None
        assert ledger.find_clients("phone", row["phone"]) == [row["client_id"]]
        assert ledger.get_client(row["client_id"]).name == "Wang Fang"


def test_a_refused_name_list_keeps_the_keys_it_made_as_before(
    ledger: Ledger, bank: Bank, counting: CountingKeyTable
) -> None:
    good = a_row()
    report = ledger.import_clients(
        read_name_list(name_list(bank, good, a_row(tier="platinium"))), recorded_by=ADMIN
    )
    assert report.errors and report.events == 0
    subject = str(Client.id_for(good["client_id"]))
    stored = counting.get(subject)
    assert stored is not None and stored[0] is not None
    # The key ring's key for the client is the stored one: a later write seals under it.
    sealed = seal(ledger.keyring.for_sealing(subject), b"Wang Fang", b"place")
    opener = AESGCM(ledger.keyring.master.unwrap(stored[0], subject))
    assert open_sealed(opener, sealed, b"place") == b"Wang Fang"


def test_a_key_another_writer_made_meanwhile_wins_and_the_batch_is_refused() -> None:
    master = MasterKey(new_key())
    store = MemoryKeyTable()
    keyring = KeyRing(master, BatchKeyTable(store))
    held = HeldKeys()
    token = held_keys.set(held)
    try:
        keyring.for_sealing("s1")
    finally:
        held_keys.reset(token)
    assert store.get("s1") is None  # held, not yet written
    theirs = master.wrap(new_key(), "s1")
    store.add("s1", theirs, master.key_id)
    with pytest.raises(DatabaseError, match="s1"):
        keyring.table.write_held(held, keyring)  # type: ignore[attr-defined]
    assert store.get("s1") == (theirs, master.key_id)
    sealed = seal(keyring.for_sealing("s1"), b"text", b"place")
    assert open_sealed(AESGCM(master.unwrap(theirs, "s1")), sealed, b"place") == b"text"
