"""Subject keys on the bulk path: made by a batch with a key ring of its own, written together
before its events, and the first writer's key still the one every reader uses."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ledger.application import Ledger
from ledger.domain import Client, NotFound
from ledger.name_lists import read_name_list
from ledger.privacy import KeyRing, MemoryKeyTable
from ledger.privacy.cipher import new_key
from support.name_lists import a_row, name_list
from support.scenario import ADMIN, Bank, new_id


class CountingKeyTable(MemoryKeyTable):
    """The store's key table, counting writes and the log's position at each."""

    def __init__(self, ledger: Ledger) -> None:
        super().__init__()
        self.ledger = ledger
        self.writes: list[tuple[str, int]] = []
        self.reads_after_write = 0
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

    def add_many(self, keys: Any, indexes: Any) -> int | None:
        self.note("add_many")
        self.inside = True
        try:
            return super().add_many(keys, indexes)
        finally:
            self.inside = False

    def get_many(self, subjects: Any) -> Any:
        if self.writes:  # read back after a write
            self.reads_after_write += 1
        return super().get_many(subjects)


@pytest.fixture
def counting(ledger: Ledger, bank: Bank) -> CountingKeyTable:
    ledger.keyring._index_key()  # the blind-index key is made once, outside any batch
    table = CountingKeyTable(ledger)
    table.keys.update(ledger.keyring.table.keys)  # type: ignore[attr-defined]
    ledger.keyring.table = table
    return table


def test_a_name_list_writes_its_keys_together_before_its_events(
    ledger: Ledger, bank: Bank, counting: CountingKeyTable
) -> None:
    rows = [a_row(phone=f"1391234567{n}") for n in range(3)]
    before = ledger.position
    report = ledger.import_clients(read_name_list(name_list(bank, *rows)), recorded_by=ADMIN)
    assert report.imported == 3
    assert counting.writes == [("add_many", before)]
    assert counting.reads_after_write == 0  # every key inserted: none read back
    for row in rows:
        assert counting.get(str(Client.id_for(row["client_id"]))) is not None
        assert ledger.find_clients("phone", row["phone"]) == [row["client_id"]]
        assert ledger.get_client(row["client_id"]).name == "Wang Fang"


def test_a_refused_name_list_leaves_no_key_that_a_later_write_would_use(
    ledger: Ledger, bank: Bank, counting: CountingKeyTable
) -> None:
    good = a_row()
    report = ledger.import_clients(
        read_name_list(name_list(bank, good, a_row(tier="platinium"))), recorded_by=ADMIN
    )
    assert report.errors and report.events == 0
    assert counting.writes == []
    ledger.register_client(
        client_id=good["client_id"], name="Li Wei", unit_id=bank.outlet, recorded_by=ADMIN
    )
    # Read back with a key ring that knows only what the store holds.
    fresh = copy.copy(ledger.mapper)
    fresh.keyring = KeyRing(ledger.keyring.master, counting)
    (stored,) = ledger.recorder.select_events(Client.id_for(good["client_id"]))
    assert fresh.to_domain_event(stored).name == "Li Wei"


def test_a_client_whose_key_another_writer_made_meanwhile_is_left_out(
    ledger: Ledger, bank: Bank
) -> None:
    racing, other = new_id("C"), new_id("C")
    subject = str(Client.id_for(racing))
    with ledger.batched() as batch:
        for client_id in (racing, other):
            ledger.register_client(
                client_id=client_id, name="Wang Fang", unit_id=bank.outlet, recorded_by=ADMIN
            )
        batch.gather()
        # Another writer makes the first client's key (its registration not yet written).
        master = ledger.keyring.master
        theirs = master.wrap(new_key(), subject)
        ledger.keyring.table.add(subject, theirs, master.key_id)
        assert batch.write() == 1
    assert batch.left_out == {Client.id_for(racing)}
    assert ledger.keyring.table.get(subject) == (theirs, master.key_id)
    assert ledger.get_client(other).name == "Wang Fang"
    with pytest.raises(NotFound):
        ledger.get_client(racing)


def test_a_client_whose_key_another_writer_made_meanwhile_is_found_by_reading_back(
    ledger: Ledger, bank: Bank, counting: CountingKeyTable
) -> None:
    racing = new_id("C")
    subject = str(Client.id_for(racing))
    with ledger.batched() as batch:
        ledger.register_client(
            client_id=racing, name="Wang Fang", unit_id=bank.outlet, recorded_by=ADMIN
        )
        batch.gather()
        counting.add(subject, b"theirs", ledger.keyring.master.key_id)
        counting.writes.clear()
        assert batch.write() == 0
    assert [write for write, _ in counting.writes] == ["add_many"]
    assert counting.reads_after_write == 1
    assert batch.left_out == {Client.id_for(racing)}
