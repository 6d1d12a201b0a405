"""SQLite answers each inserted event's position (the rowid it was given), as the chain,
the tree and every write's answer take them, however the events arrive."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

from eventsourcing.persistence import StoredEvent

from ledger.bootstrap import build
from ledger.config import Settings


def _events(count: int) -> list[StoredEvent]:
    return [StoredEvent(uuid4(), 1, "ledger.test:Nothing", b"{}") for _ in range(count)]


def test_the_positions_answered_are_the_rowids_given(tmp_path: Path) -> None:
    container = build(Settings(database_url=f"sqlite:///{tmp_path / 'ledger.db'}"))
    recorder = container.ledger.recorder
    try:
        first, second, last = _events(3), _events(1), _events(4)
        answered = [recorder.insert_events(batch) for batch in (first, second, last)]
        stored = {
            (n.originator_id, n.originator_version): n.id
            for n in recorder.select_notifications(start=1, limit=100)
        }
        for batch, positions in zip((first, second, last), answered, strict=True):
            assert list(positions) == [stored[(e.originator_id, 1)] for e in batch]
        assert sorted(stored.values()) == list(range(1, 9))
        assert container.integrity.verify().ok
    finally:
        container.close()
