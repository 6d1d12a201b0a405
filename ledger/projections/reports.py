"""The managers' reports: key-information completeness, overdue contacts, orphaned clients
and manager portfolios. (Tier growth is answered by the roster view, from its tier counts:
`roster.py` says why.)"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ledger.domain.errors import InvalidInput
from ledger.domain.values import ACTIVE, TIERS, VIP_TIERS
from ledger.projections.client_facts import ClientFacts, complete
from ledger.projections.kit import (
    BatchView,
    ClientIntervals,
    Part,
    UnitTree,
    ViewProjection,
    from_utc_text,
    placeholders,
    utc_text,
)
from ledger.projections.kit.intervals import FIELDS
from ledger.projections.kit.text import chunks
from ledger.projections.kit.timeline import asset_deltas, share, value_at
from ledger.projections.prospects import ProspectFunnel


def _overdue_cursor(cursor: str | None) -> tuple[int, str] | None:
    """An overdue-contacts cursor, `<days overdue>:<client id>`, as the sort key it ends at."""
    if cursor is None:
        return None
    days, _, client_id = cursor.partition(":")
    if not days.isdigit() or not client_id:
        raise InvalidInput("cursor", "is not a next_cursor of this report")
    return -int(days), client_id


class ReportsView(ABC):
    """The queries of the reports read model."""

    @abstractmethod
    def completeness(
        self,
        unit_id: str,
        *,
        as_of: datetime | None = None,
        target: float | None = None,
        known_at: datetime | None = None,
    ) -> dict[str, Any]:
        """`{unit_id, vip_active, complete, rate, target, meets_target, by_unit: [{unit_id,
        vip_active, complete, rate}]}`: active VIP clients whose address, phone and employer
        are all present; `rate` is None (and the target met) when there is none. `target`
        is the view's `completeness_target` option by default; with `known_at`, as the
        ledger knew them then."""

    @abstractmethod
    def overdue_contacts(
        self,
        unit_id: str,
        *,
        as_of: datetime | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """`{items: [{client_id, tier, last_contact_at, days_overdue, designated_manager}],
        next_cursor}`: active clients whose last contact (or, never contacted,
        registration) is older than their tier's cadence at `as_of`; most overdue first.
        `limit` rows after `cursor` (the previous page's `next_cursor`); every row
        without a limit."""

    @abstractmethod
    def orphaned_clients(
        self,
        unit_id: str,
        *,
        as_of: datetime | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        known_at: datetime | None = None,
    ) -> dict[str, Any]:
        """`{items: [{client_id, tier, former_manager, since}], next_cursor}`: active
        clients whose designated manager had departed by `as_of`; `since` is the
        departure. Ordered by client id, paged as `overdue_contacts`; with `known_at`, as
        the ledger knew them then."""

    @abstractmethod
    def manager_portfolio(
        self, staff_id: str, start: datetime, end: datetime, known_at: datetime | None = None
    ) -> dict[str, Any]:
        """`{staff_id, from, to, clients: {tier: count}, assets_change}`: active clients
        held at `to`, and the asset changes in `[from, to)` credited to the staff member as
        designated manager at each change's effective time; with `known_at`, as the
        ledger knew them then."""

    @abstractmethod
    def complaints(self, unit_id: str, start: datetime, end: datetime) -> dict[str, Any]:
        """`{items: [{client_id, staff_id, designated_manager, occurred_at, summary}],
        by_manager: {staff_id: count}}`: contacts in `[start, end)` of clients of the
        subtree that carried a complaint, oldest first; `by_manager` counts them per
        designated manager at the contact's time (a client without one is not counted)."""

    @abstractmethod
    def funnel(self, unit_id: str, start: datetime, end: datetime) -> dict[str, Any]:
        """`{unit_id, from, to, by_source: {source: {prospects, converted, dropped,
        conversion_rate}}}`: prospects of the subtree found in `[start, end)`, and of them
        those converted or dropped before `end`; the rate is None without prospects."""


class SQLReportsView(BatchView, ReportsView):
    """Options: `cadence` (days per tier) and `completeness_target` (from Settings)."""

    view_name = "reports"

    def compose(self) -> list[Part]:
        self.units = UnitTree(self)
        # Recorded times: the reports read as known at a past time (API.md 1.1, Audit).
        self.intervals = ClientIntervals(
            self, self.units, recorded_times=True, manager_marks=("assets",)
        )
        self.facts = ClientFacts(self, self.intervals)
        self.prospects = ProspectFunnel(self, self.units)
        return [self.units, self.intervals, self.facts, self.prospects]

    def completeness(
        self,
        unit_id: str,
        *,
        as_of: datetime | None = None,
        target: float | None = None,
        known_at: datetime | None = None,
    ) -> dict[str, Any]:
        self.units.unit(unit_id)
        if target is None:
            target = float(self.options["completeness_target"])
        as_of = as_of or datetime.now(UTC)
        if known_at is None:
            rows = self._completeness_rows(unit_id, as_of)
        else:
            rows = self._completeness_rows_known_at(unit_id, as_of, known_at)
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

    def _completeness_rows(self, unit_id: str, as_of: datetime) -> list[dict[str, Any]]:
        moment = utc_text(as_of)
        return self.query(
            "SELECT c.unit_id AS unit_id, COUNT(*) AS vip_active, "
            "SUM(CASE WHEN k.complete = 1 THEN 1 ELSE 0 END) AS complete "
            f"{self.intervals.subtree_join()}LEFT JOIN {self.view_name}_keyinfo k "
            f"ON k.aid = i.aid WHERE {self.intervals.in_force()} AND i.status = ? "
            "AND i.tier IN (?, ?, ?) GROUP BY c.unit_id ORDER BY c.unit_id",
            (unit_id, moment, moment, ACTIVE, *VIP_TIERS),
        )

    def _completeness_rows_known_at(
        self, unit_id: str, as_of: datetime, known_at: datetime
    ) -> list[dict[str, Any]]:
        """The intervals and completeness hold what is known now; what was known then is
        worked out from the change points and profile updates recorded by then."""
        upto = self.intervals.known_position(known_at)
        clients = self.intervals.known_clients(upto, unit_id=unit_id)
        vip = {}
        for key, client in clients.items():
            values = client.at(as_of)
            if values["status"] == ACTIVE and values["tier"] in VIP_TIERS:
                vip[key] = client
        updates = self._known_rows(
            "seq, effective_at, key_info FROM {p}_profile_updates", list(vip), upto
        )
        by_unit: dict[str, dict[str, Any]] = {}
        for key, client in vip.items():
            row = by_unit.setdefault(
                client.unit_id, {"unit_id": client.unit_id, "vip_active": 0, "complete": 0}
            )
            row["vip_active"] += 1
            row["complete"] += complete(
                (r["seq"], r["effective_at"], json.loads(r["key_info"])) for r in updates[key]
            )
        return [by_unit[u] for u in sorted(by_unit)]

    def _known_rows(
        self, select: str, keys: list[str], upto: int
    ) -> defaultdict[str, list[dict[str, Any]]]:
        """Rows of the clients `keys` (`select`: columns FROM a table with `aid` and `seq`)
        recorded by position `upto`, by client."""
        found: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        for part in chunks(keys):
            for row in self.query(
                f"SELECT aid, {select.format(p=self.view_name)} "
                f"WHERE aid IN {placeholders(part)} AND seq <= ?",
                (*part, upto),
            ):
                found[row["aid"]].append(row)
        return found

    def overdue_contacts(
        self,
        unit_id: str,
        *,
        as_of: datetime | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        self.units.unit(unit_id)
        after = _overdue_cursor(cursor)
        cadence: dict[str, int] = self.options["cadence"]
        if not cadence:
            return {"items": [], "next_cursor": None}
        as_of = as_of or datetime.now(UTC)
        moment = utc_text(as_of)
        tiers = list(cadence)
        rows = self.query(
            "SELECT c.client_id AS client_id, c.registered_at AS registered_at, i.tier AS tier, "
            "i.manager AS manager, (SELECT MAX(occurred_at) FROM "
            f"{self.view_name}_contacts t WHERE t.aid = i.aid AND t.occurred_at <= ?) AS last "
            f"{self.intervals.subtree_join()}WHERE {self.intervals.in_force()} "
            f"AND i.status = ? AND i.tier IN {placeholders(tiers)}",
            (moment, unit_id, moment, moment, ACTIVE, *tiers),
        )
        items = []
        for r in rows:
            last = from_utc_text(r["last"])
            since = last or from_utc_text(r["registered_at"])
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

        def order(item: dict[str, Any]) -> tuple[int, str]:
            return -item["days_overdue"], item["client_id"]

        if after is not None:
            items = [item for item in items if order(item) > after]
        items.sort(key=order)
        if limit is None or len(items) <= limit:
            return {"items": items, "next_cursor": None}
        last = items[limit - 1]
        return {
            "items": items[:limit],
            "next_cursor": f"{last['days_overdue']}:{last['client_id']}",
        }

    def orphaned_clients(
        self,
        unit_id: str,
        *,
        as_of: datetime | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        known_at: datetime | None = None,
    ) -> dict[str, Any]:
        self.units.unit(unit_id)
        if known_at is not None:
            rows = self._orphaned_known_at(unit_id, as_of or datetime.now(UTC), known_at)
            rows = [r for r in rows if r["client_id"] > (cursor or "")]
            return self._orphaned_page(rows[: limit + 1] if limit else rows, limit)
        moment = utc_text(as_of or datetime.now(UTC))
        params: tuple[Any, ...] = (unit_id, moment, moment, ACTIVE, moment, cursor or "")
        rows = self.query(
            "SELECT c.client_id AS client_id, i.tier AS tier, i.manager AS former_manager, "
            f"s.departed_at AS since {self.intervals.subtree_join()}"
            f"JOIN {self.view_name}_staff s ON s.staff_id = i.manager "
            f"WHERE {self.intervals.in_force()} AND i.status = ? AND s.departed_at <= ? "
            "AND c.client_id > ? ORDER BY c.client_id" + (" LIMIT ?" if limit else ""),
            (*params, limit + 1) if limit else params,
        )
        return self._orphaned_page(rows, limit)

    @staticmethod
    def _orphaned_page(rows: list[dict[str, Any]], limit: int | None) -> dict[str, Any]:
        for r in rows:
            r["since"] = from_utc_text(r["since"])
        if limit is None or len(rows) <= limit:
            return {"items": rows, "next_cursor": None}
        return {"items": rows[:limit], "next_cursor": rows[limit - 1]["client_id"]}

    def _orphaned_known_at(
        self, unit_id: str, as_of: datetime, known_at: datetime
    ) -> list[dict[str, Any]]:
        """Orphaned clients from the change points and departures recorded by `known_at`,
        ordered by client id."""
        p, upto, moment = self.view_name, self.intervals.known_position(known_at), utc_text(as_of)
        departed = {
            r["staff_id"]: r["departed_at"]
            for r in self.query(
                f"SELECT s.staff_id AS staff_id, d.departed_at AS departed_at "
                f"FROM {p}_departures d JOIN {p}_staff s ON s.aid = d.aid WHERE d.seq <= ? "
                "ORDER BY d.seq",
                (upto,),
            )
        }
        rows = []
        for client in self.intervals.known_clients(upto, unit_id=unit_id).values():
            values = client.at(as_of)
            manager = values["manager"]
            if values["status"] == ACTIVE and manager in departed and departed[manager] <= moment:
                rows.append(
                    {
                        "client_id": client.client_id,
                        "tier": values["tier"],
                        "former_manager": manager,
                        "since": departed[manager],
                    }
                )
        return sorted(rows, key=lambda r: r["client_id"])

    def manager_portfolio(
        self, staff_id: str, start: datetime, end: datetime, known_at: datetime | None = None
    ) -> dict[str, Any]:
        if known_at is not None:
            return self._portfolio_known_at(staff_id, start, end, known_at)
        p = self.view_name
        moment = utc_text(end)
        rows = self.query(
            f"SELECT i.tier AS tier, COUNT(*) AS n FROM {p}_intervals i "
            f"WHERE {self.intervals.in_force()} AND i.status = ? AND i.manager = ? "
            "GROUP BY i.tier",
            (moment, moment, ACTIVE, staff_id),
        )
        clients = dict.fromkeys(TIERS, 0)
        clients.update({r["tier"]: int(r["n"]) for r in rows})
        deltas = self.query(
            f"SELECT delta FROM {p}_asset_changes WHERE manager = ? "
            "AND effective_at >= ? AND effective_at < ?",
            (staff_id, utc_text(start), moment),
        )
        return {
            "staff_id": staff_id,
            "from": start,
            "to": end,
            "clients": clients,
            "assets_change": sum((Decimal(r["delta"]) for r in deltas), Decimal(0)),
        }

    def _portfolio_known_at(
        self, staff_id: str, start: datetime, end: datetime, known_at: datetime
    ) -> dict[str, Any]:
        """The portfolio from the change points and assets reports recorded by `known_at`:
        each change credited to the designated manager of its moment as known then."""
        upto = self.intervals.known_position(known_at)
        held = self.intervals.known_clients(upto, manager=staff_id)
        clients = dict.fromkeys(TIERS, 0)
        for client in held.values():
            values = client.at(end)
            if values["status"] == ACTIVE and values["manager"] == staff_id:
                clients[values["tier"]] += 1  # type: ignore[index]
        reports = self._known_rows(
            "seq, version, effective_at, amount FROM {p}_assets", list(held), upto
        )
        first, last = utc_text(start), utc_text(end)
        change = Decimal(0)
        for key, client in held.items():
            intervals = client.intervals()
            rows = [
                (r["effective_at"], r["seq"], r["version"], Decimal(r["amount"]))
                for r in reports[key]
            ]
            for _version, at, delta in asset_deltas(rows):
                if first <= at < last and value_at(intervals, at, FIELDS.index("manager")) == (
                    staff_id
                ):
                    change += delta
        return {
            "staff_id": staff_id,
            "from": start,
            "to": end,
            "clients": clients,
            "assets_change": change,
        }

    def funnel(self, unit_id: str, start: datetime, end: datetime) -> dict[str, Any]:
        return self.prospects.funnel(unit_id, start, end)

    def complaints(self, unit_id: str, start: datetime, end: datetime) -> dict[str, Any]:
        self.units.unit(unit_id)
        p = self.view_name
        rows = self.query(
            "SELECT c.client_id AS client_id, k.aid AS aid, k.staff_id AS staff_id, "
            "k.occurred_at AS occurred_at, k.summary AS summary, "
            "i.manager AS designated_manager "
            f"{self.intervals.subtree_join()}JOIN {p}_complaints k ON k.aid = i.aid "
            "AND i.valid_from <= k.occurred_at AND (i.valid_to IS NULL OR i.valid_to > "
            "k.occurred_at) WHERE k.occurred_at >= ? AND k.occurred_at < ? "
            "ORDER BY k.occurred_at, c.client_id, k.version",
            (unit_id, utc_text(start), utc_text(end)),
        )
        by_manager: dict[str, int] = {}
        for r in rows:
            r["occurred_at"] = from_utc_text(r["occurred_at"])
            r["summary"] = self.open(r.pop("aid"), "complaint", r["summary"])
            if r["designated_manager"] is not None:
                manager = r["designated_manager"]
                by_manager[manager] = by_manager.get(manager, 0) + 1
        return {"items": rows, "by_manager": by_manager}


class ReportsProjection(ViewProjection):
    name = "reports"
