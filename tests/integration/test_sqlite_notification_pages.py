"""The ledger's SQLite recorder reads the log's pages as the library's recorder does (the
same notifications for every way of asking), with less Python per event."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder

from ledger.bootstrap import build
from ledger.config import Settings
from ledger.store import sqlite_reading

TOPICS = ("ledger.test:First", "ledger.test:Second", "ledger.test:Third")


@pytest.fixture
def recorder(tmp_path: Path):  # type: ignore[no-untyped-def]
    container = build(Settings(database_url=f"sqlite:///{tmp_path / 'ledger.db'}"))
    recorder = container.ledger.recorder
    # Two aggregates' events among others, in turn: ids read again are shared.
    twice = [uuid4(), uuid4()]
    events = [
        StoredEvent(
            twice[n % 2] if n % 3 == 0 else uuid4(),
            n + 1,
            TOPICS[n % 3],
            f'{{"n": {n}}}'.encode(),
        )
        for n in range(30)
    ]
    for n in range(0, 30, 7):
        recorder.insert_events(events[n : n + 7])
    yield recorder
    container.close()


@pytest.mark.parametrize(
    "asked",
    [
        {"start": None, "limit": 100},
        {"start": 1, "limit": 10},
        {"start": 5, "limit": 10, "inclusive_of_start": False},
        {"start": 3, "limit": 100, "stop": 17},
        {"start": 0, "limit": 4, "stop": 25, "topics": TOPICS[1:]},
        {"start": 8, "limit": 100, "topics": TOPICS[:1], "inclusive_of_start": False},
        {"start": 31, "limit": 10},
    ],
)
def test_pages_are_the_librarys(recorder, asked) -> None:  # type: ignore[no-untyped-def]
    ours = recorder.select_notifications(**asked)
    library = SQLiteApplicationRecorder.select_notifications(recorder, **asked)
    assert ours == library
    assert [type(n) for n in ours] == [type(n) for n in library]
    assert all(isinstance(n.originator_id, UUID) for n in ours)


def test_an_id_read_again_is_the_same_object_until_the_kept_ids_are_full(
    recorder, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    first, *rest = recorder.select_notifications(start=1, limit=100, topics=TOPICS[:1])
    again = [n for n in rest if n.originator_id == first.originator_id]
    assert again and all(n.originator_id is first.originator_id for n in again)
    monkeypatch.setattr(sqlite_reading, "KEPT_IDS", 1)
    recorder._kept_ids.clear()
    ids = [n.originator_id for n in recorder.select_notifications(start=1, limit=100)]
    assert len(recorder._kept_ids) == 1
    assert ids == [
        n.originator_id
        for n in SQLiteApplicationRecorder.select_notifications(recorder, start=1, limit=100)
    ]


def test_reading_pages_leaves_the_connections_rows_by_name(recorder) -> None:  # type: ignore[no-untyped-def]
    """The pages are read as tuples on their own cursor: the library's queries on the same
    connections still read rows by column name."""
    for _ in range(3):
        first = recorder.select_notifications(start=1, limit=5)[0]
        events = recorder.select_events(first.originator_id)
        assert events and events[0].originator_id == first.originator_id
