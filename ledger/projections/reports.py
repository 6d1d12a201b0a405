"""The managers' reports: key-information completeness, overdue contacts, orphaned clients
and manager portfolios. (Tier growth is read from the roster view's tier counts.)

Contacts, assets and profile updates are kept by event id, so a retraction removes
exactly the retracted event's rows and the derived rows of its client are recomputed.
"""

from __future__ import annotations

import json
from abc import ABC
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
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
    CHUNK,
    PostgresBackend,
    SQLiteBackend,
    aid,
    chunks,
    from_ts,
    topics_of,
    ts,
)
from ledger.projections.clients import ClientIntervals, IntervalRow
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
            # One row per profile update: its key-information fields as a JSON object.
            f"CREATE TABLE IF NOT EXISTS {p}_profile_updates (aid TEXT, version BIGINT, "
            "seq BIGINT, effective_at TEXT, key_info TEXT, PRIMARY KEY (aid, version))",
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

    def upgrade(self) -> None:
        """A view built when profile updates were kept a row per field: the same updates
        a row each, and the old table gone."""
        super().upgrade()
        p = self.view_name
        with self._transaction() as c:
            if not self._has_table(c, f"{p}_profile"):
                return
            after = ""
            while part := [
                r["aid"]
                for r in self._all(
                    c,
                    f"SELECT DISTINCT aid FROM {p}_profile WHERE aid > ? ORDER BY aid LIMIT ?",
                    (after, CHUNK),
                )
            ]:
                after = part[-1]
                updates: dict[tuple[str, int], tuple[int, str, dict[str, Any]]] = {}
                for row in self._all(
                    c,
                    f"SELECT aid, version, field, seq, effective_at, value FROM {p}_profile "
                    f"WHERE aid IN {self._in(part)}",
                    part,
                ):
                    key = (row["aid"], row["version"])
                    update = updates.setdefault(key, (row["seq"], row["effective_at"], {}))
                    update[2][row["field"]] = row["value"]
                self._many(
                    c,
                    f"INSERT INTO {p}_profile_updates (aid, version, seq, effective_at, "
                    "key_info) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (
                        (a, version, seq, at, _key_info_json(key_info))
                        for (a, version), (seq, at, key_info) in updates.items()
                    ),
                )
            self._exec(c, f"DROP TABLE IF EXISTS {p}_profile")

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
            key_info = {f: v for f, v in changes.items() if f in KEY_INFO_FIELDS}
            if key_info:
                update = (tracking.notification_id, ts(at), key_info)
                self._exec(
                    c,
                    f"INSERT INTO {self.view_name}_profile_updates (aid, version, seq, "
                    "effective_at, key_info) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (aid, version, update[0], update[1], _key_info_json(key_info)),
                )
                if self._fresh(aid):
                    self._memo("profiles", _lists)[aid].append(update)
            self._dirty("keyinfo", aid)
            self._track(tracking)

    def record_assets(
        self, aid: str, version: int, at: datetime, amount: Decimal, tracking: Tracking
    ) -> None:
        with self._write() as c:
            seq, moment = tracking.notification_id, ts(at)
            self._exec(
                c,
                f"INSERT INTO {self.view_name}_assets (aid, version, seq, effective_at, amount) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (aid, version, seq, moment, str(amount)),
            )
            if self._fresh(aid):
                self._memo("assets", _lists)[aid].append((moment, seq, version, amount))
            self._dirty("assets", aid)
            self._track(tracking)

    def retract(self, aid: str, retracted_event_id: str, tracking: Tracking) -> None:
        """Remove the retracted contact, profile update or assets report."""
        p = self.view_name
        with self._write() as c:
            # What this batch holds in memory of the client is now stale: read it back.
            self._memo("retracted", set).add(aid)
            rows = self._all(
                c,
                f"SELECT version FROM {p}_contacts WHERE aid = ? UNION SELECT version FROM "
                f"{p}_profile_updates WHERE aid = ? UNION SELECT version FROM {p}_assets "
                "WHERE aid = ?",
                (aid, aid, aid),
            )
            client = UUID(aid)
            for version in (r["version"] for r in rows):
                if event_id_of(client, version) == retracted_event_id:
                    for table in ("contacts", "profile_updates", "assets"):
                        self._exec(
                            c,
                            f"DELETE FROM {p}_{table} WHERE aid = ? AND version = ?",
                            (aid, version),
                        )
            self._dirty("keyinfo", aid)
            self._dirty("assets", aid)
            self._track(tracking)

    def _fresh(self, aid: str) -> bool:
        """The client was registered in the open batch and nothing of it was retracted:
        every row of it is in memory, and it has none in the tables from before."""
        return aid in self._memo("registered", dict) and aid not in self._memo("retracted", set)

    def _replace_intervals(self, c: Any, aids: Sequence[str], rows: list[IntervalRow]) -> None:
        # Kept for the managers of the asset changes recomputed next, so they need not be
        # read back.
        folded = self._memo("folded", _lists)
        assets = self._state.dirty.get("assets", ())
        for row in rows:
            if row[0] in assets:
                folded[row[0]].append((row[1], row[2], row[5]))
        super()._replace_intervals(c, aids, rows)

    def _flush(self, c: Any, dirty: dict[str, set[str]]) -> None:
        super()._flush(c, dirty)
        for kind, recompute in (
            ("keyinfo", self._recompute_keyinfo),
            ("assets", self._recompute_assets),
        ):
            fresh: list[str] = []
            older: list[str] = []
            for a in sorted(dirty.get(kind, ())):
                (fresh if self._fresh(a) else older).append(a)
            recompute(c, fresh, fresh=True)
            for part in chunks(older):
                recompute(c, part, fresh=False)

    def _inputs(
        self,
        c: Any,
        aids: Sequence[str],
        *,
        fresh: bool,
        memo: str,
        select: str,
        row: Callable[[dict[str, Any]], tuple[Any, ...]],
        derived: str,
    ) -> dict[str, list[Any]]:
        """What the clients' derived rows are worked out from: for `fresh` clients, what
        the batch holds in memory; for the others, their rows read back (`select` names
        the columns and table), their `derived` rows deleted to be written anew."""
        if fresh:
            return self._memo(memo, _lists)  # type: ignore[no-any-return]
        p = self.view_name
        found: defaultdict[str, list[Any]] = defaultdict(list)
        query = f"SELECT aid, {select.format(p=p)} WHERE aid IN {self._in(aids)}"
        for r in self._all(c, query, aids):
            found[r["aid"]].append(row(r))
        self._exec(c, f"DELETE FROM {p}_{derived} WHERE aid IN {self._in(aids)}", aids)
        return found

    def _recompute_keyinfo(self, c: Any, aids: Sequence[str], *, fresh: bool) -> None:
        """The clients' key-information completeness, from their profile updates (held in
        memory for `fresh` clients, read back for the others)."""
        updates: dict[str, list[ProfileUpdate]] = self._inputs(
            c,
            aids,
            fresh=fresh,
            memo="profiles",
            select="seq, effective_at, key_info FROM {p}_profile_updates",
            row=lambda r: (r["seq"], r["effective_at"], json.loads(r["key_info"])),
            derived="keyinfo",
        )
        self._many(
            c,
            f"INSERT INTO {self.view_name}_keyinfo (aid, complete) VALUES (?, ?)",
            ((a, _complete(updates.get(a, ()))) for a in aids),
        )

    def _recompute_assets(self, c: Any, aids: Sequence[str], *, fresh: bool) -> None:
        """Each assets report's change and the designated manager credited with it."""
        p = self.view_name
        reports: dict[str, list[tuple[str, int, int, Decimal]]] = self._inputs(
            c,
            aids,
            fresh=fresh,
            memo="assets",
            select="seq, version, effective_at, amount FROM {p}_assets",
            row=lambda r: (r["effective_at"], r["seq"], r["version"], Decimal(r["amount"])),
            derived="asset_changes",
        )
        holders = [a for a in aids if reports.get(a)]
        if not holders:
            return
        managers: dict[str, list[tuple[str, str | None, str | None]]] = self._memo("folded", _lists)
        unfolded = [a for a in holders if a not in managers]
        for part in chunks(unfolded):
            for row in self._all(
                c,
                f"SELECT aid, valid_from, valid_to, manager FROM {p}_intervals "
                f"WHERE aid IN {self._in(part)}",
                part,
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
                for a in holders
                for version, at, delta in asset_deltas(reports[a])
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


def _lists() -> defaultdict[str, list[Any]]:
    return defaultdict(list)


def _key_info_json(key_info: dict[str, Any]) -> str:
    """The stored form of an update's key information: the same text however it was
    reached (an update, or an upgraded older view), names and addresses as written."""
    return json.dumps(key_info, sort_keys=True, ensure_ascii=False)


# A profile update's (seq, effective_at, key-information fields it sets).
ProfileUpdate = tuple[int, str, dict[str, Any]]


def _complete(updates: Iterable[ProfileUpdate]) -> int:
    """1 when the latest address, phone and employer (in effective order, then recorded
    order) are all present."""
    latest: dict[str, Any] = {}
    for _seq, _at, key_info in sorted(updates, key=lambda u: (u[1], u[0])):
        latest.update(key_info)
    return int(all(latest.get(f) for f in KEY_INFO_FIELDS))


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
