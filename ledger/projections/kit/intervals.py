"""Clients' tier, status and designated-manager intervals, kept in effective time.

Each tier, status or designated-manager event is stored as a change point; the client's
intervals are then refolded from all its change points, so a backdated event splits and
reorders the intervals exactly as if it had been recorded in its place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from eventsourcing.persistence import Tracking

from ledger.domain import Client
from ledger.domain.values import ACTIVE, DESIGNATED_MANAGER
from ledger.projections.kit.engine import BatchView, Handler, Part
from ledger.projections.kit.recorded import RecordedTimes
from ledger.projections.kit.text import aggregate_key, chunks, placeholders, utc_text
from ledger.projections.kit.timeline import Change, Interval, fold_intervals
from ledger.projections.kit.units import UnitTree

FIELDS = ("tier", "status", "manager")
# A registration is one change point: the client's first tier, and active status.
REGISTERED = "registered"

# (aid, valid_from, valid_to, tier, status, manager)
IntervalRow = tuple[str, str, str | None, str | None, str | None, str | None]
# Told of the clients' refolded rows before they replace the old ones: (cursor, aids, rows).
RefoldListener = Callable[[Any, Sequence[str], list[IntervalRow]], None]


def change_points(at: str, seq: int, field: str, value: str | None) -> tuple[Change, ...]:
    """The change points of a stored change: a registration's are its tier and its status.
    (Views built before registrations were stored as one row have both rows stored.)"""
    if field == REGISTERED:
        return (Change(at, seq, "tier", value), Change(at, seq, "status", ACTIVE))
    return (Change(at, seq, field, value),)


@dataclasses.dataclass
class KnownClient:
    """A client as known at a past position: its change points recorded by then."""

    client_id: str
    unit_id: str
    registered_at: str
    changes: list[Change] = dataclasses.field(default_factory=list)

    @property
    def registered(self) -> bool:
        return any(change.field == "tier" for change in self.changes)

    def intervals(self) -> list[Interval]:
        return [i for i in fold_intervals(self.changes, FIELDS) if i.values[0] is not None]

    def at(self, moment: datetime) -> dict[str, str | None]:
        """Its tier, status and manager at `moment` (all None before its registration)."""
        return self.at_text(utc_text(moment))

    def at_text(self, moment: str) -> dict[str, str | None]:
        values = value_at_all(self.intervals(), moment)
        return dict(zip(FIELDS, values, strict=True))


def value_at_all(intervals: Sequence[Interval], at: str) -> tuple[str | None, ...]:
    for interval in intervals:
        if interval.valid_from <= at and (interval.valid_to is None or at < interval.valid_to):
            return interval.values
    return (None,) * len(FIELDS)


class ClientIntervals(Part):
    """Keeps each client (registration, tier changes, designated-manager assignments,
    churns, reactivations) as change points and `[from, to)` intervals refolded from them.

    `recorded`: the view's recorded times, noted for each change (the roster and reports
    read as known at a past time). `manager_marks`: kinds to mark a client for when its
    designated manager changes (the reports credit asset changes to the manager of the moment).
    `members`: also keep each client under every unit above it, in client id order, so a
    page of a large subtree is read in that order and stops at the page's end (see
    `members_join`)."""

    def __init__(
        self,
        view: BatchView,
        units: UnitTree,
        *,
        recorded: RecordedTimes | None = None,
        manager_marks: tuple[str, ...] = (),
        members: bool = False,
    ) -> None:
        super().__init__(view)
        self.units, self.recorded, self.members = units, recorded, members
        self.manager_marks = manager_marks
        self.refold_listeners: list[RefoldListener] = []

    def tables(self) -> list[str]:
        p = self.prefix
        return [
            f"CREATE TABLE IF NOT EXISTS {p}_clients (aid TEXT PRIMARY KEY, client_id TEXT, "
            "name TEXT, unit_id TEXT, registered_at TEXT)",
            f"CREATE TABLE IF NOT EXISTS {p}_changes (aid TEXT, seq BIGINT, field TEXT, "
            "effective_at TEXT, value TEXT, PRIMARY KEY (aid, seq, field))",
            f"CREATE TABLE IF NOT EXISTS {p}_intervals (aid TEXT, valid_from TEXT, "
            "valid_to TEXT, tier TEXT, status TEXT, manager TEXT, "
            "PRIMARY KEY (aid, valid_from))",
            *(
                [
                    f"CREATE TABLE IF NOT EXISTS {p}_members (ancestor_id TEXT, client_id TEXT, "
                    "aid TEXT, PRIMARY KEY (ancestor_id, client_id))"
                ]
                if self.members
                else []
            ),
        ]

    def query_indexes(self) -> list[str]:
        p = self.prefix
        return [
            f"CREATE INDEX IF NOT EXISTS {p}_clients_id ON {p}_clients (client_id)",
            # Covering indexes: the subtree queries (roster, counts, growth) visit every
            # client of the units, and a lookup into the table per row doubled their time.
            f"CREATE INDEX IF NOT EXISTS {p}_clients_unit_aid ON {p}_clients (unit_id, aid)",
            f"CREATE INDEX IF NOT EXISTS {p}_intervals_manager ON {p}_intervals (manager)",
            f"CREATE INDEX IF NOT EXISTS {p}_intervals_at ON {p}_intervals "
            "(aid, valid_from, valid_to, status, tier, manager)",
        ]

    def handlers(self) -> dict[type, Handler]:
        return {
            Client.Registered: self.registered,
            Client.TierChanged: self.tier_changed,
            Client.Assigned: self.assigned,
            Client.Churned: self.churned,
            Client.Reactivated: self.reactivated,
            Client.Erased: self.erased,
        }

    # ---- updates ------------------------------------------------------------------------

    def registered(self, event: Client.Registered, tracking: Tracking) -> None:
        view, key = self.view, aggregate_key(event)
        moment = utc_text(event.effective_at)
        with view.write() as c:
            view.batch_memo("registered", dict)[key] = []
            view.execute(
                c,
                f"INSERT INTO {self.prefix}_clients (aid, client_id, name, unit_id, "
                "registered_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (aid) DO NOTHING",
                (key, event.client_id, view.seal(key, "name", event.name), event.unit_id, moment),
            )
            if self.members and not view.rebuilding:
                view.batch_memo("members", list).append((event.client_id, key, event.unit_id))
            self._add_change(c, key, tracking, REGISTERED, moment, event.tier, event.timestamp)
            view.advance(tracking)

    def tier_changed(self, event: Client.TierChanged, tracking: Tracking) -> None:
        self._change(event, tracking, "tier", event.tier)

    def assigned(self, event: Client.Assigned, tracking: Tracking) -> None:
        if event.role != DESIGNATED_MANAGER:
            self.view.track(tracking)
            return
        self._change(event, tracking, "manager", event.staff_id)
        for kind in self.manager_marks:
            self.view.mark(kind, aggregate_key(event))

    def churned(self, event: Client.Churned, tracking: Tracking) -> None:
        self._change(event, tracking, "status", "churned")

    def reactivated(self, event: Client.Reactivated, tracking: Tracking) -> None:
        self._change(event, tracking, "status", ACTIVE)

    def erased(self, event: Client.Erased, tracking: Tracking) -> None:
        """The name goes from the view; so does the key, from this process's cache (the
        erasure may have been made by another process)."""
        view, key = self.view, aggregate_key(event)
        if view.keyring is not None:
            view.keyring.forget(key)
        with view.write() as c:
            view.execute(c, f"UPDATE {self.prefix}_clients SET name = NULL WHERE aid = ?", (key,))
            view.advance(tracking)

    def _change(self, event: Any, tracking: Tracking, field: str, value: str | None) -> None:
        with self.view.write() as c:
            self._add_change(
                c,
                aggregate_key(event),
                tracking,
                field,
                utc_text(event.effective_at),
                value,
                event.timestamp,
            )
            self.view.advance(tracking)

    def _add_change(
        self,
        c: Any,
        key: str,
        tracking: Tracking,
        field: str,
        at: str,
        value: str | None,
        recorded_at: datetime,
    ) -> None:
        view, seq = self.view, tracking.notification_id
        view.execute(
            c,
            f"INSERT INTO {self.prefix}_changes (aid, seq, field, effective_at, value) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (key, seq, field, at, value),
        )
        self.record_time(c, seq, recorded_at)
        view.mark("client", key)
        registered: dict[str, list[Change]] = view.batch_memo("registered", dict)
        if key in registered:
            registered[key].extend(change_points(at, seq, field, value))

    def record_time(self, c: Any, seq: int, recorded_at: datetime) -> None:
        """With `recorded`, note when the event at `seq` of the log was recorded (other
        parts of the view call it for the events they keep, so that all its facts can be
        read as known at a past time)."""
        if self.recorded is not None:
            self.recorded.record(c, seq, recorded_at)

    def registered_in_batch(self) -> dict[str, list[Change]]:
        """The clients registered in the open batch, with their change points so far."""
        return self.view.batch_memo("registered", dict)

    def flush(self, c: Any, marked: dict[str, set[str]]) -> None:
        joined = self.view.batch_memo("members", list)
        if joined:
            # One statement per batch: a SELECT sends the rows waiting in the batch first.
            self.view.execute_many(
                c,
                f"INSERT INTO {self.prefix}_members (ancestor_id, client_id, aid) "
                f"SELECT ancestor_id, ?, ? FROM {self.units.prefix}_unit_paths WHERE unit_id = ? "
                "ON CONFLICT DO NOTHING",
                joined,
            )
        for part in chunks(sorted(marked.get("client", ()))):
            changes = self._change_points(c, part)
            rows = [
                (key, i.valid_from, i.valid_to, *i.values)
                for key, points in changes.items()
                for i in fold_intervals(points, FIELDS)
                if i.values[0] is not None  # before registration there is no client
            ]
            for listener in self.refold_listeners:
                listener(c, part, rows)
            self._replace_intervals(c, part, rows)

    def _replace_intervals(self, c: Any, keys: Sequence[str], rows: list[IntervalRow]) -> None:
        """Swap the clients' intervals for their refolded `rows`."""
        p = self.prefix
        # A client registered in this batch has no intervals from before to delete.
        older = self._registered_before(keys)
        if older:
            self.view.execute(
                c, f"DELETE FROM {p}_intervals WHERE aid IN {placeholders(older)}", older
            )
        self.view.execute_many(
            c,
            f"INSERT INTO {p}_intervals (aid, valid_from, valid_to, tier, status, "
            "manager) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )

    def _registered_before(self, keys: Sequence[str]) -> list[str]:
        """The clients registered before this batch: the ones with rows from before."""
        registered = self.registered_in_batch()
        return [key for key in keys if key not in registered]

    def _change_points(self, c: Any, keys: Sequence[str]) -> dict[str, list[Change]]:
        """Each client's change points. A client registered in this batch has them all in
        memory (none can precede its registration in the log); the others' are read back."""
        registered = self.registered_in_batch()
        changes = {key: registered.get(key, []) for key in keys}
        older = self._registered_before(keys)
        if older:
            for row in self.view.fetch(
                c,
                f"SELECT aid, seq, field, effective_at, value FROM {self.prefix}_changes "
                f"WHERE aid IN {placeholders(older)}",
                older,
            ):
                changes[row["aid"]].extend(
                    change_points(row["effective_at"], row["seq"], row["field"], row["value"])
                )
        return changes

    def rebuilt(self) -> None:
        if self.members:
            with self.view.transaction() as c:
                self._fill_members(c)

    def upgrade(self) -> None:
        """A view that kept no recorded times (the reports view, before 1.1) replays the
        log; one that kept no members gets them from its clients (one statement)."""
        if self.recorded is not None:
            with self.view.transaction() as c:
                changes = self.view.fetch(c, f"SELECT aid FROM {self.prefix}_changes LIMIT 1")
            if changes and not self.recorded.kept_any():
                self.view.reset()
        if not self.members:
            return
        p = self.prefix
        with self.view.transaction() as c:
            if self.view.fetch(c, f"SELECT 1 AS x FROM {p}_members LIMIT 1"):
                return
            if self.view.fetch(c, f"SELECT 1 AS x FROM {p}_clients LIMIT 1"):
                self._fill_members(c)

    def _fill_members(self, c: Any) -> None:
        p = self.prefix
        self.view.execute(c, f"DELETE FROM {p}_members")
        self.view.execute(
            c,
            f"INSERT INTO {p}_members (ancestor_id, client_id, aid) "
            f"SELECT u.ancestor_id, c.client_id, c.aid FROM {p}_clients c "
            f"JOIN {self.units.prefix}_unit_paths u ON u.unit_id = c.unit_id",
        )

    # ---- queries ------------------------------------------------------------------------

    def known_position(self, known_at: datetime) -> int:
        """The last position of the log, of the events this view keeps recorded times of,
        recorded by `known_at` (the log's order is its recorded order)."""
        assert self.recorded is not None, "a view that keeps no recorded times"
        return self.recorded.position_known_at(known_at)

    def known_clients(
        self,
        upto: int,
        *,
        unit_id: str | None = None,
        manager: str | None = None,
        aids: Sequence[str] | None = None,
    ) -> dict[str, KnownClient]:
        """The clients registered by position `upto` (of the subtree of `unit_id`; or ever
        held by `manager`; of `aids`, at most `CHUNK`), each with its change points recorded
        by then: what the view's intervals were before any later event was recorded."""
        p = self.prefix
        where, params = ["ch.seq <= ?"], [upto]
        if aids is not None:
            where.append(f"ch.aid IN {placeholders(aids)}")
            params.extend(aids)
        joins = ""
        if unit_id is not None:
            joins = f"JOIN {p}_unit_paths u ON u.unit_id = c.unit_id AND u.ancestor_id = ? "
            params.insert(0, unit_id)
        if manager is not None:
            where.append(
                f"ch.aid IN (SELECT aid FROM {p}_changes WHERE field = 'manager' AND value = ?)"
            )
            params.append(manager)
        known: dict[str, KnownClient] = {}
        for row in self.view.query(
            "SELECT ch.aid AS aid, ch.seq AS seq, ch.field AS field, ch.value AS value, "
            "ch.effective_at AS effective_at, c.client_id AS client_id, c.unit_id AS unit_id, "
            "c.registered_at AS registered_at "
            f"FROM {p}_changes ch JOIN {p}_clients c ON c.aid = ch.aid {joins}"
            f"WHERE {' AND '.join(where)}",
            params,
        ):
            client = known.get(row["aid"]) or known.setdefault(
                row["aid"], KnownClient(row["client_id"], row["unit_id"], row["registered_at"])
            )
            client.changes.extend(
                change_points(row["effective_at"], row["seq"], row["field"], row["value"])
            )
        return {key: client for key, client in known.items() if client.registered}

    @staticmethod
    def in_force() -> str:
        """Intervals (`i`) in force at a time: two parameters, the time twice."""
        return "i.valid_from <= ? AND (i.valid_to IS NULL OR i.valid_to > ?)"

    def members_join(self) -> str:
        """FROM the members `m` (of every unit: filter on `m.ancestor_id`), their intervals
        `i` and clients `c`; `m` is in client id order within each unit. A page of a branch
        then reads its first rows in order, where `subtree_join` reads the whole subtree and
        sorts it (at 100,000 clients the branch roster's first page took p95 347 ms so)."""
        p = self.prefix
        return (
            f"FROM {p}_members m JOIN {p}_intervals i ON i.aid = m.aid "
            f"JOIN {p}_clients c ON c.aid = m.aid "
        )

    def subtree_join(self) -> str:
        """FROM intervals `i` of clients `c` in the subtree of a unit (one parameter)."""
        p = self.prefix
        return (
            f"FROM {p}_intervals i JOIN {p}_clients c ON c.aid = i.aid "
            f"JOIN {p}_unit_paths u ON u.unit_id = c.unit_id AND u.ancestor_id = ? "
        )
