"""Active clients per unit and tier over effective time, kept as counts so that a subtree's
tier counts at any moment cost a few look-ups per unit, not a probe per client.

Each active interval of a client adds +1 to its tier at `valid_from` and -1 at `valid_to`,
at the client's (outlet) unit. The net changes are kept at three grains: per exact moment,
per UTC day and per UTC month. The count in force at a moment T is then the sum of the
months before T's month, the days of T's month before T's day, and the moments of T's day
up to T: at most 31 day rows and one day's moments per unit and tier, whatever the size of
the ledger or the age of T.

When a client's intervals are refolded (a new or backdated event), the old intervals'
changes are taken back and the new ones added, so a backdated change moves every count it
should and nothing else. A rebuild keeps no counts while it replays the log and counts the
finished intervals once, in SQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ledger.domain.values import ACTIVE, TIERS
from ledger.projections.kit.engine import BatchView, Part
from ledger.projections.kit.intervals import ClientIntervals, IntervalRow
from ledger.projections.kit.text import placeholders, utc_text
from ledger.projections.kit.units import UnitTree

# (table suffix, key column, length of the UTC time text that the grain keeps)
GRAINS = (("tier_moments", "at", None), ("tier_days", "day", 10), ("tier_months", "month", 7))

CountKey = tuple[str, str, str]  # (unit_id, moment, tier)


def interval_changes(
    rows: Sequence[tuple[str, str, str | None, str | None, str | None]], sign: int
) -> dict[CountKey, int]:
    """The net count changes of `(unit_id, valid_from, valid_to, tier, status)` rows of
    active intervals: `sign` at each start, `-sign` at each end."""
    net: dict[CountKey, int] = defaultdict(int)
    for unit_id, valid_from, valid_to, tier, status in rows:
        if status != ACTIVE or tier is None:
            continue
        net[(unit_id, valid_from, tier)] += sign
        if valid_to is not None:
            net[(unit_id, valid_to, tier)] -= sign
    return net


class ActiveTierCounts(Part):
    """Counts of active clients per unit and tier, kept from `intervals` as it refolds."""

    def __init__(self, view: BatchView, units: UnitTree, intervals: ClientIntervals) -> None:
        super().__init__(view)
        self.units = units
        intervals.refold_listeners.append(self._refolded)

    def tables(self) -> list[str]:
        p = self.prefix
        return [
            f"CREATE TABLE IF NOT EXISTS {p}_{table} (unit_id TEXT, {column} TEXT, "
            f"tier TEXT, n BIGINT, PRIMARY KEY (unit_id, {column}, tier))"
            for table, column, _ in GRAINS
        ]

    # ---- upkeep -------------------------------------------------------------------------

    def _refolded(self, c: Any, keys: Sequence[str], rows: list[IntervalRow]) -> None:
        """Before the clients' intervals are replaced by `rows`: take back the old ones'
        changes and add the new ones'."""
        view = self.view
        if view.rebuilding:
            return  # counted once at the end, from the finished intervals (`rebuilt`)
        p, marks = self.prefix, placeholders(keys)
        units = {
            r["aid"]: r["unit_id"]
            for r in view.fetch(
                c, f"SELECT aid, unit_id FROM {p}_clients WHERE aid IN {marks}", keys
            )
        }
        old = view.fetch(
            c,
            f"SELECT aid, valid_from, valid_to, tier, status FROM {p}_intervals "
            f"WHERE aid IN {marks}",
            keys,
        )
        net = interval_changes(
            [
                (units[r["aid"]], r["valid_from"], r["valid_to"], r["tier"], r["status"])
                for r in old
            ],
            -1,
        )
        for key, n in interval_changes([(units[r[0]], *r[1:5]) for r in rows], 1).items():
            net[key] += n
        self._add_counts(c, net)

    def _add_counts(self, c: Any, net: dict[CountKey, int]) -> None:
        """Add the net changes (zeros are skipped) at every grain."""
        p = self.prefix
        for table, column, width in GRAINS:
            grain: dict[CountKey, int] = defaultdict(int)
            for (unit_id, at, tier), n in net.items():
                grain[(unit_id, at[:width] if width else at, tier)] += n
            rows = sorted((*key, n) for key, n in grain.items() if n)
            self.view.execute_many(
                c,
                f"INSERT INTO {p}_{table} (unit_id, {column}, tier, n) VALUES (?, ?, ?, ?) "
                f"ON CONFLICT (unit_id, {column}, tier) DO UPDATE SET n = {p}_{table}.n + "
                "excluded.n",
                rows,
            )
            # A count brought back to zero goes, so the rows never depend on how the log
            # was cut into batches (a rebuild gives exactly the incremental rows).
            self.view.execute_many(
                c,
                f"DELETE FROM {p}_{table} WHERE unit_id = ? AND {column} = ? AND tier = ? "
                "AND n = 0",
                (row[:3] for row in rows),
            )

    def rebuilt(self) -> None:
        with self.view.transaction() as c:
            self._fill_counts(c)

    def upgrade(self) -> None:
        """Fill the counts of a view built before they were kept, from its intervals."""
        with self.view.transaction() as c:
            if self.view.fetch(c, f"SELECT 1 AS x FROM {self.prefix}_tier_moments LIMIT 1"):
                return
            self._fill_counts(c)

    def _fill_counts(self, c: Any) -> None:
        """Every count from the intervals, in the database: the same net changes as the
        upkeep's, with no client's rows in Python."""
        p, view = self.prefix, self.view
        for table, _, _ in GRAINS:
            view.execute(c, f"DELETE FROM {p}_{table}")
        active = (
            f"FROM {p}_intervals i JOIN {p}_clients c ON c.aid = i.aid "
            "WHERE i.status = ? AND i.tier IS NOT NULL"
        )
        view.execute(
            c,
            f"INSERT INTO {p}_tier_moments (unit_id, at, tier, n) "
            "SELECT unit_id, at, tier, SUM(n) FROM ("
            f"SELECT c.unit_id AS unit_id, i.valid_from AS at, i.tier AS tier, 1 AS n {active} "
            f"UNION ALL SELECT c.unit_id, i.valid_to, i.tier, -1 {active} "
            "AND i.valid_to IS NOT NULL"
            ") x GROUP BY unit_id, at, tier HAVING SUM(n) <> 0",
            (ACTIVE, ACTIVE),
        )
        for (table, column, width), (source, source_column, _) in zip(
            GRAINS[1:], GRAINS, strict=False
        ):
            grain = f"substr({source_column}, 1, {width})"
            view.execute(
                c,
                f"INSERT INTO {p}_{table} (unit_id, {column}, tier, n) "
                f"SELECT unit_id, {grain}, tier, SUM(n) FROM {p}_{source} "
                f"GROUP BY unit_id, {grain}, tier HAVING SUM(n) <> 0",
            )

    # ---- queries ------------------------------------------------------------------------

    def tier_counts_of(
        self, unit_ids: Sequence[str], at: datetime, *, just_before: bool = False
    ) -> dict[str, dict[str, int]]:
        """Active clients per tier in each unit's subtree at `at` (or just before it)."""
        p = self.prefix
        moment = utc_text(at)
        month, day = moment[:7], moment[:10]
        units = placeholders(unit_ids)
        join = f"JOIN {p}_unit_paths u ON u.unit_id = g.unit_id AND u.ancestor_id IN {units}"
        rows = self.view.query(
            "SELECT ancestor_id, tier, SUM(n) AS n FROM ("
            f"SELECT u.ancestor_id AS ancestor_id, g.tier AS tier, g.n AS n "
            f"FROM {p}_tier_months g {join} WHERE g.month < ? "
            "UNION ALL "
            f"SELECT u.ancestor_id, g.tier, g.n FROM {p}_tier_days g {join} "
            "WHERE g.day >= ? AND g.day < ? "
            "UNION ALL "
            f"SELECT u.ancestor_id, g.tier, g.n FROM {p}_tier_moments g {join} "
            f"WHERE g.at >= ? AND g.at {'<' if just_before else '<='} ?"
            ") x GROUP BY ancestor_id, tier",
            (*unit_ids, month, *unit_ids, month, day, *unit_ids, day, moment),
        )
        counts = {unit_id: dict.fromkeys(TIERS, 0) for unit_id in unit_ids}
        for row in rows:
            counts[row["ancestor_id"]][row["tier"]] = int(row["n"])
        return counts

    def tier_counts(
        self, unit_id: str, at: datetime, *, just_before: bool = False
    ) -> dict[str, int]:
        return self.tier_counts_of([unit_id], at, just_before=just_before)[unit_id]
