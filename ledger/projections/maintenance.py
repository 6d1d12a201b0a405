"""The maintenance read model (DOMAIN.md 1.1): layered duties, team gaps, leader visits,
unacknowledged assignments, the at-risk board, referrals and segments.

A read model of its own rather than more parts of `reports`: a new view starts from the
start of the log and catches up by itself, so a ledger that already runs gets these reports
from every event it holds, with no migration of the reports' tables.

Each client is kept as one file: its timelines in effective time (tiers, statuses, the
holders of every team role, acknowledgements, assets, preferences) as JSON, refolded by the
pure rules of `maintenance_rules.py` at the time a question names. Contacts are rows of
their own (a client may have thousands). A page is read a chunk of clients at a time, in
client id order, until it holds `limit` answers.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking

from ledger.domain import Client, NotFound, Staff, Unit
from ledger.domain.values import ACTIVE, CHURNED, DESIGNATED_MANAGER, TIER_RANK
from ledger.domain.values import event_id as event_id_of
from ledger.projections.kit import BatchView, Handler, Part, UnitTree, ViewProjection
from ledger.projections.kit.text import (
    CHUNK,
    aggregate_key,
    from_utc_text,
    placeholders,
    utc_text,
)
from ledger.projections.maintenance_rules import (
    ClientFile,
    Contact,
    Moment,
    Organisation,
    accountable,
    assets_at,
    duties_overdue,
    holder_at,
    insert,
    last_leader_visit,
    new_file,
    preferences_at,
    referral_tree,
    risk_reasons,
    status_at,
    team_gaps,
    tier_at,
    unacknowledged,
)

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# The preferences segments and roster filters read (DOMAIN.md 1.1, Segments).
PREFERENCES = ("risk_appetite", "product_horizon", "business_interests")

Page = dict[str, Any]
# What a report makes of one client, given the chunk's contacts and the organisation.
Evaluate = Callable[[ClientFile, list[Contact], Organisation], list[Any]]


class MaintenanceView(ABC):
    """The queries of the maintenance read model; each list is `{items, next_cursor}`."""

    @abstractmethod
    def duties_overdue(
        self,
        unit_id: str,
        *,
        as_of: datetime | None = None,
        role: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page:
        """`[{client_id, tier, role, staff_id, last_contact_at, days_overdue}]`."""

    @abstractmethod
    def team_gaps(
        self,
        unit_id: str,
        *,
        as_of: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page:
        """`[{client_id, tier, missing: [role]}]` of active VIP clients."""

    @abstractmethod
    def leader_visits(
        self,
        unit_id: str,
        start: datetime,
        end: datetime,
        *,
        min_assets: Decimal,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page:
        """`[{client_id, assets, visited_by_leader, last_leader_visit_at}]`: active clients
        with assets of at least `min_assets` at `end`."""

    @abstractmethod
    def unacknowledged_assignments(
        self,
        unit_id: str,
        *,
        older_than_days: int,
        as_of: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page:
        """`[{client_id, staff_id, event_id, effective_at}]`."""

    @abstractmethod
    def at_risk(
        self,
        unit_id: str,
        *,
        as_of: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page:
        """`[{client_id, tier, reasons, accountable}]` of active VIP clients at risk."""

    @abstractmethod
    def referral_tree(self, client_id: str) -> dict[str, Any]:
        """`{client_id, referred: [...]}`; NotFound for an unknown client."""

    @abstractmethod
    def referrals(self, unit_id: str, start: datetime, end: datetime) -> dict[str, Any]:
        """`{by_manager: [{staff_id, clients, assets}], total: {clients, assets}}`."""

    @abstractmethod
    def segments(self, unit_id: str, by: str, *, as_of: datetime | None = None) -> dict[str, Any]:
        """`{by, segments: {value: {clients, assets}}}` of active clients."""

    @abstractmethod
    def matching(
        self,
        unit_id: str,
        filters: dict[str, Any],
        *,
        as_of: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page:
        """`{items: [client_id], next_cursor}`: clients of the subtree registered by
        `as_of` matching the roster's filters there (`tier`, `status`, `manager_id`, the
        preferences, `source`, `min_assets`, `max_assets`), in client id order."""


class ClientFiles(Part):
    """Each client's file, its contacts, the staff's roles and departures, unit heads."""

    def tables(self) -> list[str]:
        p = self.prefix
        return [
            f"CREATE TABLE IF NOT EXISTS {p}_files (aid TEXT PRIMARY KEY, client_id TEXT, "
            "unit_id TEXT, referred_by TEXT, source TEXT, registered_at TEXT, "
            "ever_vip BIGINT, peak_assets DOUBLE PRECISION, data TEXT)",
            f"CREATE TABLE IF NOT EXISTS {p}_contacts (aid TEXT, occurred_at TEXT, "
            "version BIGINT, staff_id TEXT, channel TEXT, PRIMARY KEY (aid, occurred_at, version))",
            f"CREATE TABLE IF NOT EXISTS {p}_staff (aid TEXT PRIMARY KEY, staff_id TEXT, "
            "role TEXT, departed_at TEXT)",
            f"CREATE TABLE IF NOT EXISTS {p}_heads (unit_aid TEXT, seq BIGINT, "
            "effective_at TEXT, staff_id TEXT, PRIMARY KEY (unit_aid, seq))",
        ]

    def query_indexes(self) -> list[str]:
        p = self.prefix
        return [
            f"CREATE INDEX IF NOT EXISTS {p}_files_unit ON {p}_files (unit_id, client_id)",
            f"CREATE INDEX IF NOT EXISTS {p}_files_client ON {p}_files (client_id)",
            f"CREATE INDEX IF NOT EXISTS {p}_files_referrer ON {p}_files (referred_by)",
        ]

    def handlers(self) -> dict[type, Handler]:
        return {
            Client.Registered: self.registered,
            Client.TierChanged: self.tier_changed,
            Client.Assigned: self.assigned,
            Client.AssignmentAcknowledged: self.acknowledged,
            Client.Churned: self.churned,
            Client.Reactivated: self.reactivated,
            Client.AssetsReported: self.assets_reported,
            Client.ProfileUpdated: self.profile_updated,
            Client.ContactLogged: self.contact_logged,
            Client.EventRetracted: self.retracted,
            Staff.Joined: self.staff_joined,
            Staff.Departed: self.staff_departed,
            Unit.HeadAppointed: self.head_appointed,
        }

    # ---- updates ------------------------------------------------------------------------

    def _change(
        self, event: Any, tracking: Tracking, change: Callable[[ClientFile, str, int], None]
    ) -> None:
        """`change(file, effective_at, seq)` on the event's client file."""
        view, key = self.view, aggregate_key(event)
        with view.write() as c:
            files: dict[str, ClientFile | None] = view.batch_memo("files", dict)
            if key not in files:
                rows = view.fetch(c, f"SELECT data FROM {self.prefix}_files WHERE aid = ?", (key,))
                files[key] = json.loads(rows[0]["data"]) if rows else None
            file = files[key]
            if file is not None:
                change(file, utc_text(event.effective_at), tracking.notification_id)
                view.mark("file", key)
            view.advance(tracking)

    def registered(self, event: Client.Registered, tracking: Tracking) -> None:
        key = aggregate_key(event)
        file = new_file(
            event.client_id,
            event.unit_id,
            utc_text(event.effective_at),
            tracking.notification_id,
            event.tier,
        )
        file["source"], file["referred_by"] = event.source, event.referred_by
        with self.view.write():
            self.view.batch_memo("files", dict)[key] = file
            self.view.mark("file", key)
            self.view.advance(tracking)

    def tier_changed(self, event: Client.TierChanged, tracking: Tracking) -> None:
        self._change(event, tracking, lambda f, at, seq: insert(f["tiers"], [at, seq, event.tier]))

    def churned(self, event: Client.Churned, tracking: Tracking) -> None:
        self._change(event, tracking, lambda f, at, seq: insert(f["statuses"], [at, seq, CHURNED]))

    def reactivated(self, event: Client.Reactivated, tracking: Tracking) -> None:
        self._change(event, tracking, lambda f, at, seq: insert(f["statuses"], [at, seq, ACTIVE]))

    def assigned(self, event: Client.Assigned, tracking: Tracking) -> None:
        def change(file: ClientFile, at: str, seq: int) -> None:
            timeline = file["team"].setdefault(event.role, [])
            insert(timeline, [at, seq, event.staff_id, event.event_id])

        self._change(event, tracking, change)

    def acknowledged(self, event: Client.AssignmentAcknowledged, tracking: Tracking) -> None:
        def change(file: ClientFile, at: str, seq: int) -> None:
            insert(file["acks"], [at, seq, event.assignment_event_id])

        self._change(event, tracking, change)

    def assets_reported(self, event: Client.AssetsReported, tracking: Tracking) -> None:
        def change(file: ClientFile, at: str, seq: int) -> None:
            insert(file["assets"], [at, seq, str(event.amount), event.originator_version])

        self._change(event, tracking, change)

    def profile_updated(self, event: Client.ProfileUpdated, tracking: Tracking) -> None:
        preferences = {k: v for k, v in event.changes.items() if k in PREFERENCES}
        if not preferences:
            self.view.track(tracking)
            return
        self._change(
            event,
            tracking,
            lambda f, at, seq: insert(f["prefs"], [at, seq, preferences, event.originator_version]),
        )

    def contact_logged(self, event: Client.ContactLogged, tracking: Tracking) -> None:
        self.view.record(
            f"INSERT INTO {self.prefix}_contacts (aid, occurred_at, version, staff_id, channel) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (
                aggregate_key(event),
                utc_text(event.effective_at),
                event.originator_version,
                event.staff_id,
                event.channel,
            ),
            tracking,
        )

    def retracted(self, event: Client.EventRetracted, tracking: Tracking) -> None:
        client = event.originator_id

        def keep(entry: list[Any]) -> bool:
            return event_id_of(client, entry[3]) != event.retracted_event_id

        def change(file: ClientFile, at: str, seq: int) -> None:
            file["assets"] = [e for e in file["assets"] if keep(e)]
            file["prefs"] = [e for e in file["prefs"] if keep(e)]

        self._change(event, tracking, change)
        view, key = self.view, aggregate_key(event)
        with view.write() as c:
            for row in view.fetch(
                c, f"SELECT version FROM {self.prefix}_contacts WHERE aid = ?", (key,)
            ):
                if event_id_of(UUID(key), row["version"]) == event.retracted_event_id:
                    view.execute(
                        c,
                        f"DELETE FROM {self.prefix}_contacts WHERE aid = ? AND version = ?",
                        (key, row["version"]),
                    )

    def staff_joined(self, event: Staff.Joined, tracking: Tracking) -> None:
        self.view.record(
            f"INSERT INTO {self.prefix}_staff (aid, staff_id, role) VALUES (?, ?, ?) "
            "ON CONFLICT (aid) DO NOTHING",
            (aggregate_key(event), event.staff_id, event.role),
            tracking,
        )

    def staff_departed(self, event: Staff.Departed, tracking: Tracking) -> None:
        self.view.record(
            f"UPDATE {self.prefix}_staff SET departed_at = ? WHERE aid = ?",
            (utc_text(event.effective_at), aggregate_key(event)),
            tracking,
        )

    def head_appointed(self, event: Unit.HeadAppointed, tracking: Tracking) -> None:
        self.view.record(
            f"INSERT INTO {self.prefix}_heads (unit_aid, seq, effective_at, staff_id) "
            "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (
                aggregate_key(event),
                tracking.notification_id,
                utc_text(event.effective_at),
                event.staff_id,
            ),
            tracking,
        )

    def flush(self, c: Any, marked: dict[str, set[str]]) -> None:
        files: dict[str, ClientFile | None] = self.view.batch_memo("files", dict)
        rows = []
        for key in sorted(marked.get("file", ())):
            file = files.get(key)
            if file is None:
                continue
            ever_vip = int(any(TIER_RANK[entry[2]] > 0 for entry in file["tiers"]))
            # Prefilters that hold at any time asked about: VIP at some time, and the
            # largest statement (retracted ones left out).
            peak = max((float(entry[2]) for entry in file["assets"]), default=None)
            rows.append(
                (
                    key,
                    file["client_id"],
                    file["unit_id"],
                    file.get("referred_by"),
                    file.get("source"),
                    file["registered_at"],
                    ever_vip,
                    peak,
                    json.dumps(file, ensure_ascii=False, separators=(",", ":")),
                )
            )
        self.view.execute_many(
            c,
            f"INSERT INTO {self.prefix}_files (aid, client_id, unit_id, referred_by, source, "
            "registered_at, ever_vip, peak_assets, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (aid) DO UPDATE SET ever_vip = excluded.ever_vip, "
            "peak_assets = excluded.peak_assets, data = excluded.data",
            rows,
        )


class SQLMaintenanceView(BatchView, MaintenanceView):
    """Options: `cadence` (days per tier), `duty_cadence` (days per role and tier) and
    `churn_lookback_days` (from Settings)."""

    view_name = "maintenance"

    def compose(self) -> list[Part]:
        self.units = UnitTree(self)
        self.files = ClientFiles(self)
        return [self.units, self.files]

    # ---- reading ------------------------------------------------------------------------

    def organisation(self) -> Organisation:
        p = self.view_name
        roles, departed = {}, {}
        for row in self.query(f"SELECT staff_id, role, departed_at FROM {p}_staff"):
            roles[row["staff_id"]] = row["role"]
            departed[row["staff_id"]] = row["departed_at"]
        heads: dict[str, list[list[Any]]] = defaultdict(list)
        for row in self.query(
            f"SELECT u.unit_id AS unit_id, h.seq AS seq, h.effective_at AS effective_at, "
            f"h.staff_id AS staff_id FROM {p}_heads h JOIN {p}_units u ON u.aid = h.unit_aid "
            "ORDER BY h.effective_at, h.seq"
        ):
            heads[row["unit_id"]].append([row["effective_at"], row["seq"], row["staff_id"]])
        return Organisation(roles=roles, departed=departed, heads=heads)

    def _contacts(
        self, keys: Sequence[str], before: str, *, latest_only: bool = False
    ) -> dict[str, list[Contact]]:
        """Each client's latest contact before `before` per staff member and channel; with
        `latest_only`, only its latest (by whom and how left out)."""
        found: dict[str, list[Contact]] = defaultdict(list)
        if not keys:
            return found
        by = "" if latest_only else ", staff_id, channel"
        for row in self.query(
            f"SELECT aid{by}, MAX(occurred_at) AS occurred_at FROM {self.view_name}_contacts "
            f"WHERE aid IN {placeholders(keys)} AND occurred_at < ? GROUP BY aid{by}",
            (*keys, before),
        ):
            found[row["aid"]].append(
                Contact(row.get("staff_id", ""), row.get("channel", ""), row["occurred_at"])
            )
        return found

    def _page(
        self,
        unit_id: str,
        evaluate: Evaluate,
        *,
        contacts_before: str | None,
        limit: int,
        cursor: str | None,
        vip_only: bool = False,
        latest_contact_only: bool = False,
        min_peak: Decimal | None = None,
    ) -> Page:
        """`evaluate` over the subtree's clients in client id order, a chunk at a time,
        until the page holds `limit` items (a client's items stay on one page)."""
        self.units.unit(unit_id)
        limit = max(1, min(limit, MAX_LIMIT))
        org = self.organisation()
        p, after, items = self.view_name, cursor or "", []
        extra = "AND f.ever_vip = 1 " if vip_only else ""
        floor: tuple[float, ...] = ()
        if min_peak is not None:
            # A float below the amount by more than its rounding: only a prefilter.
            extra += "AND f.peak_assets >= ? "
            floor = (float(min_peak) * 0.999,)
        while True:
            rows = self.query(
                f"SELECT f.aid AS aid, f.client_id AS client_id, f.data AS data FROM {p}_files f "
                f"JOIN {p}_unit_paths u ON u.unit_id = f.unit_id AND u.ancestor_id = ? "
                f"WHERE f.client_id > ? {extra}ORDER BY f.client_id LIMIT ?",
                (unit_id, after, *floor, CHUNK),
            )
            keys = [row["aid"] for row in rows]
            contacts = (
                self._contacts(keys, contacts_before, latest_only=latest_contact_only)
                if contacts_before
                else {}
            )
            for index, row in enumerate(rows):
                items.extend(evaluate(json.loads(row["data"]), contacts.get(row["aid"], []), org))
                if len(items) >= limit:
                    last = index == len(rows) - 1 and len(rows) < CHUNK
                    return {"items": items, "next_cursor": None if last else row["client_id"]}
            if len(rows) < CHUNK:
                return {"items": items, "next_cursor": None}
            after = rows[-1]["client_id"]

    def _lookback(self) -> timedelta:
        return timedelta(days=int(self.options["churn_lookback_days"]))

    def duties_overdue(
        self,
        unit_id: str,
        *,
        as_of: datetime | None = None,
        role: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page:
        at = as_of or datetime.now(UTC)
        cadence = self.options["duty_cadence"]
        return self._page(
            unit_id,
            lambda file, contacts, org: duties_overdue(file, at, contacts, org, cadence, role),
            contacts_before=_just_after(at),
            limit=limit,
            cursor=cursor,
            vip_only=True,
        )

    def team_gaps(
        self,
        unit_id: str,
        *,
        as_of: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page:
        moment = utc_text(as_of or datetime.now(UTC))

        def evaluate(file: ClientFile, _: list[Contact], org: Organisation) -> list[dict[str, Any]]:
            if status_at(file, moment) != ACTIVE:
                return []
            missing = team_gaps(file, moment, org)
            if not missing:
                return []
            return [
                {"client_id": file["client_id"], "tier": tier_at(file, moment), "missing": missing}
            ]

        return self._page(
            unit_id, evaluate, contacts_before=None, limit=limit, cursor=cursor, vip_only=True
        )

    def leader_visits(
        self,
        unit_id: str,
        start: datetime,
        end: datetime,
        *,
        min_assets: Decimal,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page:
        low, high = utc_text(start), utc_text(end)
        # Assets in force just before `end`: the period's last statement.
        last_moment = utc_text(end - timedelta(microseconds=1))

        def evaluate(
            file: ClientFile, contacts: list[Contact], org: Organisation
        ) -> list[dict[str, Any]]:
            assets = assets_at(file, last_moment)
            if status_at(file, last_moment) != ACTIVE or assets is None or assets < min_assets:
                return []
            visit = last_leader_visit(file, low, high, contacts, org)
            return [
                {
                    "client_id": file["client_id"],
                    "assets": str(assets),
                    "visited_by_leader": visit is not None,
                    "last_leader_visit_at": _moment(visit),
                }
            ]

        return self._page(
            unit_id,
            evaluate,
            contacts_before=high,
            limit=limit,
            cursor=cursor,
            min_peak=min_assets,
        )

    def unacknowledged_assignments(
        self,
        unit_id: str,
        *,
        older_than_days: int,
        as_of: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page:
        at = as_of or datetime.now(UTC)
        moment, before = utc_text(at), utc_text(at - timedelta(days=older_than_days))

        def evaluate(file: ClientFile, _: list[Contact], org: Organisation) -> list[dict[str, Any]]:
            if status_at(file, moment) != ACTIVE:
                return []
            found = unacknowledged(file, before, moment)
            return [found] if found else []

        return self._page(unit_id, evaluate, contacts_before=None, limit=limit, cursor=cursor)

    def at_risk(
        self,
        unit_id: str,
        *,
        as_of: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page:
        when = Moment(as_of or datetime.now(UTC), self._lookback())
        cadence: dict[str, int] = self.options["cadence"]

        def evaluate(
            file: ClientFile, contacts: list[Contact], org: Organisation
        ) -> list[dict[str, Any]]:
            last = max((c.occurred_at for c in contacts), default=None)
            reasons = risk_reasons(file, when, org, last_contact=last, cadence=cadence)
            if not reasons:
                return []
            return [
                {
                    "client_id": file["client_id"],
                    "tier": tier_at(file, when.text),
                    "reasons": reasons,
                    "accountable": accountable(file, when, org),
                }
            ]

        return self._page(
            unit_id,
            evaluate,
            contacts_before=_just_after(when.at),
            latest_contact_only=True,
            limit=limit,
            cursor=cursor,
            vip_only=True,
        )

    def referral_tree(self, client_id: str) -> dict[str, Any]:
        p = self.view_name
        if not self.query(f"SELECT 1 AS one FROM {p}_files WHERE client_id = ?", (client_id,)):
            raise NotFound("client", client_id)
        children: dict[str, list[str]] = defaultdict(list)
        frontier, seen = [client_id], {client_id}
        while frontier:
            level = frontier[:CHUNK]
            frontier = frontier[CHUNK:]
            for row in self.query(
                f"SELECT client_id, referred_by FROM {p}_files "
                f"WHERE referred_by IN {placeholders(level)}",
                level,
            ):
                children[row["referred_by"]].append(row["client_id"])
                if row["client_id"] not in seen:
                    seen.add(row["client_id"])
                    frontier.append(row["client_id"])
        return referral_tree(client_id, children)

    def referrals(self, unit_id: str, start: datetime, end: datetime) -> dict[str, Any]:
        """Clients of the subtree registered in `[start, end)` through a referrer, credited
        to the referrer's designated manager at the registration (以点带面), with their
        assets at `end`."""
        self.units.unit(unit_id)
        p = self.view_name
        rows = self.query(
            f"SELECT f.data AS data, r.data AS referrer FROM {p}_files f "
            f"JOIN {p}_unit_paths u ON u.unit_id = f.unit_id AND u.ancestor_id = ? "
            f"LEFT JOIN {p}_files r ON r.client_id = f.referred_by "
            "WHERE f.referred_by IS NOT NULL AND f.registered_at >= ? AND f.registered_at < ? "
            "ORDER BY f.client_id",
            (unit_id, utc_text(start), utc_text(end)),
        )
        last_moment = utc_text(end - timedelta(microseconds=1))
        by_manager: dict[str | None, dict[str, Any]] = {}
        for row in rows:
            file = json.loads(row["data"])
            referrer = json.loads(row["referrer"]) if row["referrer"] else None
            manager = (
                value_in_team(referrer, file["registered_at"]) if referrer is not None else None
            )
            entry = by_manager.setdefault(
                manager, {"staff_id": manager, "clients": 0, "assets": Decimal(0)}
            )
            entry["clients"] += 1
            entry["assets"] += assets_at(file, last_moment) or Decimal(0)
        items = sorted(
            by_manager.values(), key=lambda e: (e["staff_id"] is None, e["staff_id"] or "")
        )
        total = sum((e["assets"] for e in items), Decimal(0))
        return {
            "by_manager": [{**e, "assets": str(e["assets"])} for e in items],
            "total": {"clients": sum(e["clients"] for e in items), "assets": str(total)},
        }

    def _active_files(self, unit_id: str, moment: str) -> list[ClientFile]:
        self.units.unit(unit_id)
        p = self.view_name
        rows = self.query(
            f"SELECT f.data AS data FROM {p}_files f JOIN {p}_unit_paths u "
            "ON u.unit_id = f.unit_id AND u.ancestor_id = ? WHERE f.registered_at <= ?",
            (unit_id, moment),
        )
        files = [json.loads(row["data"]) for row in rows]
        return [file for file in files if status_at(file, moment) == ACTIVE]

    def segments(self, unit_id: str, by: str, *, as_of: datetime | None = None) -> dict[str, Any]:
        moment = utc_text(as_of or datetime.now(UTC))
        segments: dict[str, dict[str, Any]] = {}
        for file in self._active_files(unit_id, moment):
            value = segment_of(file, by, moment) or "unknown"
            entry = segments.setdefault(value, {"clients": 0, "assets": Decimal(0)})
            entry["clients"] += 1
            entry["assets"] += assets_at(file, moment) or Decimal(0)
        return {
            "by": by,
            "segments": {
                value: {"clients": entry["clients"], "assets": str(entry["assets"])}
                for value, entry in sorted(segments.items())
            },
        }

    def matching(
        self,
        unit_id: str,
        filters: dict[str, Any],
        *,
        as_of: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page:
        moment = utc_text(as_of or datetime.now(UTC))

        def evaluate(file: ClientFile, _: list[Contact], org: Organisation) -> list[str]:
            return [file["client_id"]] if matches(file, filters, moment) else []

        return self._page(unit_id, evaluate, contacts_before=None, limit=limit, cursor=cursor)


def value_in_team(file: ClientFile, at: str) -> str | None:
    return holder_at(file, DESIGNATED_MANAGER, at)


def segment_of(file: ClientFile, by: str, at: str) -> str | None:
    if by == "tier":
        return tier_at(file, at)
    if by == "source":
        return file.get("source")
    return preferences_at(file, at).get(by)


def matches(file: ClientFile, filters: dict[str, Any], at: str) -> bool:
    """The roster's filters: tier, status, designated manager, preferences (a business
    interest is found in the text), source, and assets at least `min_assets` and below
    `max_assets`."""
    status = status_at(file, at)
    if status is None:
        return False
    for name, value in (
        ("tier", tier_at(file, at)),
        ("status", status),
        ("manager_id", holder_at(file, DESIGNATED_MANAGER, at)),
    ):
        if filters.get(name) is not None and value != filters[name]:
            return False
    preferences = preferences_at(file, at)
    for name in ("risk_appetite", "product_horizon"):
        if filters.get(name) is not None and preferences.get(name) != filters[name]:
            return False
    interest = filters.get("business_interest")
    if (
        interest is not None
        and interest.casefold() not in (preferences.get("business_interests") or "").casefold()
    ):
        return False
    if filters.get("source") is not None and file.get("source") != filters["source"]:
        return False
    assets = assets_at(file, at)
    if filters.get("min_assets") is not None and (assets is None or assets < filters["min_assets"]):
        return False
    return not (
        filters.get("max_assets") is not None
        and (assets is None or assets >= filters["max_assets"])
    )


def _just_after(at: datetime) -> str:
    """Contacts up to and including `at`: those before the next microsecond."""
    return utc_text(at + timedelta(microseconds=1))


def _moment(text: str | None) -> datetime | None:
    return from_utc_text(text)


class MaintenanceProjection(ViewProjection):
    name = "maintenance"
