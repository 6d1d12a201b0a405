"""The managers' reports: key-information completeness, overdue contacts, orphaned clients
and manager portfolios. (Tier growth is answered by the roster view, from its tier counts:
`roster.py` says why.)"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ledger.domain.errors import InvalidInput
from ledger.domain.values import ACTIVE, TIERS, VIP_TIERS
from ledger.projections.client_facts import ClientFacts
from ledger.projections.kit import (
    BatchView,
    ClientIntervals,
    Handler,
    Part,
    RecordedTimes,
    UnitTree,
    ViewProjection,
    chunks,
    from_utc_text,
    placeholders,
    utc_text,
)
from ledger.projections.kit.staff import StaffTable
from ledger.projections.kit.timeline import share
from ledger.projections.maintenance_rules import falls_due
from ledger.projections.prospects import ProspectFunnel
from ledger.projections.report_pages import StandingPages
from ledger.projections.report_standings import ReportStandings
from ledger.projections.reports_known import Aids, ReportsAsKnown


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
        known_at: datetime | None = None,
    ) -> dict[str, Any]:
        """`{items: [{client_id, tier, last_contact_at, days_overdue, designated_manager}],
        next_cursor}`: active clients whose last contact (or, never contacted,
        registration) is older than their tier's cadence at `as_of`; most overdue first.
        `limit` rows after `cursor` (the previous page's `next_cursor`); every row
        without a limit. With `known_at`, as the ledger knew them then."""

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
    def complaints(
        self, unit_id: str, start: datetime, end: datetime, known_at: datetime | None = None
    ) -> dict[str, Any]:
        """`{items: [{client_id, staff_id, designated_manager, occurred_at, summary}],
        by_manager: {staff_id: count}}`: contacts in `[start, end)` of clients of the
        subtree that carried a complaint, oldest first; `by_manager` counts them per
        designated manager at the contact's time (a client without one is not counted).
        With `known_at`, as the ledger knew them then."""

    @abstractmethod
    def funnel(
        self, unit_id: str, start: datetime, end: datetime, known_at: datetime | None = None
    ) -> dict[str, Any]:
        """`{unit_id, from, to, by_source: {source: {prospects, converted, dropped,
        conversion_rate}}}`: prospects of the subtree found in `[start, end)`, and of them
        those converted or dropped before `end`; the rate is None without prospects. With
        `known_at`, as the ledger knew them then."""


class SQLReportsView(BatchView, ReportsAsKnown, StandingPages, ReportsView):
    """Options: `cadence` (days per tier) and `completeness_target` (from Settings)."""

    view_name = "reports"

    def compose(self) -> list[Part]:
        # Recorded times: the reports read as known at a past time (API.md 1.1, Audit).
        self.units, self.recorded = UnitTree(self), RecordedTimes(self)
        self.intervals = ClientIntervals(
            self, self.units, recorded=self.recorded, manager_marks=("assets",)
        )
        self.staff = StaffTable(self, recorded=self.recorded)
        self.facts = ClientFacts(self, self.intervals)
        # After the intervals and key information it is worked out from.
        self.standings = ReportStandings(self, self.intervals, self.staff)
        self.prospects = ProspectFunnel(self, self.units)
        return [
            self.units,
            self.recorded,
            self.intervals,
            self.staff,
            self.facts,
            self.standings,
            self.prospects,
        ]

    def handlers(self) -> dict[type, Handler]:
        return self.standings.noting(super().handlers())

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
        unsettled = self._unsettled(unit_id, as_of, known_at)
        counts = {} if unsettled is None else self._kept_completeness(unit_id, unsettled)
        if unsettled is None or unsettled:
            if known_at is None:
                folded = self._completeness_rows(unit_id, as_of, unsettled)
            else:
                folded = self._completeness_rows_known_at(unit_id, as_of, known_at, unsettled)
            for r in folded:
                totals = counts.setdefault(r["unit_id"], [0, 0])
                totals[0] += int(r["vip_active"])
                totals[1] += int(r["complete"] or 0)
        by_unit = [
            {"unit_id": unit, "vip_active": vip, "complete": done, "rate": share(done, vip)}
            for unit, (vip, done) in sorted(counts.items())
            if vip
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

    def _subtree_rows(
        self, select: str, where: str, params: Sequence[Any], aids: Aids, joins: str = ""
    ) -> list[dict[str, Any]]:
        """`select` the subtree's clients' intervals (the unit first of `params`) meeting
        `where` (the rest of them): of the clients `aids`, or of all."""
        statement = f"{select} {self.intervals.subtree_join()}{joins}WHERE {where}"
        if aids is None:
            return self.query(statement, params)
        rows = []
        for part in chunks(aids):
            rows += self.query(f"{statement} AND c.aid IN {placeholders(part)}", (*params, *part))
        return rows

    def _completeness_rows(
        self, unit_id: str, as_of: datetime, aids: Aids = None
    ) -> list[dict[str, Any]]:
        """A row per active VIP client at `as_of` (of `aids`, or of all): its unit and
        whether its key information is complete."""
        moment = utc_text(as_of)
        return self._subtree_rows(
            "SELECT c.unit_id AS unit_id, 1 AS vip_active, k.complete AS complete",
            f"{self.intervals.in_force()} AND i.status = ? AND i.tier IN (?, ?, ?)",
            (unit_id, moment, moment, ACTIVE, *VIP_TIERS),
            aids,
            joins=f"LEFT JOIN {self.view_name}_keyinfo k ON k.aid = i.aid ",
        )

    def overdue_contacts(
        self,
        unit_id: str,
        *,
        as_of: datetime | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        known_at: datetime | None = None,
    ) -> dict[str, Any]:
        self.units.unit(unit_id)
        after = _overdue_cursor(cursor)
        cadence: dict[str, int] = self.options["cadence"]
        if not cadence:
            return {"items": [], "next_cursor": None}
        as_of = as_of or datetime.now(UTC)
        moment = utc_text(as_of)
        tiers = list(cadence)
        unsettled = self._unsettled(unit_id, as_of, known_at)
        rows: list[dict[str, Any]] = []
        if unsettled == []:
            pass
        elif known_at is not None:
            rows = self._overdue_rows_known_at(unit_id, as_of, known_at, tiers, unsettled)
        else:
            rows = self._subtree_rows(
                "SELECT c.client_id AS client_id, c.registered_at AS registered_at, "
                "i.tier AS tier, i.manager AS manager, (SELECT MAX(occurred_at) FROM "
                f"{self.view_name}_contacts t WHERE t.aid = i.aid AND t.occurred_at <= ?) "
                "AS last",
                f"{self.intervals.in_force()} AND i.status = ? AND i.tier IN {placeholders(tiers)}",
                (moment, unit_id, moment, moment, ACTIVE, *tiers),
                unsettled,
            )
        items = []
        for r in rows:
            late = as_of - falls_due(r["last"], r["registered_at"], cadence[r["tier"]])
            if late > timedelta(0):
                items.append(
                    {
                        "client_id": r["client_id"],
                        "tier": r["tier"],
                        "last_contact_at": from_utc_text(r["last"]),
                        "days_overdue": late.days,
                        "designated_manager": r["manager"],
                    }
                )
        if unsettled is not None:
            items += self._kept_overdue(unit_id, as_of, known_at, after, limit)

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
        as_of, after = as_of or datetime.now(UTC), cursor or ""
        unsettled = self._unsettled(unit_id, as_of, known_at)
        rows: list[dict[str, Any]] = []
        if unsettled == []:
            pass
        elif known_at is not None:
            rows = self._orphaned_known_at(unit_id, as_of, known_at, unsettled)
        else:
            moment = utc_text(as_of)
            rows = self._subtree_rows(
                "SELECT c.client_id AS client_id, i.tier AS tier, "
                "i.manager AS former_manager, s.departed_at AS since",
                f"{self.intervals.in_force()} AND i.status = ? AND s.departed_at <= ?",
                (unit_id, moment, moment, ACTIVE, moment),
                unsettled,
                joins=f"JOIN {self.view_name}_staff s ON s.staff_id = i.manager ",
            )
        rows = [r for r in rows if r["client_id"] > after]
        if unsettled is not None:
            rows += self._kept_orphans(unit_id, as_of, known_at, after, limit)
        rows.sort(key=lambda r: r["client_id"])
        return self._orphaned_page(rows[: limit + 1] if limit else rows, limit)

    @staticmethod
    def _orphaned_page(rows: list[dict[str, Any]], limit: int | None) -> dict[str, Any]:
        for r in rows:
            r["since"] = from_utc_text(r["since"])
        if limit is None or len(rows) <= limit:
            return {"items": rows, "next_cursor": None}
        return {"items": rows[:limit], "next_cursor": rows[limit - 1]["client_id"]}

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

    def funnel(
        self, unit_id: str, start: datetime, end: datetime, known_at: datetime | None = None
    ) -> dict[str, Any]:
        return self.prospects.funnel(unit_id, start, end, known_at)

    def complaints(
        self, unit_id: str, start: datetime, end: datetime, known_at: datetime | None = None
    ) -> dict[str, Any]:
        self.units.unit(unit_id)
        if known_at is not None:
            return self._complaints(self._complaint_rows_known_at(unit_id, start, end, known_at))
        return self._complaints(self._complaint_rows(unit_id, utc_text(start), utc_text(end)))

    def _complaints(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        # Each item's fields in the order the API's `Complaint` names them: the answer is
        # written to JSON as it is (ledger.api.routers.reports).
        by_manager: dict[str, int] = {}
        self.open_rows(rows, "complaint", "summary")
        items = []
        for r in rows:
            manager = r["designated_manager"]
            if manager is not None:
                by_manager[manager] = by_manager.get(manager, 0) + 1
            items.append(
                {
                    "client_id": r["client_id"],
                    "staff_id": r["staff_id"],
                    "designated_manager": manager,
                    "occurred_at": from_utc_text(r["occurred_at"]),
                    "summary": r["summary"],
                }
            )
        return {"items": items, "by_manager": by_manager}


class ReportsProjection(ViewProjection):
    name = "reports"
