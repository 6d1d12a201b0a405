"""The managers' reports: key-information completeness, overdue contacts, orphaned clients
and manager portfolios. (Tier growth is read from the roster view's tier counts.)

Contacts, assets and profile updates are kept by event id, so a retraction removes
exactly the retracted event's rows and the derived rows of its client are recomputed.
"""

from __future__ import annotations

from abc import ABC
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from ledger.domain import Client, Staff, Unit
from ledger.domain.values import (
    ACTIVE,
    DESIGNATED_MANAGER,
    KEY_INFO_FIELDS,
    TIERS,
    VIP_TIERS,
)
from ledger.domain.values import event_id as event_id_of
from ledger.projections.base import (
    PostgresBackend,
    SQLiteBackend,
    aid,
    chunks,
    from_ts,
    topics_of,
    ts,
)
from ledger.projections.clients import ClientIntervals
from ledger.projections.timeline import asset_deltas, share

DEFAULT_TARGET = 0.95
DEFAULT_CADENCE = {"diamond": 30, "platinum": 60, "gold": 90}


class ReportsView(ClientIntervals, ABC):
    view_name = "reports"

    def view_statements(self) -> list[str]:
        p = self.view_name
        return [
            *super().view_statements(),
            f"CREATE TABLE IF NOT EXISTS {p}_staff (aid TEXT PRIMARY KEY, staff_id TEXT, "
            "departed_at TEXT)",
            f"CREATE INDEX IF NOT EXISTS {p}_staff_id ON {p}_staff (staff_id)",
            # Rows of retractable events are keyed by (client, version): the key the
            # event id is derived from, and one index serves both lookups and retraction.
            f"CREATE TABLE IF NOT EXISTS {p}_contacts (aid TEXT, occurred_at TEXT, "
            "version BIGINT, staff_id TEXT, PRIMARY KEY (aid, occurred_at, version))",
            f"CREATE TABLE IF NOT EXISTS {p}_profile (aid TEXT, version BIGINT, field TEXT, "
            "seq BIGINT, effective_at TEXT, value TEXT, PRIMARY KEY (aid, version, field))",
            f"CREATE TABLE IF NOT EXISTS {p}_keyinfo (aid TEXT PRIMARY KEY, complete BIGINT)",
            f"CREATE TABLE IF NOT EXISTS {p}_assets (aid TEXT, version BIGINT, seq BIGINT, "
            "effective_at TEXT, amount TEXT, PRIMARY KEY (aid, version))",
            f"CREATE TABLE IF NOT EXISTS {p}_asset_changes (aid TEXT, version BIGINT, "
            "effective_at TEXT, delta TEXT, manager TEXT, PRIMARY KEY (aid, version))",
        ]

    def query_index_statements(self) -> list[str]:
        p = self.view_name
        return [
            *super().query_index_statements(),
            f"CREATE INDEX IF NOT EXISTS {p}_asset_changes_manager "
            f"ON {p}_asset_changes (manager, effective_at)",
        ]

    def record_change(
        self, aid: str, field: str, at: datetime, value: str | None, tracking: Tracking
    ) -> None:
        with self._write():
            super().record_change(aid, field, at, value, tracking)
            if field == "manager":
                # A reassignment moves the credit for the client's asset changes.
                self._dirty("assets", aid)

    @property
    def cadence(self) -> dict[str, int]:
        return dict(getattr(self, "options", {}).get("cadence", DEFAULT_CADENCE))

    # ---- updates --------------------------------------------------------------------

    def staff_joined(self, aid: str, staff_id: str, tracking: Tracking) -> None:
        with self._write() as c:
            self._exec(
                c,
                f"INSERT INTO {self.view_name}_staff (aid, staff_id) VALUES (?, ?) "
                "ON CONFLICT (aid) DO NOTHING",
                (aid, staff_id),
            )
            self._track(tracking)

    def staff_departed(self, aid: str, at: datetime, tracking: Tracking) -> None:
        with self._write() as c:
            self._exec(
                c, f"UPDATE {self.view_name}_staff SET departed_at = ? WHERE aid = ?", (ts(at), aid)
            )
            self._track(tracking)

    def record_contact(
        self, aid: str, version: int, at: datetime, staff_id: str, tracking: Tracking
    ) -> None:
        with self._write() as c:
            self._exec(
                c,
                f"INSERT INTO {self.view_name}_contacts (aid, occurred_at, version, staff_id) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (aid, ts(at), version, staff_id),
            )
            self._track(tracking)

    def record_profile(
        self, aid: str, version: int, at: datetime, changes: dict[str, Any], tracking: Tracking
    ) -> None:
        with self._write() as c:
            self._many(
                c,
                f"INSERT INTO {self.view_name}_profile (aid, version, field, seq, effective_at, "
                "value) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    (aid, version, field, tracking.notification_id, ts(at), value)
                    for field, value in changes.items()
                    if field in KEY_INFO_FIELDS
                ),
            )
            self._dirty("keyinfo", aid)
            self._track(tracking)

    def record_assets(
        self, aid: str, version: int, at: datetime, amount: Decimal, tracking: Tracking
    ) -> None:
        with self._write() as c:
            self._exec(
                c,
                f"INSERT INTO {self.view_name}_assets (aid, version, seq, effective_at, amount) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (aid, version, tracking.notification_id, ts(at), str(amount)),
            )
            self._dirty("assets", aid)
            self._track(tracking)

    def retract(self, aid: str, retracted_event_id: str, tracking: Tracking) -> None:
        """Remove the retracted contact, profile update or assets report."""
        p = self.view_name
        with self._write() as c:
            rows = self._all(
                c,
                f"SELECT version FROM {p}_contacts WHERE aid = ? UNION SELECT version FROM "
                f"{p}_profile WHERE aid = ? UNION SELECT version FROM {p}_assets WHERE aid = ?",
                (aid, aid, aid),
            )
            client = UUID(aid)
            for version in (r["version"] for r in rows):
                if event_id_of(client, version) == retracted_event_id:
                    for table in ("contacts", "profile", "assets"):
                        self._exec(
                            c,
                            f"DELETE FROM {p}_{table} WHERE aid = ? AND version = ?",
                            (aid, version),
                        )
            self._dirty("keyinfo", aid)
            self._dirty("assets", aid)
            self._track(tracking)

    def _flush(self, c: Any, dirty: dict[str, set[str]]) -> None:
        super()._flush(c, dirty)
        for part in chunks(sorted(dirty.get("keyinfo", ()))):
            self._recompute_keyinfo(c, part)
        for part in chunks(sorted(dirty.get("assets", ()))):
            self._recompute_assets(c, part)

    def _recompute_keyinfo(self, c: Any, aids: list[str]) -> None:
        p = self.view_name
        latest: dict[str, dict[str, str | None]] = {a: {} for a in aids}
        for row in self._all(
            c,
            f"SELECT aid, field, value FROM {p}_profile WHERE aid IN {self._in(aids)} "
            "ORDER BY effective_at, seq",
            aids,
        ):
            latest[row["aid"]][row["field"]] = row["value"]
        self._exec(c, f"DELETE FROM {p}_keyinfo WHERE aid IN {self._in(aids)}", aids)
        self._many(
            c,
            f"INSERT INTO {p}_keyinfo (aid, complete) VALUES (?, ?)",
            ((a, int(all(fields.get(f) for f in KEY_INFO_FIELDS))) for a, fields in latest.items()),
        )

    def _recompute_assets(self, c: Any, aids: list[str]) -> None:
        p = self.view_name
        reports: dict[str, list[tuple[str, int, int, Decimal]]] = defaultdict(list)
        for row in self._all(
            c,
            f"SELECT aid, seq, version, effective_at, amount FROM {p}_assets "
            f"WHERE aid IN {self._in(aids)}",
            aids,
        ):
            reports[row["aid"]].append(
                (row["effective_at"], row["seq"], row["version"], Decimal(row["amount"]))
            )
        self._exec(c, f"DELETE FROM {p}_asset_changes WHERE aid IN {self._in(aids)}", aids)
        if not reports:
            return
        holders = list(reports)
        managers: dict[str, list[tuple[str, str | None, str | None]]] = defaultdict(list)
        for row in self._all(
            c,
            f"SELECT aid, valid_from, valid_to, manager FROM {p}_intervals "
            f"WHERE aid IN {self._in(holders)}",
            holders,
        ):
            managers[row["aid"]].append((row["valid_from"], row["valid_to"], row["manager"]))

        def manager_at(a: str, at: str) -> str | None:
            for start, end, manager in managers[a]:
                if start <= at and (end is None or at < end):
                    return manager
            return None

        self._many(
            c,
            f"INSERT INTO {p}_asset_changes (aid, version, effective_at, delta, manager) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                (a, version, at, str(delta), manager_at(a, at))
                for a, rows in reports.items()
                for version, at, delta in asset_deltas(rows)
            ),
        )

    # ---- queries --------------------------------------------------------------------

    def completeness(
        self, unit_id: str, *, as_of: datetime, target: float = DEFAULT_TARGET
    ) -> dict[str, Any]:
        """`{unit_id, vip_active, complete, rate, target, meets_target, by_unit: [{unit_id,
        vip_active, complete, rate}]}`: active VIP clients whose address, phone and employer
        are all present; `rate` is None (and the target met) when there is none."""
        self.unit(unit_id)
        moment = ts(as_of)
        rows = self._query(
            "SELECT c.unit_id AS unit_id, COUNT(*) AS vip_active, "
            "SUM(CASE WHEN k.complete = 1 THEN 1 ELSE 0 END) AS complete "
            f"{self._subtree_join()}LEFT JOIN {self.view_name}_keyinfo k ON k.aid = i.aid "
            f"WHERE {self._at()} AND i.status = ? AND i.tier IN (?, ?, ?) "
            "GROUP BY c.unit_id ORDER BY c.unit_id",
            (unit_id, moment, moment, ACTIVE, *VIP_TIERS),
        )
        by_unit = [
            {
                "unit_id": r["unit_id"],
                "vip_active": int(r["vip_active"]),
                "complete": int(r["complete"] or 0),
                "rate": share(int(r["complete"] or 0), int(r["vip_active"])),
            }
            for r in rows
        ]
        vip_active = sum(r["vip_active"] for r in by_unit)
        complete = sum(r["complete"] for r in by_unit)
        rate = share(complete, vip_active)
        return {
            "unit_id": unit_id,
            "vip_active": vip_active,
            "complete": complete,
            "rate": rate,
            "target": target,
            "meets_target": rate is None or rate >= target,
            "by_unit": by_unit,
        }

    def overdue_contacts(self, unit_id: str, *, as_of: datetime) -> dict[str, Any]:
        """`{items: [{client_id, tier, last_contact_at, days_overdue, designated_manager}]}`:
        active clients whose last contact (or, never contacted, registration) is older
        than their tier's cadence at `as_of`; most overdue first."""
        self.unit(unit_id)
        cadence = self.cadence
        if not cadence:
            return {"items": []}
        moment = ts(as_of)
        tiers = list(cadence)
        rows = self._query(
            "SELECT c.client_id AS client_id, c.registered_at AS registered_at, i.tier AS tier, "
            "i.manager AS manager, (SELECT MAX(occurred_at) FROM "
            f"{self.view_name}_contacts t WHERE t.aid = i.aid AND t.occurred_at <= ?) AS last "
            f"{self._subtree_join()}WHERE {self._at()} AND i.status = ? "
            f"AND i.tier IN {self._in(tiers)}",
            (moment, unit_id, moment, moment, ACTIVE, *tiers),
        )
        items = []
        for r in rows:
            last = from_ts(r["last"])
            since = last or from_ts(r["registered_at"])
            assert since is not None
            late = as_of - since - timedelta(days=cadence[r["tier"]])
            if late > timedelta(0):
                items.append(
                    {
                        "client_id": r["client_id"],
                        "tier": r["tier"],
                        "last_contact_at": last,
                        "days_overdue": late.days,
                        "designated_manager": r["manager"],
                    }
                )
        items.sort(key=lambda item: (-item["days_overdue"], item["client_id"]))
        return {"items": items}

    def orphaned_clients(self, unit_id: str, *, as_of: datetime) -> dict[str, Any]:
        """`{items: [{client_id, tier, former_manager, since}]}`: active clients whose
        designated manager had departed by `as_of`; `since` is the departure."""
        self.unit(unit_id)
        moment = ts(as_of)
        rows = self._query(
            "SELECT c.client_id AS client_id, i.tier AS tier, i.manager AS former_manager, "
            f"s.departed_at AS since {self._subtree_join()}"
            f"JOIN {self.view_name}_staff s ON s.staff_id = i.manager "
            f"WHERE {self._at()} AND i.status = ? AND s.departed_at <= ? ORDER BY c.client_id",
            (unit_id, moment, moment, ACTIVE, moment),
        )
        for r in rows:
            r["since"] = from_ts(r["since"])
        return {"items": rows}

    def manager_portfolio(self, staff_id: str, start: datetime, end: datetime) -> dict[str, Any]:
        """`{staff_id, from, to, clients: {tier: count}, assets_change}`: active clients
        held at `to`, and the asset changes in `[from, to)` credited to the staff member as
        designated manager at each change's effective time."""
        p = self.view_name
        moment = ts(end)
        rows = self._query(
            f"SELECT i.tier AS tier, COUNT(*) AS n FROM {p}_intervals i "
            f"WHERE {self._at()} AND i.status = ? AND i.manager = ? GROUP BY i.tier",
            (moment, moment, ACTIVE, staff_id),
        )
        clients = dict.fromkeys(TIERS, 0)
        clients.update({r["tier"]: int(r["n"]) for r in rows})
        deltas = self._query(
            f"SELECT delta FROM {p}_asset_changes WHERE manager = ? "
            "AND effective_at >= ? AND effective_at < ?",
            (staff_id, ts(start), moment),
        )
        return {
            "staff_id": staff_id,
            "from": start,
            "to": end,
            "clients": clients,
            "assets_change": sum((Decimal(r["delta"]) for r in deltas), Decimal(0)),
        }


class SQLiteReportsView(SQLiteBackend, ReportsView):
    pass


class PostgresReportsView(PostgresBackend, ReportsView):
    pass


class ReportsProjection(Projection[ReportsView]):
    name = "reports"
    topics = topics_of(
        Unit.Created,
        Staff.Joined,
        Staff.Departed,
        Client.Registered,
        Client.TierChanged,
        Client.Assigned,
        Client.Churned,
        Client.Reactivated,
        Client.ContactLogged,
        Client.ProfileUpdated,
        Client.AssetsReported,
        Client.EventRetracted,
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
    def _joined(self, event: Staff.Joined, tracking: Tracking) -> None:
        self.view.staff_joined(aid(event), event.staff_id, tracking)

    @process_event.register
    def _departed(self, event: Staff.Departed, tracking: Tracking) -> None:
        self.view.staff_departed(aid(event), event.effective_at, tracking)

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
        self.view.record_change(aid(event), "status", event.effective_at, ACTIVE, tracking)

    @process_event.register
    def _contact(self, event: Client.ContactLogged, tracking: Tracking) -> None:
        self.view.record_contact(
            aid(event), event.originator_version, event.effective_at, event.staff_id, tracking
        )

    @process_event.register
    def _profile(self, event: Client.ProfileUpdated, tracking: Tracking) -> None:
        self.view.record_profile(
            aid(event), event.originator_version, event.effective_at, event.changes, tracking
        )

    @process_event.register
    def _assets(self, event: Client.AssetsReported, tracking: Tracking) -> None:
        self.view.record_assets(
            aid(event), event.originator_version, event.effective_at, event.amount, tracking
        )

    @process_event.register
    def _retracted(self, event: Client.EventRetracted, tracking: Tracking) -> None:
        self.view.retract(aid(event), event.retracted_event_id, tracking)
