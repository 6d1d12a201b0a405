"""The tier roster: clients by unit subtree, tier, designated manager and status, at any
effective time, with counts per tier."""

from __future__ import annotations

from abc import ABC
from datetime import datetime
from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from ledger.domain import Client, Unit
from ledger.domain.values import ACTIVE, DESIGNATED_MANAGER, TIERS, VIP_TIERS
from ledger.projections.base import PostgresBackend, SQLiteBackend, aid, topics_of, ts
from ledger.projections.clients import REGISTERED, change_points
from ledger.projections.counts import TierCounts

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class RosterView(TierCounts, ABC):
    """Besides the intervals and the tier counts (which also give the tier-growth report),
    the roster keeps when each change was recorded, so that its summary can be read as the
    ledger knew it at a past time (`known_at`)."""

    view_name = "roster"

    def view_statements(self) -> list[str]:
        return [
            *super().view_statements(),
            f"CREATE TABLE IF NOT EXISTS {self.view_name}_recorded (seq BIGINT PRIMARY KEY, "
            "recorded_at TEXT)",
        ]

    def register_client(
        self,
        aid: str,
        client_id: str,
        name: str,
        unit_id: str,
        tier: str,
        at: datetime,
        tracking: Tracking,
        recorded_at: datetime | None = None,
    ) -> None:
        with self._write():
            super().register_client(aid, client_id, name, unit_id, tier, at, tracking)
            self._recorded(tracking, recorded_at)

    def record_change(
        self,
        aid: str,
        field: str,
        at: datetime,
        value: str | None,
        tracking: Tracking,
        recorded_at: datetime | None = None,
    ) -> None:
        with self._write():
            super().record_change(aid, field, at, value, tracking)
            self._recorded(tracking, recorded_at)

    def _recorded(self, tracking: Tracking, recorded_at: datetime | None) -> None:
        if recorded_at is None:
            return
        with self._write() as c:
            self._exec(
                c,
                f"INSERT INTO {self.view_name}_recorded (seq, recorded_at) VALUES (?, ?) "
                "ON CONFLICT (seq) DO NOTHING",
                (tracking.notification_id, ts(recorded_at)),
            )

    def roster(
        self,
        unit_id: str,
        *,
        as_of: datetime,
        tier: str | None = None,
        manager_id: str | None = None,
        status: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """`{items: [{client_id, name, unit_id, tier, status, designated_manager}],
        next_cursor}`, ordered by client id; `cursor` is the previous page's
        `next_cursor`."""
        self.unit(unit_id)
        limit = max(1, min(limit, MAX_LIMIT))
        moment = ts(as_of)
        where = [self._at()]
        params: list[Any] = [unit_id, moment, moment]
        for column, value in (("i.tier", tier), ("i.manager", manager_id), ("i.status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if cursor:
            where.append("c.client_id > ?")
            params.append(cursor)
        rows = self._query(
            "SELECT c.client_id AS client_id, c.name AS name, c.unit_id AS unit_id, "
            "i.tier AS tier, i.status AS status, i.manager AS designated_manager "
            f"{self._subtree_join()}WHERE {' AND '.join(where)} "
            "ORDER BY c.client_id LIMIT ?",
            (*params, limit + 1),
        )
        items = rows[:limit]
        next_cursor = items[-1]["client_id"] if len(rows) > limit else None
        return {"items": items, "next_cursor": next_cursor}

    def roster_summary(
        self, unit_id: str, *, as_of: datetime, known_at: datetime | None = None
    ) -> dict[str, Any]:
        """`{unit_id, as_of, known_at, counts: {standard, gold, platinum, diamond}, vip}`:
        active clients of the subtree at `as_of`, as the ledger knew them at `known_at`
        (by default, as it knows them now)."""
        self.unit(unit_id)
        if known_at is None:
            counts = self.tier_counts(unit_id, as_of)
        else:
            counts = self._tier_counts_known_at(unit_id, as_of, known_at)
        return {
            "unit_id": unit_id,
            "as_of": as_of,
            "known_at": known_at,
            "counts": counts,
            "vip": sum(counts[t] for t in VIP_TIERS),
        }

    def _tier_counts_known_at(
        self, unit_id: str, as_of: datetime, known_at: datetime
    ) -> dict[str, int]:
        """The intervals hold what is known now; what was known then is refolded from the
        change points recorded by then. A change with no recorded time (a view built before
        recorded times were kept: rebuild it) counts as known."""
        p = self.view_name
        rows = self._query(
            f"SELECT ch.aid AS aid, ch.field AS field, ch.value AS value FROM {p}_changes ch "
            f"JOIN {p}_clients c ON c.aid = ch.aid "
            f"JOIN {p}_unit_paths u ON u.unit_id = c.unit_id AND u.ancestor_id = ? "
            f"LEFT JOIN {p}_recorded r ON r.seq = ch.seq "
            f"WHERE ch.field IN ('tier', 'status', '{REGISTERED}') AND ch.effective_at <= ? "
            "AND (r.recorded_at IS NULL OR r.recorded_at <= ?) "
            "ORDER BY ch.aid, ch.effective_at, ch.seq",
            (unit_id, ts(as_of), ts(known_at)),
        )
        state: dict[str, dict[str, str | None]] = {}
        for row in rows:
            values = state.setdefault(row["aid"], {})
            for point in change_points("", 0, row["field"], row["value"]):
                values[point.field] = point.value
        counts = dict.fromkeys(TIERS, 0)
        for values in state.values():
            tier = values.get("tier")
            if tier is not None and values.get("status") == ACTIVE:
                counts[tier] += 1
        return counts


class SQLiteRosterView(SQLiteBackend, RosterView):
    pass


class PostgresRosterView(PostgresBackend, RosterView):
    pass


class RosterProjection(Projection[RosterView]):
    name = "roster"
    topics = topics_of(
        Unit.Created,
        Client.Registered,
        Client.TierChanged,
        Client.Assigned,
        Client.Churned,
        Client.Reactivated,
    )

    @singledispatchmethod
    def process_event(self, event: Any, tracking: Tracking) -> None:
        self.view.track(tracking)

    @process_event.register
    def _unit_created(self, event: Unit.Created, tracking: Tracking) -> None:
        self.view.add_unit(
            aid(event), event.unit_id, event.parent_id, event.name, event.kind, tracking
        )

    @process_event.register
    def _registered(self, event: Client.Registered, tracking: Tracking) -> None:
        self.view.register_client(
            aid(event),
            event.client_id,
            event.name,
            event.unit_id,
            event.tier,
            event.effective_at,
            tracking,
            recorded_at=event.timestamp,
        )

    @process_event.register
    def _tier_changed(self, event: Client.TierChanged, tracking: Tracking) -> None:
        self.view.record_change(
            aid(event), "tier", event.effective_at, event.tier, tracking, event.timestamp
        )

    @process_event.register
    def _assigned(self, event: Client.Assigned, tracking: Tracking) -> None:
        if event.role != DESIGNATED_MANAGER:
            self.view.track(tracking)
            return
        self.view.record_change(
            aid(event), "manager", event.effective_at, event.staff_id, tracking, event.timestamp
        )

    @process_event.register
    def _churned(self, event: Client.Churned, tracking: Tracking) -> None:
        self.view.record_change(
            aid(event), "status", event.effective_at, "churned", tracking, event.timestamp
        )

    @process_event.register
    def _reactivated(self, event: Client.Reactivated, tracking: Tracking) -> None:
        self.view.record_change(
            aid(event), "status", event.effective_at, ACTIVE, tracking, event.timestamp
        )
