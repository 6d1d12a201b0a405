"""The tier roster: clients by unit subtree, tier, designated manager and status, at any
effective time, with counts per tier; and tier growth, read from the same counts.

Tier growth is a report (GET /v1/reports/tier-growth) but is answered here: it reads the
tier counts the roster keeps for its summary. On SQLite each view is a file of its own, so
the reports view cannot read the roster's counts; it would have to keep them too. Then
every refold while following would update the counts twice, and the reports' rebuild,
already the longest, would grow by the counts' fill: 0.21 s of CPU at the end of a rebuild
of 200,000 events (bench/rebuild.py's log, SQLite), 4% more than the reports' 5.1 s (the
roster's rebuild is 2.5 s with it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from ledger.domain.values import ACTIVE, CHURNED, TIERS, VIP_TIERS
from ledger.projections.kit import (
    ActiveTierCounts,
    BatchView,
    ClientIntervals,
    Part,
    RecordedTimes,
    UnitTree,
    ViewProjection,
    placeholders,
    utc_text,
)
from ledger.projections.kit.intervals import REGISTERED, change_points
from ledger.projections.kit.timeline import growth_rate, share

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class RosterView(ABC):
    """The queries of the roster read model."""

    @abstractmethod
    def roster(
        self,
        unit_id: str,
        *,
        as_of: datetime | None = None,
        tier: str | None = None,
        manager_id: str | None = None,
        status: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        client_ids: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """`{items: [{client_id, name, unit_id, tier, status, designated_manager}],
        next_cursor}` of the subtree at `as_of` (now by default), ordered by client id;
        `cursor` is the previous page's `next_cursor`; `client_ids`: only these."""

    @abstractmethod
    def churned_before(self, unit_id: str, moment: datetime) -> list[str]:
        """The clients of the subtree churned now that began a churned spell by `moment`
        (those whose retention period may have passed), in client id order."""

    @abstractmethod
    def roster_summary(
        self, unit_id: str, *, as_of: datetime | None = None, known_at: datetime | None = None
    ) -> dict[str, Any]:
        """`{unit_id, as_of, known_at, counts: {standard, gold, platinum, diamond}, vip}`:
        active clients of the subtree at `as_of` (now by default), as the ledger knew them
        at `known_at` (by default, as it knows them now)."""

    @abstractmethod
    def tier_growth(
        self, unit_id: str, start: datetime, end: datetime, known_at: datetime | None = None
    ) -> dict[str, Any]:
        """`{unit_id, from, to, tiers: {tier: {start, end, change, growth_rate}}, vip,
        share_of_parent: {tier: ratio}, sibling_ranking: [{unit_id, vip_growth_rate}]}` for
        the period `[from, to)`: active clients at `from` and just before `to`; with
        `known_at`, as the ledger knew them then."""


def growth(start: dict[str, int], end: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Start, end, change and growth rate per tier and for VIP."""
    rows = {tier: _growth(start[tier], end[tier]) for tier in TIERS}
    rows["vip"] = _growth(sum(start[t] for t in VIP_TIERS), sum(end[t] for t in VIP_TIERS))
    return rows


def _growth(start: int, end: int) -> dict[str, Any]:
    return {
        "start": start,
        "end": end,
        "change": end - start,
        "growth_rate": growth_rate(start, end),
    }


class SQLRosterView(BatchView, RosterView):
    """The unit tree, the clients' intervals (with when each change was recorded, so the
    summary can be read as known at a past time) and the tier counts. (Each query's
    signature repeats the interface's, as an implementation of an abstract method must.)"""

    view_name = "roster"

    def compose(self) -> list[Part]:
        self.units, self.recorded = UnitTree(self), RecordedTimes(self)
        self.intervals = ClientIntervals(self, self.units, recorded=self.recorded, members=True)
        self.counts = ActiveTierCounts(self, self.units, self.intervals)
        return [self.units, self.recorded, self.intervals, self.counts]

    def tier_counts_of(
        self, unit_ids: list[str], at: datetime, *, just_before: bool = False
    ) -> dict[str, dict[str, int]]:
        return self.counts.tier_counts_of(unit_ids, at, just_before=just_before)

    def tier_counts(
        self, unit_id: str, at: datetime, *, just_before: bool = False
    ) -> dict[str, int]:
        return self.counts.tier_counts(unit_id, at, just_before=just_before)

    def roster(
        self,
        unit_id: str,
        *,
        as_of: datetime | None = None,
        tier: str | None = None,
        manager_id: str | None = None,
        status: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        client_ids: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        self.units.unit(unit_id)
        limit = max(1, min(limit, MAX_LIMIT))
        moment = utc_text(as_of or datetime.now(UTC))
        # A page in client id order: through the subtree's members, read in that order, up
        # to the page's end; one manager's clients (few) through the manager's index.
        in_order = manager_id is None
        key = "m.client_id" if in_order else "c.client_id"
        # The unit is the first parameter either way: of the WHERE, or of subtree_join's ON.
        where = [*(["m.ancestor_id = ?"] if in_order else []), self.intervals.in_force()]
        params: list[Any] = [unit_id, moment, moment]
        for column, value in (("i.tier", tier), ("i.manager", manager_id), ("i.status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if cursor:
            where.append(f"{key} > ?")
            params.append(cursor)
        if client_ids is not None:
            if not client_ids:
                return {"items": [], "next_cursor": None}
            where.append(f"{key} IN {placeholders(client_ids)}")
            params.extend(client_ids)
        source = self.intervals.members_join() if in_order else self.intervals.subtree_join()
        rows = self.query(
            "SELECT c.aid AS aid, c.client_id AS client_id, c.name AS name, "
            "c.unit_id AS unit_id, "
            "i.tier AS tier, i.status AS status, i.manager AS designated_manager "
            f"{source}WHERE {' AND '.join(where)} "
            f"ORDER BY {key} LIMIT ?",
            (*params, limit + 1),
        )
        # Names are kept sealed under each client's key (ledger.privacy); null once erased.
        items = rows[:limit]
        self.open_rows(items, "name", "name")
        next_cursor = items[-1]["client_id"] if len(rows) > limit else None
        return {"items": items, "next_cursor": next_cursor}

    def query_index_statements(self) -> list[str]:
        # The few clients churned long ago, without visiting every client of the subtree
        # (the erasable list visited and loaded every churned one: 489 ms of CPU for the
        # branch of the 100,000-client demo).
        return [
            *super().query_index_statements(),
            "CREATE INDEX IF NOT EXISTS roster_intervals_churned ON roster_intervals "
            "(valid_from) WHERE status = 'churned'",
        ]

    def churned_before(self, unit_id: str, moment: datetime) -> list[str]:
        self.units.unit(unit_id)
        now = utc_text(datetime.now(UTC))
        # Driven by the spells (the IN list), never by the subtree's clients.
        rows = self.query(
            f"SELECT DISTINCT c.client_id AS client_id {self.intervals.subtree_join()}"
            "WHERE i.aid IN (SELECT e.aid FROM roster_intervals e WHERE e.status = 'churned' "
            f"AND e.valid_from <= ?) AND {self.intervals.in_force()} AND i.status = ? "
            "ORDER BY c.client_id",
            (unit_id, utc_text(moment), now, now, CHURNED),
        )
        return [row["client_id"] for row in rows]

    def roster_summary(
        self, unit_id: str, *, as_of: datetime | None = None, known_at: datetime | None = None
    ) -> dict[str, Any]:
        self.units.unit(unit_id)
        as_of = as_of or datetime.now(UTC)
        if known_at is None:
            counts = self.counts.tier_counts(unit_id, as_of)
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
        rows = self.query(
            f"SELECT ch.aid AS aid, ch.field AS field, ch.value AS value FROM {p}_changes ch "
            f"JOIN {p}_clients c ON c.aid = ch.aid "
            f"JOIN {p}_unit_paths u ON u.unit_id = c.unit_id AND u.ancestor_id = ? "
            f"LEFT JOIN {p}_recorded r ON r.seq = ch.seq "
            f"WHERE ch.field IN ('tier', 'status', '{REGISTERED}') AND ch.effective_at <= ? "
            "AND (r.recorded_at IS NULL OR r.recorded_at <= ?) "
            "ORDER BY ch.aid, ch.effective_at, ch.seq",
            (unit_id, utc_text(as_of), utc_text(known_at)),
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

    def tier_growth(
        self, unit_id: str, start: datetime, end: datetime, known_at: datetime | None = None
    ) -> dict[str, Any]:
        parent_id = self.units.unit(unit_id)["parent_id"]
        siblings = self.units.children(parent_id) if parent_id is not None else [unit_id]
        units = sorted({unit_id, *siblings, *([parent_id] if parent_id else [])})
        if known_at is None:
            at_start = self.counts.tier_counts_of(units, start)
            at_end = self.counts.tier_counts_of(units, end, just_before=True)
        else:
            just_before = end - timedelta(microseconds=1)
            at_start = {u: self._tier_counts_known_at(u, start, known_at) for u in units}
            at_end = {u: self._tier_counts_known_at(u, just_before, known_at) for u in units}
        periods = {u: growth(at_start[u], at_end[u]) for u in units}
        rows = periods[unit_id]
        share_of_parent: dict[str, float | None] = {}
        if parent_id is not None:
            parent = periods[parent_id]
            share_of_parent = {
                tier: share(rows[tier]["change"], parent[tier]["change"])
                for tier in (*VIP_TIERS, "vip")
            }
        ranking = [
            {"unit_id": u, "vip_growth_rate": periods[u]["vip"]["growth_rate"]} for u in siblings
        ]
        ranking.sort(key=lambda r: (r["vip_growth_rate"] is None, -(r["vip_growth_rate"] or 0)))
        vip = rows.pop("vip")
        return {
            "unit_id": unit_id,
            "from": start,
            "to": end,
            "tiers": rows,
            "vip": vip,
            "share_of_parent": share_of_parent,
            "sibling_ranking": ranking,
        }


class RosterProjection(ViewProjection):
    name = "roster"
