"""Group commit on SQLite (`ledger.store.group_commit`): inserts that wait while another is
written go into the store together, in one transaction, and each still gets its own answer:
its own positions, or its own error (a conflict on its aggregate, or a recorded time before
the log's last), while the others of its group are written; the chain and the tree cover
them all."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from ledger.application.writes import recording_clock
from ledger.bootstrap import Container, build
from ledger.config import Settings
from ledger.domain import Client
from ledger.store.recorded_order import RecordedOutOfOrder
from support.scenario import STAFF_SINCE, Bank, build_bank, register


@pytest.fixture
def container(sqlite_url: str) -> Iterator[Container]:
    container = build(Settings(database_url=sqlite_url))
    yield container
    container.close()


@pytest.fixture
def bank(container: Container) -> Bank:
    return build_bank(container.ledger, staff_since=STAFF_SINCE)


class Gate:
    """Holds the first group in its write until `open()`, so the inserts after it wait and
    are written together in the next."""

    def __init__(self, container: Container) -> None:
        self.commit = container.ledger.recorder.group_commit  # type: ignore[attr-defined]
        self._write = self.commit._write_group
        self._open = threading.Event()
        self._first = True
        self.commit._write_group = self._held

    def _held(self, inserts: list[Any]) -> Any:
        if self._first:
            self._first = False
            self._open.wait(10)
        return self._write(inserts)

    def waiting(self, count: int) -> None:
        deadline = time.monotonic() + 10
        while len(self.commit._waiting) < count:
            assert time.monotonic() < deadline, "the inserts did not queue"
            time.sleep(0.005)

    def open(self) -> None:
        self._open.set()


def in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    answer: dict[str, Any] = {}

    def run() -> None:
        try:
            answer["value"] = work()
        except BaseException as error:  # the test reads it
            answer["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread, answer


def contact(container: Container, bank: Bank, client_id: str) -> Callable[[], Any]:
    return lambda: container.ledger.log_contact(
        client_id=client_id,
        channel="phone",
        staff_id=bank.manager,
        occurred_at=datetime.now(UTC) - timedelta(minutes=1),
        recorded_by="admin:test",
    )


def test_waiting_writes_are_written_together_each_at_its_own_position(
    container: Container, bank: Bank
) -> None:
    ledger = container.ledger
    clients = [register(ledger, bank, at=STAFF_SINCE + timedelta(days=1)) for _ in range(6)]
    gate = Gate(container)
    groups, inserts = gate.commit.groups, gate.commit.inserts
    first, first_answer = in_thread(contact(container, bank, clients[0]))
    gate.waiting(0)
    time.sleep(0.05)  # the first is in its write, held
    rest = [in_thread(contact(container, bank, c)) for c in clients[1:]]
    gate.waiting(5)
    gate.open()
    for thread, _ in [(first, first_answer), *rest]:
        thread.join(10)
    answers = [first_answer, *(answer for _, answer in rest)]
    assert all("value" in a for a in answers), answers
    # Two transactions: the first alone, then the five that waited for it.
    assert (gate.commit.groups - groups, gate.commit.inserts - inserts) == (2, 6)
    for client_id, answer in zip(clients, answers, strict=True):
        position = answer["value"].position
        (notification,) = ledger.recorder.select_notifications(position, 1)
        assert notification.originator_id == Client.id_for(client_id)
    assert len({a["value"].position for a in answers}) == 6
    assert container.integrity.verify().ok


def stored(container: Container, bank: Bank, client_id: str) -> list[Any]:
    """A contact's stored events for `client_id`, made now, not yet inserted."""
    ledger = container.ledger
    client = ledger.load(Client, client_id)
    with recording_clock(ledger.clock):
        client.log_contact(
            channel="phone",
            staff_id=bank.manager,
            purpose=None,
            summary=None,
            recorded_by="admin:test",
            effective_at=datetime.now(UTC) - timedelta(minutes=1),
        )
    return [ledger.mapper.to_stored_event(e) for e in client.collect_events()]


def test_a_conflict_or_a_late_stamp_fails_alone_and_its_group_is_written(
    container: Container, bank: Bank
) -> None:
    ledger = container.ledger
    recorder: Any = ledger.recorder
    a, b, c, d = (register(ledger, bank, at=STAFF_SINCE + timedelta(days=1)) for _ in range(4))
    late = stored(container, bank, b)  # stamped before the first insert below
    time.sleep(0.002)
    first = stored(container, bank, a)
    conflict = list(recorder.select_events(Client.id_for(c), limit=1))  # c's version 1 again
    time.sleep(0.002)
    fine = stored(container, bank, d)
    gate = Gate(container)
    threads = [in_thread(lambda: recorder.insert_events(first))]
    time.sleep(0.05)
    for events in (conflict, late, fine):
        threads.append(in_thread(lambda events=events: recorder.insert_events(events)))
        gate.waiting(len(threads) - 1)
    gate.open()
    for thread, _ in threads:
        thread.join(10)
    (_, a_answer), (_, c_answer), (_, b_answer), (_, d_answer) = threads
    assert isinstance(c_answer.get("error"), IntegrityError), c_answer
    assert isinstance(b_answer.get("error"), RecordedOutOfOrder), b_answer
    (position,) = d_answer["value"]
    assert a_answer["value"][0] < position
    (notification,) = recorder.select_notifications(position, 1)
    assert notification.originator_id == Client.id_for(d)
    # Nothing of the refused inserts is in the log; the chain covers what is.
    assert [e.originator_version for e in recorder.select_events(Client.id_for(b))] == [1]
    assert recorder.max_notification_id() == position
    assert container.integrity.verify().ok


def test_an_insert_alone_that_conflicts_or_is_late_is_refused_and_writes_nothing(
    container: Container, bank: Bank
) -> None:
    """Written alone (no savepoint), a refused insert's transaction rolls back whole."""
    ledger = container.ledger
    recorder: Any = ledger.recorder
    a, b = (register(ledger, bank, at=STAFF_SINCE + timedelta(days=1)) for _ in range(2))
    late = stored(container, bank, b)  # stamped before the contact below
    time.sleep(0.002)
    contact(container, bank, a)()
    end = recorder.max_notification_id()
    conflict = list(recorder.select_events(Client.id_for(a), limit=1))  # a's version 1 again
    with pytest.raises(IntegrityError):
        recorder.insert_events(conflict)
    with pytest.raises(RecordedOutOfOrder):
        recorder.insert_events(late)
    assert recorder.max_notification_id() == end
    assert [e.originator_version for e in recorder.select_events(Client.id_for(b))] == [1]
    (position,) = recorder.insert_events(stored(container, bank, b))
    assert position == end + 1
    assert container.integrity.verify().ok
