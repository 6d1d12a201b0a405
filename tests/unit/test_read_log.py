"""The read log in memory: a read is queued, not written, and the background thread
writes the queue within a second; a failed write keeps its reads queued."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from ledger.bootstrap import Container, build
from ledger.config import Settings
from ledger.read_log import FLUSH_SECONDS, ReadLog


@pytest.fixture
def read_log() -> Iterator[ReadLog]:
    container: Container = build(Settings(database_url="memory://"))
    try:
        yield container.read_log
    finally:
        container.close()


def record(read_log: ReadLog, client_id: str = "C1") -> None:
    read_log.record(
        principal="admin", role="admin", path=f"/v1/clients/{client_id}", client_id=client_id
    )


def test_a_read_is_written_by_the_background_thread_within_a_second(read_log: ReadLog) -> None:
    record(read_log)
    assert read_log.store.reads()["items"] == []  # queued, not yet written
    deadline = time.monotonic() + 1.0
    while not read_log.store.reads()["items"] and time.monotonic() < deadline:
        time.sleep(0.05)
    (read,) = read_log.store.reads()["items"]
    assert (read["principal"], read["client_id"]) == ("admin", "C1")
    assert FLUSH_SECONDS <= 0.5


def test_a_query_of_the_log_sees_every_read_before_it(read_log: ReadLog) -> None:
    for n in range(3):
        record(read_log, f"C{n}")
    assert [r["client_id"] for r in read_log.reads()["items"]] == ["C0", "C1", "C2"]


def test_a_failed_write_keeps_the_reads_queued(
    read_log: ReadLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    record(read_log)

    def down(rows: list) -> None:
        raise RuntimeError("database down")

    monkeypatch.setattr(read_log.store, "append", down)
    read_log.flush()
    assert len(read_log.queue) == 1
    monkeypatch.undo()
    assert [r["client_id"] for r in read_log.reads()["items"]] == ["C1"]
