"""When each event a view keeps was recorded, by log position: what a view reads as known at
a past time (API.md 1.1, Audit) is what it held at the last position recorded by then (the
log's order is its recorded order, by construction: docs/ARCHITECTURE.md, Known at)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.persistence import Tracking

from ledger.projections.kit.engine import Part
from ledger.projections.kit.text import utc_text


class RecordedTimes(Part):
    """`{p}_recorded (seq, recorded_at)`: the other parts of the view note each event they
    keep."""

    def tables(self) -> list[str]:
        p = self.prefix
        return [
            f"CREATE TABLE IF NOT EXISTS {p}_recorded (seq BIGINT PRIMARY KEY, recorded_at TEXT)",
            f"CREATE INDEX IF NOT EXISTS {p}_recorded_at ON {p}_recorded (recorded_at)",
        ]

    def note(self, c: Any, tracking: Tracking, event: Any) -> None:
        self.record(c, tracking.notification_id, event.timestamp)

    def record(self, c: Any, seq: int, recorded_at: datetime) -> None:
        """Within the view's `write()`: the event at `seq` of the log was recorded then."""
        self.view.execute(
            c,
            f"INSERT INTO {self.prefix}_recorded (seq, recorded_at) VALUES (?, ?) "
            "ON CONFLICT DO NOTHING",
            (seq, utc_text(recorded_at)),
        )

    def known_position(self, c: Any, known_at: datetime) -> int:
        """The last position of the view's events recorded by `known_at`."""
        rows = self.view.fetch(
            c,
            f"SELECT MAX(seq) AS seq FROM {self.prefix}_recorded WHERE recorded_at <= ?",
            (utc_text(known_at),),
        )
        return int(rows[0]["seq"] or 0)

    def position_known_at(self, known_at: datetime) -> int:
        """`known_position` in a read transaction of its own."""
        with self.view.read_transaction() as c:
            return self.known_position(c, known_at)

    def kept_any(self) -> bool:
        with self.view.read_transaction() as c:
            return bool(self.view.fetch(c, f"SELECT seq FROM {self.prefix}_recorded LIMIT 1"))
