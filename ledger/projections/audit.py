"""The audit log (API.md 1.1, Audit): every event of every aggregate, indexed by what an
auditor filters on (who recorded it, its type, its client, its unit, both its times and
how late it was entered) and paged in log order.

The view keeps an event's place and facts about it, never its data: the data is read from
the store for the page answered, so that personal data (encrypted or erased in the store)
is held in one place only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from eventsourcing.persistence import Tracking

from ledger.domain import Client, InvalidInput, Staff, Unit
from ledger.domain.api_key import ApiKey
from ledger.domain.base import LedgerAggregate
from ledger.domain.campaign import Campaign
from ledger.domain.idempotency import IdempotencyKey
from ledger.domain.prospect import Prospect
from ledger.projections.kit import (
    BatchView,
    Handler,
    Part,
    SQLiteBackend,
    UnitTree,
    ViewProjection,
    aggregate_key,
    from_utc_text,
    utc_text,
)
from ledger.projections.kit.upgrades import replay_once

AGGREGATES: tuple[type[LedgerAggregate], ...] = (
    Client,
    Unit,
    Staff,
    ApiKey,
    IdempotencyKey,
    Prospect,
    Campaign,
)
# The business id each aggregate's first event names it by.
BUSINESS_ID = {
    Client: "client_id",
    Unit: "unit_id",
    Staff: "staff_id",
    ApiKey: "key_id",
    Prospect: "prospect_id",
    Campaign: "campaign_id",
}
# A view that has kept prospects and campaigns (version 1.1) has this table.
OUTREACH_KEPT = "outreach_kept"
DAY_SECONDS = 86_400
# Aggregates whose facts the trail keeps in memory at most (`AuditTrail._know`).
KNOWN_KEPT = 1 << 15
TIME_COLUMNS = ("occurred_at", "recorded_at")


@cache
def event_classes() -> dict[type, type[LedgerAggregate]]:
    """Every event class of the ledger's aggregates, with its aggregate (new events of an
    aggregate are found without a change here). Worked out once: the audit view asks it
    for every aggregate's first event."""
    found: dict[type, type[LedgerAggregate]] = {}
    for aggregate in AGGREGATES:
        for attribute in vars(aggregate).values():
            if isinstance(attribute, type) and issubclass(attribute, LedgerAggregate.Event):
                found[attribute] = aggregate
    return found


@cache
def _type_names(cls: type) -> tuple[str, str]:
    """An event class's aggregate type and event type, as the audit log names them."""
    return cls.__qualname__.split(".")[0], cls.__name__


@dataclass(frozen=True)
class AuditQuery:
    """What the audit log is filtered by; time ranges are `[from, to)`."""

    recorded_by: str | None = None
    type: str | None = None
    client_id: str | None = None
    unit_id: str | None = None
    effective_from: datetime | None = None
    effective_to: datetime | None = None
    recorded_from: datetime | None = None
    recorded_to: datetime | None = None
    late_by_days: int | None = None


class AuditView(ABC):
    @abstractmethod
    def events(
        self, query: AuditQuery, *, limit: int = 100, cursor: str | None = None
    ) -> dict[str, Any]:
        """`{items: [{position, event_id, aggregate_id, aggregate_type, aggregate_uuid,
        type, version, occurred_at, recorded_at, recorded_by, client_id, unit_id}],
        next_cursor}` in log order; time ranges are `[from, to)`; `unit_id` is the unit's
        subtree; `late_by_days=N` keeps events recorded more than N days after they took
        effect. Without their data (see the module)."""


class AuditTrail(Part):
    """One row per event, and per aggregate the client and unit its events concern."""

    def __init__(self, view: BatchView, units: UnitTree) -> None:
        super().__init__(view)
        self.units = units
        # aggregate key -> (business id, client id, unit id): an aggregate's first event
        # names them, every later one is looked up here rather than in the table (`_know`).
        self.known: dict[str, tuple[str | None, str | None, str | None]] = {}

    def _know(self, key: str, facts: tuple[str | None, str | None, str | None]) -> None:
        # Bounded: one entry per aggregate of the log took ~22 MiB of a catch-up process at
        # 1,000,000 events. One dropped is read from the table when next needed.
        if len(self.known) >= KNOWN_KEPT and key not in self.known:
            self.known.clear()
        self.known[key] = facts

    def tables(self) -> list[str]:
        p = self.prefix
        return [
            f"CREATE TABLE IF NOT EXISTS {p}_events (position BIGINT PRIMARY KEY, "
            "event_id TEXT, aid TEXT, aggregate_id TEXT, aggregate_type TEXT, type TEXT, "
            "version BIGINT, occurred_at TEXT, recorded_at TEXT, recorded_by TEXT, "
            "client_id TEXT, unit_id TEXT, late_seconds BIGINT)",
            f"CREATE TABLE IF NOT EXISTS {p}_aggregates (aid TEXT PRIMARY KEY, "
            "business_id TEXT, client_id TEXT, unit_id TEXT)",
        ]

    def query_indexes(self) -> list[str]:
        p = self.prefix
        # Each filter's index is in log order within its value, so a page of one filter is
        # a range scan; the recorder's and the type's carry the other filters' columns, so
        # a combination is checked in the index without reading a row (a recorder's 5,000
        # events of 1,000,000 are scanned in about a millisecond). Lateness is few rows.
        return (
            [
                f"CREATE INDEX IF NOT EXISTS {p}_events_recorded_by ON {p}_events "
                "(recorded_by, position, type, late_seconds, unit_id)",
                f"CREATE INDEX IF NOT EXISTS {p}_events_type ON {p}_events "
                "(type, position, recorded_by, late_seconds, unit_id)",
            ]
            + [
                f"CREATE INDEX IF NOT EXISTS {p}_events_{column} ON {p}_events ({column}, position)"
                for column in ("client_id", "unit_id", "late_seconds")
            ]
            + [
                # A time range's positions are read from its index alone (no row), sorted,
                # and only a page's rows read; the single-column indexes these replace
                # read every row of the range (an effective week: p99 229 ms at 1,000,000).
                f"CREATE INDEX IF NOT EXISTS {p}_events_{column}_position "
                f"ON {p}_events ({column}, position)"
                for column in TIME_COLUMNS
            ]
        )

    def upgrade(self) -> None:
        """A view built with a time column's index alone: that index goes. A view built
        before prospects and campaigns were kept replays the log, once, to hold them."""
        view, p = self.view, self.prefix
        with view.transaction() as c:
            for column in TIME_COLUMNS:
                c.execute(f"DROP INDEX IF EXISTS {p}_events_{column}")
        replay_once(view, f"{p}_{OUTREACH_KEPT}", f"SELECT position FROM {p}_events LIMIT 1")

    def handlers(self) -> dict[type, Handler]:
        return dict.fromkeys(event_classes(), self.recorded)

    def recorded(self, event: Any, tracking: Tracking) -> None:
        view, p, key = self.view, self.prefix, aggregate_key(event)
        with view.write() as c:
            if isinstance(event, Unit.Created):
                self.units.unit_created(event, tracking)
            business_id, client_id, unit_id = self._aggregate(c, key, event)
            effective = getattr(event, "effective_at", event.timestamp)
            view.execute(
                c,
                f"INSERT INTO {p}_events (position, event_id, aid, aggregate_id, aggregate_type, "
                "type, version, occurred_at, recorded_at, recorded_by, client_id, unit_id, "
                "late_seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (
                    tracking.notification_id,
                    event.event_id,
                    key,
                    business_id or key,
                    *_type_names(type(event)),
                    event.originator_version,
                    utc_text(effective),
                    utc_text(event.timestamp),
                    event.recorded_by,
                    client_id,
                    unit_id,
                    int((event.timestamp - effective).total_seconds()),
                ),
            )
            view.advance(tracking)

    def _aggregate(self, c: Any, key: str, event: Any) -> tuple[str | None, ...]:
        view, p = self.view, self.prefix
        if isinstance(event, LedgerAggregate.Created):
            aggregate = event_classes()[type(event)]
            business = getattr(event, BUSINESS_ID.get(aggregate, ""), None)
            facts = (
                business,
                business if aggregate is Client else None,
                getattr(event, "unit_id", None),
            )
            self._know(key, facts)
            view.execute(
                c,
                f"INSERT INTO {p}_aggregates (aid, business_id, client_id, unit_id) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (key, *facts),
            )
            return facts
        facts = self.known.get(key)
        if facts is None:
            rows = view.fetch(
                c,
                f"SELECT business_id, client_id, unit_id FROM {p}_aggregates WHERE aid = ?",
                (key,),
            )
            facts = (
                (rows[0]["business_id"], rows[0]["client_id"], rows[0]["unit_id"])
                if rows
                else (None, None, None)
            )
            self._know(key, facts)
        if isinstance(event, Staff.Transferred):
            facts = (facts[0], None, event.unit_id)
            self._know(key, facts)
            view.execute(
                c, f"UPDATE {p}_aggregates SET unit_id = ? WHERE aid = ?", (event.unit_id, key)
            )
        return facts


class SQLAuditView(BatchView, AuditView):
    view_name = "audit"

    @property
    def plain_columns(self) -> bool:
        """Whether `+column` keeps a column's index out of a plan (SQLite's way)."""
        return isinstance(self, SQLiteBackend)

    def compose(self) -> list[Part]:
        self.units = UnitTree(self)
        self.trail = AuditTrail(self, self.units)
        return [self.units, self.trail]

    def handlers(self) -> dict[type, Handler]:
        # The trail keeps every event, a unit's creation included (it hands that to the
        # unit tree as well).
        return self.trail.handlers()

    def reset(self) -> None:
        super().reset()
        self.trail.known.clear()

    def events(
        self, query: AuditQuery, *, limit: int = 100, cursor: str | None = None
    ) -> dict[str, Any]:
        p, q = self.view_name, query
        where, params = ["1 = 1"], []
        # SQLite's planner, left alone, may walk the whole log in order rather than a
        # recorder's few thousand events: the most selective equality drives the scan, and
        # the other filters' columns (carried in its index) are kept from choosing another.
        driver = next(
            (c for c in ("client_id", "recorded_by", "type") if getattr(q, c) is not None), None
        )

        def column(name: str) -> str:
            return f"+{name}" if driver and name != driver and self.plain_columns else name

        for name, value in (
            ("recorded_by", q.recorded_by),
            ("type", q.type),
            ("client_id", q.client_id),
        ):
            if value is not None:
                where.append(f"{column(name)} = ?")
                params.append(value)
        if q.unit_id is not None:
            self.units.unit(q.unit_id)
            where.append(
                f"{column('unit_id')} IN (SELECT unit_id FROM {p}_unit_paths WHERE ancestor_id = ?)"
            )
            params.append(q.unit_id)
        for name, op, moment in (
            ("occurred_at", ">=", q.effective_from),
            ("occurred_at", "<", q.effective_to),
            ("recorded_at", ">=", q.recorded_from),
            ("recorded_at", "<", q.recorded_to),
        ):
            if moment is not None:
                where.append(f"{column(name)} {op} ?")
                params.append(utc_text(moment))
        if q.late_by_days is not None:
            where.append(f"{column('late_seconds')} > ?")
            params.append(q.late_by_days * DAY_SECONDS)
        if cursor is not None:
            if not cursor.isdigit():
                raise InvalidInput("cursor", "not a cursor this list answered")
            where.append("position > ?")
            params.append(int(cursor))
        condition, page = " AND ".join(where), int(limit) + 1
        ranged = any(
            moment is not None
            for moment in (q.effective_from, q.effective_to, q.recorded_from, q.recorded_to)
        )
        if driver is None and ranged:
            # A time range with no equality to drive the scan: its page's positions from
            # the range's index, sorted (`+ 0` keeps the planner from walking the whole
            # log in position order instead), then those rows alone.
            rows = self.query(
                f"SELECT * FROM {p}_events WHERE position IN (SELECT position FROM "
                f"{p}_events WHERE {condition} ORDER BY position + 0 LIMIT {page}) "
                "ORDER BY position",
                params,
            )
        else:
            rows = self.query(
                f"SELECT * FROM {p}_events WHERE {condition} ORDER BY position LIMIT {page}",
                params,
            )
        next_cursor = str(rows[limit - 1]["position"]) if len(rows) > limit else None
        return {
            "items": [
                {
                    "position": int(row["position"]),
                    "event_id": row["event_id"],
                    "aggregate_id": row["aggregate_id"],
                    "aggregate_uuid": row["aid"],
                    "aggregate_type": row["aggregate_type"],
                    "type": row["type"],
                    "version": int(row["version"]),
                    "occurred_at": from_utc_text(row["occurred_at"]),
                    "recorded_at": from_utc_text(row["recorded_at"]),
                    "recorded_by": row["recorded_by"],
                    "client_id": row["client_id"],
                    "unit_id": row["unit_id"],
                }
                for row in rows[:limit]
            ],
            "next_cursor": next_cursor,
        }


class AuditProjection(ViewProjection):
    name = "audit"
