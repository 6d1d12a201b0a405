"""The bulk path with a writer process of its own (`PipelinedBatch`): the same guarantees as
in one process: every bad row reported and nothing written, the same file again writes
nothing, a client registered meanwhile left out, the chain and the tree verified, and a
writer that dies is an error, never a silent half import."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.application import Ledger, imports
from ledger.application.batch_process import WRITER_INSERTS, WRITER_SEALS, WriterStopped
from ledger.bootstrap import Container, build
from ledger.config import Settings
from ledger.demo import load_demo
from ledger.name_lists import read_name_list
from support.name_lists import (
    a_row,
    import_with_one_client_registered_meanwhile,
    name_list,
    registered_meanwhile,
)
from support.scenario import ADMIN, REGISTERED_AT, STAFF_SINCE, Bank, Clock, build_bank


@pytest.fixture
def container(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Container]:
    monkeypatch.setattr(imports, "PIPELINED_ROWS", 1)
    container = build(Settings(database_url=f"sqlite:///{tmp_path}/ledger.db"), clock=Clock())
    yield container
    container.close()


@pytest.fixture
def ledger(container: Container) -> Ledger:
    return container.ledger


@pytest.fixture
def bank(ledger: Ledger) -> Bank:
    return build_bank(ledger, staff_since=STAFF_SINCE)


def test_a_pipelined_import_writes_a_good_file_once(container: Container, bank: Bank) -> None:
    assert imports.PIPELINED_ROWS == 1  # the fixture's: every import here has a writer
    ledger = container.ledger
    day = REGISTERED_AT.date().isoformat()
    data = name_list(
        bank, *(a_row(phone="13912345678", assets="10", assets_as_of=day) for _ in range(30))
    )
    before = ledger.position
    seen: list[tuple[str, int, int]] = []
    first = ledger.import_clients(
        read_name_list(data), recorded_by=ADMIN, progress=lambda *p: seen.append(p)
    )
    assert (first.errors, first.imported, first.events) == ([], 30, 120)
    assert ledger.position == before + 120
    assert seen[-1] == ("written", 120, 120)
    assert ledger.write_counts().events["Registered"] >= 30
    again = ledger.import_clients(read_name_list(data), recorded_by=ADMIN)
    assert (again.imported, again.skipped, again.events) == (0, 30, 0)
    assert ledger.position == before + 120
    assert container.integrity.verify().ok


def test_a_pipelined_import_with_a_bad_row_writes_nothing(ledger: Ledger, bank: Bank) -> None:
    rows = name_list(bank, *(a_row() for _ in range(20)), a_row(tier="platinium"), a_row())
    before = ledger.position
    report = ledger.import_clients(read_name_list(rows), recorded_by=ADMIN)
    assert [(e.line, e.field) for e in report.errors] == [(22, "tier")]
    assert report.events == 0
    assert ledger.position == before


@pytest.mark.parametrize("writer", [WRITER_SEALS, WRITER_INSERTS])
def test_a_client_registered_meanwhile_is_left_out_by_the_writer(
    ledger: Ledger, bank: Bank, writer: str
) -> None:
    import_with_one_client_registered_meanwhile(ledger, bank, writer=writer)


def test_chunks_after_one_the_writer_could_not_insert_are_sent_again(
    container: Container, bank: Bank
) -> None:
    """Five events a chunk, two chunks with the writer at a time: the client registered
    meanwhile (its events the 10th to 12th) fails the second chunk while the third is
    queued behind it."""
    ledger = container.ledger
    rows = [a_row(phone="13912345678") for _ in range(8)]  # three events each
    taken = rows[3]
    parsed = read_name_list(name_list(bank, *rows))
    before = ledger.position
    with ledger.batched(chunk=5, writer=WRITER_INSERTS) as batch:
        for _, row in parsed:
            ledger._import_row(row, ADMIN, ledger.clock())
        batch.gather()
        registered_meanwhile(ledger, bank, taken["client_id"])
        report = type("R", (), {"imported": 8, "skipped": 0, "events": 0})()
        ledger._write(batch, report, None)  # type: ignore[arg-type]
    assert (report.imported, report.skipped, report.events) == (7, 1, 21)
    assert ledger.position == before + 1 + 21
    assert ledger.get_client(taken["client_id"]).name == "Li Wei"
    assert all(ledger.get_client(row["client_id"]).name == "Wang Fang" for row in rows[4:])
    assert container.integrity.verify().ok


@pytest.mark.parametrize("writer", [WRITER_SEALS, WRITER_INSERTS])
def test_a_writer_that_dies_is_an_error(ledger: Ledger, bank: Bank, writer: str) -> None:
    rows = read_name_list(name_list(bank, a_row(), a_row()))
    before = ledger.position
    with pytest.raises(WriterStopped), ledger.batched(chunk=1, writer=writer) as batch:
        ledger._import_row(rows[0][1], ADMIN, ledger.clock())
        batch.write()  # the writer started
        ledger._import_row(rows[1][1], ADMIN, ledger.clock())
        process = batch._writer.process  # type: ignore[attr-defined]
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        batch.write()
    assert ledger.position == before + 2  # the first row (registered, assigned), only


def test_the_demo_writes_the_same_events_through_a_writer_process(tmp_path: Path) -> None:
    counts = []
    for pipelined in (False, True):
        container = build(Settings(database_url=f"sqlite:///{tmp_path}/{pipelined}.db"))
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("ledger.demo.loading.PIPELINED_CLIENTS", 1 if pipelined else 10**9)
            stats = load_demo(container.ledger, clients=40, seed=5)
        assert container.integrity.verify().ok
        # Their personal fields open: sealed under keys the writer wrote.
        clients = [container.ledger.get_client(f"C{n:06d}") for n in (0, 17, 39)]
        assert all(client.name and "pd1:" not in client.name for client in clients)
        written = container.ledger.write_counts().events
        counts.append((stats.events, stats.by_type, written, [vars(c) for c in clients]))
        container.close()
    assert counts[0] == counts[1]
