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
from ledger.domain.values import DESIGNATED_MANAGER, VIP_TIERS
from ledger.projections.base import PostgresBackend, SQLiteBackend, aid, topics_of, ts
from ledger.projections.clients import ClientIntervals

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class RosterView(ClientIntervals, ABC):
    view_name = "roster"

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

    def roster_summary(self, unit_id: str, *, as_of: datetime) -> dict[str, Any]:
        """`{unit_id, as_of, counts: {standard, gold, platinum, diamond}, vip}`: active
        clients of the subtree at `as_of`."""
        self.unit(unit_id)
        counts = self.tier_counts(unit_id, as_of)
        return {
            "unit_id": unit_id,
            "as_of": as_of,
            "counts": counts,
            "vip": sum(counts[t] for t in VIP_TIERS),
        }


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
        )

    @process_event.register
    def _tier_changed(self, event: Client.TierChanged, tracking: Tracking) -> None:
        self.view.record_change(aid(event), "tier", event.effective_at, event.tier, tracking)

    @process_event.register
    def _assigned(self, event: Client.Assigned, tracking: Tracking) -> None:
        if event.role != DESIGNATED_MANAGER:
            self.view.track(tracking)
            return
        self.view.record_change(aid(event), "manager", event.effective_at, event.staff_id, tracking)

    @process_event.register
    def _churned(self, event: Client.Churned, tracking: Tracking) -> None:
        self.view.record_change(aid(event), "status", event.effective_at, "churned", tracking)

    @process_event.register
    def _reactivated(self, event: Client.Reactivated, tracking: Tracking) -> None:
        self.view.record_change(aid(event), "status", event.effective_at, "active", tracking)
