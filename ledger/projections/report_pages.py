"""Completeness, overdue contacts and orphaned clients read from the kept standings
(`report_standings.py`): the clients whose standing holds at the report's time (and, as
known at a past time, whose latest event was recorded by then) are read from rows a page
reaches with an index; the others are folded as before and merged in.

Overdue contacts are ordered most overdue first, then by client id: a row's place depends on
the report's time only through its whole days overdue, so the rows are read in order of when
they fell due, and the last day a page reaches is read whole before the page is cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ledger.projections.kit.text import LAST_TEXT, chunks, from_utc_text, placeholders, utc_text

if TYPE_CHECKING:
    from ledger.projections.kit import ClientIntervals, UnitTree
    from ledger.projections.kit.staff import StaffTable
    from ledger.projections.report_standings import ReportStandings

DAY = timedelta(days=1)
FOLD_ALL = 5000


class StandingPages:
    """The reading half of `ReportStandings` (a mixin of `SQLReportsView`)."""

    view_name: str
    units: UnitTree
    intervals: ClientIntervals
    staff: StaffTable
    standings: ReportStandings

    if TYPE_CHECKING:

        def query(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...

    def _unsettled(self, unit_id: str, at: datetime, known_at: datetime | None) -> list[str] | None:
        """The clients of the subtree a report at `at` (as known at `known_at`) folds: their
        standing holds only from after `at`, or they changed after `known_at`. None: every
        client (no standings are kept while a rebuild has yet to end, or most changed)."""
        if not self.standings.kept():
            return None
        p = self.view_name
        subtree = (
            f"SELECT s.aid AS aid FROM {p}_standing s JOIN {p}_unit_paths u "
            "ON u.unit_id = s.unit_id AND u.ancestor_id = ? WHERE "
        )
        found = {
            r["aid"] for r in self.query(subtree + "s.stable_from > ?", (unit_id, utc_text(at)))
        }
        if known_at is not None:
            found |= {
                r["aid"]
                for r in self.query(subtree + "s.last_recorded > ?", (unit_id, utc_text(known_at)))
            }
        # Past a few thousand, one pass over the subtree folds them faster than lists of
        # them do (a report of long ago, or as known long ago).
        return None if len(found) > FOLD_ALL else sorted(found)

    def _settled(self, at: datetime, known_at: datetime | None) -> tuple[str, tuple[str, str]]:
        """The condition on a kept row (`r`) that its standing is read, not folded."""
        known = LAST_TEXT if known_at is None else utc_text(known_at)
        return "r.stable_from <= ? AND r.last_recorded <= ?", (utc_text(at), known)

    def _kept_completeness(self, unit_id: str, unsettled: list[str]) -> dict[str, list[int]]:
        """The subtree's counts per unit, `[vip_active, complete]`, the `unsettled` clients
        left out."""
        p = self.view_name
        counts: dict[str, list[int]] = {
            r["unit_id"]: [int(r["vip_active"]), int(r["complete"])]
            for r in self.query(
                f"SELECT k.unit_id AS unit_id, k.vip_active AS vip_active, k.complete AS complete "
                f"FROM {p}_completeness k JOIN {p}_unit_paths u ON u.unit_id = k.unit_id "
                "AND u.ancestor_id = ?",
                (unit_id,),
            )
        }
        for r in self._standing_rows(unsettled):
            if r["vip"]:
                counts[r["unit_id"]][0] -= 1
                counts[r["unit_id"]][1] -= int(r["complete"])
        return counts

    def _standing_rows(self, keys: list[str]) -> list[dict[str, Any]]:
        rows = []
        for part in chunks(keys):
            rows += self.query(
                f"SELECT unit_id, vip, complete FROM {self.view_name}_standing "
                f"WHERE aid IN {placeholders(part)}",
                part,
            )
        return rows

    def _kept_overdue(
        self,
        unit_id: str,
        at: datetime,
        known_at: datetime | None,
        after: tuple[int, str] | None,
        limit: int | None,
    ) -> list[dict[str, Any]]:
        """Overdue items of the kept rows after the sort key `after`: at least `limit` + 1
        of them (every one without a limit), each day they reach whole."""
        p, moment = self.view_name, utc_text(at)
        settled, params = self._settled(at, known_at)
        where = f"r.ancestor_id = ? AND r.due < ? AND {settled}"
        base: tuple[Any, ...] = (unit_id, moment, *params)
        select = (
            "SELECT r.client_id AS client_id, r.tier AS tier, r.last_contact AS last_contact, "
            f"r.manager AS manager, r.due AS due FROM {p}_overdue r WHERE {where}"
        )
        if after is not None:
            days, client_id = -after[0], after[1]
            # Fewer days overdue, or as many and a later client id.
            select += " AND r.due > ? AND (r.due > ? OR r.client_id > ?)"
            base += (utc_text(at - (days + 1) * DAY), utc_text(at - days * DAY), client_id)
        order = " ORDER BY r.due, r.client_id"
        if limit is None:
            return [_overdue_item(r, at) for r in self.query(select + order, base)]
        rows = self.query(select + order + " LIMIT ?", (*base, limit + 1))
        if len(rows) > limit:
            # The rest of the last day reached: its clients go in client id order.
            days = (at - from_utc_text(rows[-1]["due"])).days  # type: ignore[operator]
            rows += self.query(
                select + " AND r.due > ? AND r.due <= ?",
                (*base, utc_text(at - (days + 1) * DAY), utc_text(at - days * DAY)),
            )
            rows = list({r["client_id"]: r for r in rows}.values())
        return [_overdue_item(r, at) for r in rows]

    def _kept_orphans(
        self,
        unit_id: str,
        at: datetime,
        known_at: datetime | None,
        after: str,
        limit: int | None,
    ) -> list[dict[str, Any]]:
        """Orphaned clients of the kept rows after client id `after`, in client id order:
        `limit` + 1 of them (every one without a limit). As known at a past time, a
        departure counts if it was recorded by then."""
        p, moment = self.view_name, utc_text(at)
        settled, params = self._settled(at, known_at)
        select = (
            "SELECT r.client_id AS client_id, r.tier AS tier, r.manager AS former_manager, "
            f"r.since AS since FROM {p}_orphans r WHERE r.ancestor_id = ? AND {settled} "
            "AND r.client_id > ?"
        )
        base = (unit_id, *params, after)
        if known_at is not None:
            departed = self.staff.departures_known(self.intervals.known_position(known_at))
            rows = []
            for r in self.query(select + " ORDER BY r.client_id", base):
                since = departed.get(r["former_manager"])
                if since is not None and since <= moment:
                    rows.append({**r, "since": since})
            return rows[: limit + 1] if limit else rows
        select += " AND r.since <= ? ORDER BY r.client_id"
        if limit is None:
            return self.query(select, (*base, moment))
        return self.query(select + " LIMIT ?", (*base, moment, limit + 1))

    def _complaint_rows(self, unit_id: str, start: str, end: str) -> list[dict[str, Any]]:
        """The subtree's complaints in `[start, end)`, oldest first: from the rows kept
        per unit above the client, else joined from the complaints, clients and
        intervals."""
        p = self.view_name
        if self.standings.kept():
            return self.query(
                "SELECT client_id, aid, staff_id, occurred_at, summary, "
                f"manager AS designated_manager FROM {p}_unit_complaints "
                "WHERE ancestor_id = ? AND occurred_at >= ? AND occurred_at < ? "
                "ORDER BY ancestor_id, occurred_at, client_id, version",
                (unit_id, start, end),
            )
        return self.query(
            "SELECT c.client_id AS client_id, k.aid AS aid, k.staff_id AS staff_id, "
            "k.occurred_at AS occurred_at, k.summary AS summary, "
            "i.manager AS designated_manager "
            f"FROM {p}_complaints k JOIN {p}_clients c ON c.aid = k.aid "
            f"JOIN {p}_unit_paths u ON u.unit_id = c.unit_id AND u.ancestor_id = ? "
            f"JOIN {p}_intervals i ON i.aid = k.aid "
            "AND i.valid_from <= k.occurred_at AND (i.valid_to IS NULL OR i.valid_to > "
            "k.occurred_at) WHERE k.occurred_at >= ? AND k.occurred_at < ? "
            "ORDER BY k.occurred_at, c.client_id, k.version",
            (unit_id, start, end),
        )


def _overdue_item(row: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {
        "client_id": row["client_id"],
        "tier": row["tier"],
        "last_contact_at": from_utc_text(row["last_contact"]),
        "days_overdue": (at - from_utc_text(row["due"])).days,  # type: ignore[operator]
        "designated_manager": row["manager"],
    }
