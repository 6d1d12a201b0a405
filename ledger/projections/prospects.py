"""Prospects and what became of them, for the funnel per source (DOMAIN.md 1.1). A part of
the reports read model: the funnel is a report of a unit's subtree, and that view already
keeps the unit tree it is answered over."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.persistence import Tracking

from ledger.domain.prospect import CONVERTED, DROPPED, Prospect
from ledger.domain.values import SOURCES
from ledger.projections.kit import BatchView, Handler, Part, UnitTree
from ledger.projections.kit.text import aggregate_key, utc_text
from ledger.projections.kit.timeline import share


class ProspectFunnel(Part):
    def __init__(self, view: BatchView, units: UnitTree) -> None:
        super().__init__(view)
        self.units = units

    def tables(self) -> list[str]:
        p = self.prefix
        return [
            f"CREATE TABLE IF NOT EXISTS {p}_prospects (aid TEXT PRIMARY KEY, prospect_id TEXT, "
            "unit_id TEXT, source TEXT, owner TEXT, found_at TEXT, outcome TEXT, "
            "client_id TEXT, closed_at TEXT)",
            # When each prospect, and its outcome, was recorded: the funnel as known at a
            # past time (API.md 1.1, Audit).
            f"CREATE TABLE IF NOT EXISTS {p}_prospects_known (aid TEXT PRIMARY KEY, "
            "recorded_at TEXT, closed_recorded_at TEXT)",
        ]

    def query_indexes(self) -> list[str]:
        p = self.prefix
        return [
            f"CREATE INDEX IF NOT EXISTS {p}_prospects_unit ON {p}_prospects (unit_id, found_at)"
        ]

    def handlers(self) -> dict[type, Handler]:
        return {
            Prospect.Recorded: self.recorded,
            Prospect.Converted: self.converted,
            Prospect.Dropped: self.dropped,
        }

    def recorded(self, event: Prospect.Recorded, tracking: Tracking) -> None:
        view, p, key = self.view, self.prefix, aggregate_key(event)
        with view.write() as c:
            view.execute(
                c,
                f"INSERT INTO {p}_prospects (aid, prospect_id, unit_id, source, owner, "
                "found_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (aid) DO NOTHING",
                (
                    key,
                    event.prospect_id,
                    event.unit_id,
                    event.source,
                    event.owner_staff_id,
                    utc_text(event.effective_at),
                ),
            )
            view.execute(
                c,
                f"INSERT INTO {p}_prospects_known (aid, recorded_at) VALUES (?, ?) "
                "ON CONFLICT (aid) DO NOTHING",
                (key, utc_text(event.timestamp)),
            )
            view.advance(tracking)

    def converted(self, event: Prospect.Converted, tracking: Tracking) -> None:
        self._closed(event, tracking, CONVERTED, event.client_id)

    def dropped(self, event: Prospect.Dropped, tracking: Tracking) -> None:
        self._closed(event, tracking, DROPPED, None)

    def _closed(self, event: Any, tracking: Tracking, outcome: str, client_id: str | None) -> None:
        view = self.view
        with view.write():
            # Written with the batch (`flush`), after its waiting rows: an UPDATE now would
            # send every row waiting before it, one small `executemany` each, 12,500 times
            # at 200,000 events (6% of a catch-up of the reports and accountability views).
            closings: dict[str, tuple[str, ...]] = view.batch_memo("closings", dict)
            closings[aggregate_key(event)] = (
                outcome,
                client_id,
                utc_text(event.effective_at),
                utc_text(event.timestamp),
            )
            view.advance(tracking)

    def flush(self, c: Any, marked: dict[str, set[str]]) -> None:
        closings: dict[str, tuple[str, ...]] = self.view.batch_memo("closings", dict)
        if not closings:
            return
        view, p, keys = self.view, self.prefix, sorted(closings)
        view.execute_many(
            c,
            f"UPDATE {p}_prospects SET outcome = ?, client_id = ?, closed_at = ? WHERE aid = ?",
            [(*closings[key][:3], key) for key in keys],
        )
        view.execute_many(
            c,
            f"UPDATE {p}_prospects_known SET closed_recorded_at = ? WHERE aid = ?",
            [(closings[key][3], key) for key in keys],
        )

    def funnel(
        self, unit_id: str, start: datetime, end: datetime, known_at: datetime | None = None
    ) -> dict[str, Any]:
        """Prospects of the subtree found in `[start, end)`, per source: how many, and how
        many of them were converted or dropped before `end`; with `known_at`, of those
        recorded by then, and outcomes recorded by then."""
        self.units.unit(unit_id)
        p, moment = self.prefix, utc_text(end)
        closed, known, params = "r.closed_at < ?", "", [moment]
        if known_at is not None:
            recorded = utc_text(known_at)
            closed += " AND k.closed_recorded_at <= ?"
            params.append(recorded)
            known = f"JOIN {p}_prospects_known k ON k.aid = r.aid AND k.recorded_at <= ? "
        rows = self.view.query(
            "SELECT r.source AS source, COUNT(*) AS prospects, "
            f"SUM(CASE WHEN r.outcome = ? AND {closed} THEN 1 ELSE 0 END) AS converted, "
            f"SUM(CASE WHEN r.outcome = ? AND {closed} THEN 1 ELSE 0 END) AS dropped "
            f"FROM {p}_prospects r JOIN {p}_unit_paths u ON u.unit_id = r.unit_id "
            f"AND u.ancestor_id = ? {known}"
            "WHERE r.found_at >= ? AND r.found_at < ? GROUP BY r.source",
            (
                CONVERTED,
                *params,
                DROPPED,
                *params,
                unit_id,
                *([recorded] if known_at is not None else []),
                utc_text(start),
                moment,
            ),
        )
        found = {r["source"]: r for r in rows}
        by_source = {}
        for source in SOURCES:
            row = found.get(source, {})
            prospects = int(row.get("prospects") or 0)
            converted = int(row.get("converted") or 0)
            by_source[source] = {
                "prospects": prospects,
                "converted": converted,
                "dropped": int(row.get("dropped") or 0),
                "conversion_rate": share(converted, prospects),
            }
        return {"unit_id": unit_id, "from": start, "to": end, "by_source": by_source}
