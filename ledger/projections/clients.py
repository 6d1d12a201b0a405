"""Clients' tier, status and designated-manager intervals, kept in effective time.

Each tier, status or designated-manager event is stored as a change point; the client's
intervals are then refolded from all its change points, so a backdated event splits and
reorders the intervals exactly as if it had been recorded in its place.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from eventsourcing.persistence import Tracking

from ledger.domain.values import ACTIVE
from ledger.projections.base import UnitTree, chunks, ts
from ledger.projections.timeline import Change, fold_intervals

FIELDS = ("tier", "status", "manager")
# A registration is one change point: the client's first tier, and active status.
REGISTERED = "registered"

# (aid, valid_from, valid_to, tier, status, manager)
IntervalRow = tuple[str, str, str | None, str | None, str | None, str | None]


def change_points(at: str, seq: int, field: str, value: str | None) -> tuple[Change, ...]:
    """The change points of a stored change: a registration's are its tier and its status.
    (Views built before registrations were stored as one row have both rows stored.)"""
    if field == REGISTERED:
        return (Change(at, seq, "tier", value), Change(at, seq, "status", ACTIVE))
    return (Change(at, seq, field, value),)


class ClientIntervals(UnitTree):
    def view_statements(self) -> list[str]:
        p = self.view_name
        return [
            *super().view_statements(),
            f"CREATE TABLE IF NOT EXISTS {p}_clients (aid TEXT PRIMARY KEY, client_id TEXT, "
            "name TEXT, unit_id TEXT, registered_at TEXT)",
            f"CREATE TABLE IF NOT EXISTS {p}_changes (aid TEXT, seq BIGINT, field TEXT, "
            "effective_at TEXT, value TEXT, PRIMARY KEY (aid, seq, field))",
            f"CREATE TABLE IF NOT EXISTS {p}_intervals (aid TEXT, valid_from TEXT, "
            "valid_to TEXT, tier TEXT, status TEXT, manager TEXT, "
            "PRIMARY KEY (aid, valid_from))",
        ]

    def query_index_statements(self) -> list[str]:
        p = self.view_name
        return [
            *super().query_index_statements(),
            f"CREATE INDEX IF NOT EXISTS {p}_clients_id ON {p}_clients (client_id)",
            # Covering indexes: the subtree queries (roster, counts, growth) visit every
            # client of the units, and a lookup into the table per row doubled their time.
            f"CREATE INDEX IF NOT EXISTS {p}_clients_unit_aid ON {p}_clients (unit_id, aid)",
            f"CREATE INDEX IF NOT EXISTS {p}_intervals_manager ON {p}_intervals (manager)",
            f"CREATE INDEX IF NOT EXISTS {p}_intervals_at ON {p}_intervals "
            "(aid, valid_from, valid_to, status, tier, manager)",
        ]

    # ---- updates ------------------------------------------------------------------------

    def register_client(
        self,
        aid: str,
        client_id: str,
        name: str,
        unit_id: str,
        tier: str,
        at: datetime,
        tracking: Tracking,
    ) -> None:
        p = self.view_name
        moment = ts(at)
        with self._write() as c:
            self._memo("registered", dict)[aid] = []
            self._exec(
                c,
                f"INSERT INTO {p}_clients (aid, client_id, name, unit_id, registered_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (aid) DO NOTHING",
                (aid, client_id, name, unit_id, moment),
            )
            self._add_changes(c, [(aid, tracking.notification_id, REGISTERED, moment, tier)])
            self._track(tracking)

    def record_change(
        self, aid: str, field: str, at: datetime, value: str | None, tracking: Tracking
    ) -> None:
        with self._write() as c:
            self._add_changes(c, [(aid, tracking.notification_id, field, ts(at), value)])
            self._track(tracking)

    def _add_changes(self, c: Any, rows: list[tuple[str, int, str, str, str | None]]) -> None:
        self._many(
            c,
            f"INSERT INTO {self.view_name}_changes (aid, seq, field, effective_at, value) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            rows,
        )
        registered: dict[str, list[Change]] = self._memo("registered", dict)
        for row in rows:
            self._dirty("client", row[0])
            if row[0] in registered:
                registered[row[0]].extend(change_points(row[3], row[1], row[2], row[4]))

    def _flush(self, c: Any, dirty: dict[str, set[str]]) -> None:
        super()._flush(c, dirty)
        clients = sorted(dirty.get("client", ()))
        for part in chunks(clients):
            changes = self._change_points(c, part)
            rows = [
                (aid, i.valid_from, i.valid_to, *i.values)
                for aid, points in changes.items()
                for i in fold_intervals(points, FIELDS)
                if i.values[0] is not None  # before registration there is no client
            ]
            self._replace_intervals(c, part, rows)

    def _replace_intervals(self, c: Any, aids: Sequence[str], rows: list[IntervalRow]) -> None:
        """Swap the clients' intervals for their refolded `rows` (a hook for what is
        derived from intervals)."""
        p = self.view_name
        # A client registered in this batch has no intervals from before to delete.
        older = self._registered_before(aids)
        if older:
            self._exec(c, f"DELETE FROM {p}_intervals WHERE aid IN {self._in(older)}", older)
        self._many(
            c,
            f"INSERT INTO {p}_intervals (aid, valid_from, valid_to, tier, status, "
            "manager) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )

    def _registered_before(self, aids: Sequence[str]) -> list[str]:
        """The clients registered before this batch: the ones with rows from before."""
        registered = self._memo("registered", dict)
        return [aid for aid in aids if aid not in registered]

    def _change_points(self, c: Any, aids: Sequence[str]) -> dict[str, list[Change]]:
        """Each client's change points. A client registered in this batch has them all in
        memory (none can precede its registration in the log); the others' are read back."""
        registered: dict[str, list[Change]] = self._memo("registered", dict)
        changes = {aid: registered.get(aid, []) for aid in aids}
        older = self._registered_before(aids)
        if older:
            for row in self._all(
                c,
                f"SELECT aid, seq, field, effective_at, value FROM {self.view_name}_changes "
                f"WHERE aid IN {self._in(older)}",
                older,
            ):
                changes[row["aid"]].extend(
                    change_points(row["effective_at"], row["seq"], row["field"], row["value"])
                )
        return changes

    # ---- queries ------------------------------------------------------------------------

    @staticmethod
    def _at() -> str:
        """Intervals in force at a time."""
        return "i.valid_from <= ? AND (i.valid_to IS NULL OR i.valid_to > ?)"

    def _subtree_join(self) -> str:
        p = self.view_name
        return (
            f"FROM {p}_intervals i JOIN {p}_clients c ON c.aid = i.aid "
            f"JOIN {p}_unit_paths u ON u.unit_id = c.unit_id AND u.ancestor_id = ? "
        )
