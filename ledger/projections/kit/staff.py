"""Staff members by aggregate id, with when each departed: the one home of the staff
handlers the reports and maintenance read models both need."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import Tracking

from ledger.domain import Staff
from ledger.projections.kit.engine import BatchView, Handler, Part
from ledger.projections.kit.text import aggregate_key, placeholders, utc_text

if TYPE_CHECKING:
    from ledger.projections.kit.recorded import RecordedTimes


class StaffTable(Part):
    """`{p}_staff (aid, staff_id, [role,] departed_at)`. With `roles` the role each joined
    in is kept too (maintenance asks who is a leader); the reports view's table was laid
    out without that column, and a view built by earlier code keeps its columns.

    With `recorded` (the view's recorded times), each departure is kept too with
    its place in the log, `{p}_departures (aid, seq, departed_at)`, so departures can be
    read as known at a past time (the staff row keeps the latest alone)."""

    def __init__(
        self, view: BatchView, *, roles: bool = False, recorded: RecordedTimes | None = None
    ) -> None:
        super().__init__(view)
        self.roles = roles
        self.recorded = recorded
        columns = "aid, staff_id, role" if roles else "aid, staff_id"
        values = "?, ?, ?" if roles else "?, ?"
        self._insert = (
            f"INSERT INTO {self.prefix}_staff ({columns}) VALUES ({values}) "
            "ON CONFLICT (aid) DO NOTHING"
        )

    def tables(self) -> list[str]:
        p = self.prefix
        role = "role TEXT, " if self.roles else ""
        return [
            f"CREATE TABLE IF NOT EXISTS {p}_staff (aid TEXT PRIMARY KEY, staff_id TEXT, "
            f"{role}departed_at TEXT)",
            f"CREATE INDEX IF NOT EXISTS {p}_staff_id ON {p}_staff (staff_id)",
            *(
                [
                    f"CREATE TABLE IF NOT EXISTS {p}_departures (aid TEXT, seq BIGINT, "
                    "departed_at TEXT, PRIMARY KEY (aid, seq))"
                ]
                if self.recorded
                else []
            ),
        ]

    def handlers(self) -> dict[type, Handler]:
        return {Staff.Joined: self.joined, Staff.Departed: self.departed}

    def joined(self, event: Staff.Joined, tracking: Tracking) -> None:
        key = aggregate_key(event)
        row = (key, event.staff_id, event.role) if self.roles else (key, event.staff_id)
        self.view.record(self._insert, row, tracking)

    def departed(self, event: Staff.Departed, tracking: Tracking) -> None:
        """Marks the staff member "staff": what a view keeps of their clients may move."""
        view, p, key = self.view, self.prefix, aggregate_key(event)
        moment, seq = utc_text(event.effective_at), tracking.notification_id
        with view.write() as c:
            view.execute(c, f"UPDATE {p}_staff SET departed_at = ? WHERE aid = ?", (moment, key))
            if self.recorded is not None:
                view.execute(
                    c,
                    f"INSERT INTO {p}_departures (aid, seq, departed_at) VALUES (?, ?, ?) "
                    "ON CONFLICT DO NOTHING",
                    (key, seq, moment),
                )
                self.recorded.record(c, seq, event.timestamp)
            view.mark("staff", key, seq)
            view.advance(tracking)

    def staff_ids(self, c: Any, keys: Iterable[str]) -> list[str]:
        """The staff ids of staff aggregates, in the open transaction `c`."""
        keys = sorted(keys)
        if not keys:
            return []
        rows = self.view.fetch(
            c,
            f"SELECT staff_id FROM {self.prefix}_staff WHERE aid IN {placeholders(keys)}",
            keys,
        )
        return [row["staff_id"] for row in rows]

    def roles_and_departures(self, c: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Each staff member's role (None without `roles`) and departure (None: still
        here), by staff id; read in the open transaction `c` if given."""
        role = "role" if self.roles else "NULL AS role"
        roles, departed = {}, {}
        statement = f"SELECT staff_id, {role}, departed_at FROM {self.prefix}_staff"
        rows = self.view.fetch(c, statement) if c is not None else self.view.query(statement)
        for row in rows:
            roles[row["staff_id"]] = row["role"]
            departed[row["staff_id"]] = row["departed_at"]
        return roles, departed

    def departures_known(self, upto: int) -> dict[str, str]:
        """Each staff member's departure as recorded by position `upto`, by staff id (needs
        `recorded`)."""
        p = self.prefix
        return {
            r["staff_id"]: r["departed_at"]
            for r in self.view.query(
                f"SELECT s.staff_id AS staff_id, d.departed_at AS departed_at "
                f"FROM {p}_departures d JOIN {p}_staff s ON s.aid = d.aid WHERE d.seq <= ? "
                "ORDER BY d.seq",
                (upto,),
            )
        }
