"""The maintenance read model's part that keeps each client's standing (see
`maintenance_standing.py`) where a report page finds it with an index: a row per client and
per unit above it (its outlet up to the bank), keyed `(ancestor_id, client_id)`, so a unit's
page is one range of that key walked in client id order up to its LIMIT. The segments are
kept as counts per outlet, segment key and value.

Measured at the 100,000-client demo (bench/seed_reports.py): folding every client's file at
query time cost 0.5-4 s a page; the standings answer in milliseconds (bench/RESULTS.md).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from ledger.domain.values import ACTIVE
from ledger.projections.kit import BatchView, Part, StaffTable, UnitHeads
from ledger.projections.kit.text import (
    LAST_TEXT,
    chunks,
    from_utc_text,
    placeholders,
    utc_text,
)
from ledger.projections.maintenance_files import ClientFiles
from ledger.projections.maintenance_filters import segment_of
from ledger.projections.maintenance_rules import ClientFile, Organisation, assets_at, status_at
from ledger.projections.maintenance_standing import (
    FILTER_COLUMNS,
    REFERRAL_COLUMNS,
    REPORT_COLUMNS,
    SEGMENT_COLUMNS,
    segment_assets,
    segment_contribution,
    standing,
)

COLUMNS = (
    "ancestor_id",
    "client_id",
    "aid",
    "unit_id",
    *REPORT_COLUMNS,
    *SEGMENT_COLUMNS,
    *FILTER_COLUMNS,
    *REFERRAL_COLUMNS,
)
_TYPES = {
    "active": "BIGINT",
    "board_always": "BIGINT",
    "gap": "BIGINT",
    "assets_value": "DOUBLE PRECISION",
    "peak_value": "DOUBLE PRECISION",
}
# Summed per outlet, segment key and value (`segment_contribution`).
_COUNTED = ("clients", "assets_high", "assets_low", "tenths", "cents")


class ClientStandings(Part):
    """`{p}_standings`, `{p}_team_members` (who was ever on whose team: a departure moves
    their clients' standings) and `{p}_segment_counts`. Recomputed, for every client the
    batch marked "file" or "standing", every client of a departed staff member ("staff")
    and every client of an outlet whose head changed ("unit"), before the batch commits."""

    def __init__(
        self, view: BatchView, files: ClientFiles, staff: StaffTable, heads: UnitHeads
    ) -> None:
        super().__init__(view)
        self.files, self.staff, self.heads = files, staff, heads

    def tables(self) -> list[str]:
        p = self.prefix
        columns = ", ".join(f"{name} {_TYPES.get(name, 'TEXT')}" for name in COLUMNS)
        counted = ", ".join(f"{name} BIGINT" for name in _COUNTED)
        return [
            f"CREATE TABLE IF NOT EXISTS {p}_standings ({columns}, "
            "PRIMARY KEY (ancestor_id, client_id))",
            f"CREATE INDEX IF NOT EXISTS {p}_standings_aid ON {p}_standings (aid)",
            f"CREATE TABLE IF NOT EXISTS {p}_team_members (staff_id TEXT, aid TEXT, "
            "PRIMARY KEY (staff_id, aid))",
            f"CREATE TABLE IF NOT EXISTS {p}_segment_counts (unit_id TEXT, by_key TEXT, "
            f"value TEXT, {counted}, PRIMARY KEY (unit_id, by_key, value))",
        ]

    def query_indexes(self) -> list[str]:
        p = self.prefix
        return [
            f"CREATE INDEX IF NOT EXISTS {p}_standings_settling ON {p}_standings "
            "(ancestor_id, stable_from)",
            f"CREATE INDEX IF NOT EXISTS {p}_standings_referred ON {p}_standings "
            "(ancestor_id, registered_at) WHERE referred_by IS NOT NULL",
            # Leader visits look for the few clients with large assets (5.6% of the demo):
            # walking this rather than the rows, 404 candidates of a branch of 100,000
            # cost 0.8 ms of SQL instead of 4.6.
            f"CREATE INDEX IF NOT EXISTS {p}_standings_assets ON {p}_standings "
            "(ancestor_id, client_id, active, assets_value, stable_from, peak_value, aid)",
        ]

    # ---- upkeep -------------------------------------------------------------------------

    def flush(self, c: Any, marked: dict[str, set[str]]) -> None:
        keys = set(marked.get("file", ())) | set(marked.get("standing", ()))
        units = set(marked.get("unit", ()))
        keys |= self._clients_of_staff(c, marked.get("staff", ()), units)
        keys |= self._clients_of_outlets(c, units)
        keys |= self._referred_by(c, keys)
        if keys:
            self.recompute(c, sorted(keys))

    def _clients_of_staff(self, c: Any, staff_keys: Iterable[str], units: set[str]) -> set[str]:
        """The clients whose team the departed staff were ever on; the units they headed
        go into `units` (their outlets' clients may have lost their director)."""
        staff_ids = self.staff.staff_ids(c, staff_keys)
        found: set[str] = set()
        for part in chunks(staff_ids):
            marks = placeholders(part)
            for row in self.view.fetch(
                c, f"SELECT aid FROM {self.prefix}_team_members WHERE staff_id IN {marks}", part
            ):
                found.add(row["aid"])
            for row in self.view.fetch(
                c, f"SELECT unit_aid FROM {self.prefix}_heads WHERE staff_id IN {marks}", part
            ):
                units.add(row["unit_aid"])
        return found

    def _referred_by(self, c: Any, keys: set[str]) -> set[str]:
        """The clients the given clients referred: credited to their manager of the time."""
        p, found = self.prefix, set()
        for part in chunks(sorted(keys)):
            for row in self.view.fetch(
                c,
                f"SELECT r.aid AS aid FROM {p}_files f JOIN {p}_files r "
                f"ON r.referred_by = f.client_id WHERE f.aid IN {placeholders(part)}",
                part,
            ):
                found.add(row["aid"])
        return found

    def _clients_of_outlets(self, c: Any, unit_keys: Iterable[str]) -> set[str]:
        p, found = self.prefix, set()
        for key in unit_keys:
            for row in self.view.fetch(
                c,
                f"SELECT s.aid AS aid FROM {p}_units u JOIN {p}_standings s "
                "ON s.ancestor_id = u.unit_id AND s.unit_id = u.unit_id WHERE u.aid = ?",
                (key,),
            ):
                found.add(row["aid"])
        return found

    def recompute(self, c: Any, keys: Sequence[str]) -> None:
        """The clients' standings, team members and segment counts, from their files."""
        view, p = self.view, self.prefix
        roles, departed = self.staff.roles_and_departures(c)
        org = Organisation(roles=roles, departed=departed, heads=self.heads.by_unit(c))
        ancestors: dict[str, list[str]] = defaultdict(list)
        for row in view.fetch(c, f"SELECT ancestor_id, unit_id FROM {p}_unit_paths"):
            ancestors[row["unit_id"]].append(row["ancestor_id"])
        for part in chunks(keys):
            files = self._files(c, part)
            contacts = self.files.contacts(list(files), LAST_TEXT, cursor=c)
            counts: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0] * 5)
            own = ", ".join(SEGMENT_COLUMNS)
            for row in view.fetch(
                c,
                f"SELECT unit_id, active, {own} FROM {p}_standings WHERE aid IN "
                f"{placeholders(part)} AND ancestor_id = unit_id",
                part,
            ):
                _count(counts, row, -1)
            view.execute(c, f"DELETE FROM {p}_standings WHERE aid IN {placeholders(part)}", part)
            rows, members = [], set()
            referrers = self._referrers(c, files.values())
            for key, file in files.items():
                referrer = referrers.get(file.get("referred_by") or "")
                row = standing(file, contacts.get(key, []), org, view.options, referrer)
                row.update(aid=key, client_id=file["client_id"], unit_id=file["unit_id"])
                _count(counts, row, +1)
                for ancestor in ancestors.get(file["unit_id"], [file["unit_id"]]):
                    rows.append(tuple({**row, "ancestor_id": ancestor}[n] for n in COLUMNS))
                members.update(
                    (entry[2], key) for timeline in file["team"].values() for entry in timeline
                )
            view.execute_many(
                c,
                f"INSERT INTO {p}_standings ({', '.join(COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(COLUMNS))})",
                rows,
            )
            view.execute_many(
                c,
                f"INSERT INTO {p}_team_members (staff_id, aid) VALUES (?, ?) "
                "ON CONFLICT DO NOTHING",
                sorted(members),
            )
            self._add_counts(c, counts)

    def _files(self, c: Any, keys: Sequence[str]) -> dict[str, ClientFile]:
        """The clients' files: the open batch's, else as stored."""
        memo: dict[str, ClientFile | None] = self.view.batch_memo("files", dict)
        files = {key: memo[key] for key in keys if memo.get(key) is not None}
        missing = [key for key in keys if key not in files]
        if missing:
            for row in self.view.fetch(
                c,
                f"SELECT aid, data FROM {self.prefix}_files WHERE aid IN {placeholders(missing)}",
                missing,
            ):
                files[row["aid"]] = json.loads(row["data"])
        return files  # type: ignore[return-value]

    def _referrers(self, c: Any, files: Iterable[ClientFile]) -> dict[str, ClientFile]:
        ids = sorted({file["referred_by"] for file in files if file.get("referred_by")})
        found = {}
        for part in chunks(ids):
            for row in self.view.fetch(
                c,
                f"SELECT client_id, data FROM {self.prefix}_files "
                f"WHERE client_id IN {placeholders(part)}",
                part,
            ):
                found[row["client_id"]] = json.loads(row["data"])
        return found

    def _add_counts(self, c: Any, counts: dict[tuple[str, str, str], list[int]]) -> None:
        added = ", ".join(
            f"{n} = {self.prefix}_segment_counts.{n} + excluded.{n}" for n in _COUNTED
        )
        self.view.execute_many(
            c,
            f"INSERT INTO {self.prefix}_segment_counts (unit_id, by_key, value, "
            f"{', '.join(_COUNTED)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            f"ON CONFLICT (unit_id, by_key, value) DO UPDATE SET {added}",
            [(*key, *values) for key, values in sorted(counts.items()) if any(values)],
        )
        if any(values[0] < 0 for values in counts.values()):
            # A value no client has any more leaves no row: the counts are the same rows
            # however the log was cut into batches (a rebuild compares them).
            self.view.execute(c, f"DELETE FROM {self.prefix}_segment_counts WHERE clients = 0")

    def upgrade(self) -> None:
        """A view built before standings were kept: every client's worked out once (the
        marker table says so)."""
        p, view = self.prefix, self.view
        marker = f"{p}_standings_kept"
        with view.batch() as c:
            if view.has_table(c, marker):
                return
            keys = [row["aid"] for row in view.fetch(c, f"SELECT aid FROM {p}_files")]
            self.recompute(c, keys)
            view.execute(c, f"CREATE TABLE {marker} (done BIGINT)")

    # ---- reading ------------------------------------------------------------------------

    def candidates(
        self, unit_id: str, condition: str, params: Sequence[Any], after: str, size: int
    ) -> list[dict[str, Any]]:
        """The next `size` clients of the subtree after client id `after` whose standing
        (`s`) meets `condition`."""
        p = self.prefix
        return self.view.query(
            f"SELECT s.aid AS aid, s.client_id AS client_id, f.data AS data "
            f"FROM {p}_standings s JOIN {p}_files f ON f.aid = s.aid "
            f"WHERE s.ancestor_id = ? AND s.client_id > ? AND ({condition}) "
            "ORDER BY s.client_id LIMIT ?",
            (unit_id, after, *params, size),
        )

    def referrals(self, unit_id: str, start: str, end: str) -> dict[str, Any]:
        """Clients of the subtree registered in `[start, end)` through a referrer, credited
        to the referrer's designated manager at the registration (以点带面), with their
        assets just before `end` (a statement after that: read from the file)."""
        p = self.prefix
        rows = self.view.query(
            f"SELECT s.aid AS aid, s.referral_manager AS manager, s.assets AS assets, "
            f"s.assets_from AS assets_from FROM {p}_standings s WHERE s.ancestor_id = ? "
            "AND s.referred_by IS NOT NULL AND s.registered_at >= ? AND s.registered_at < ?",
            (unit_id, start, end),
        )
        before = utc_text(from_utc_text(end) - timedelta(microseconds=1))  # type: ignore[operator]
        later = [row["aid"] for row in rows if (row["assets_from"] or "") > before]
        files = self._files_as_stored(later)
        by_manager: dict[str | None, dict[str, Any]] = {}
        for row in rows:
            manager = row["manager"]
            entry = by_manager.setdefault(
                manager, {"staff_id": manager, "clients": 0, "assets": Decimal(0)}
            )
            entry["clients"] += 1
            if row["aid"] in files:
                entry["assets"] += assets_at(files[row["aid"]], before) or Decimal(0)
            elif row["assets"] is not None:
                entry["assets"] += Decimal(row["assets"])
        items = sorted(
            by_manager.values(), key=lambda e: (e["staff_id"] is None, e["staff_id"] or "")
        )
        total = sum((e["assets"] for e in items), Decimal(0))
        return {
            "by_manager": [{**e, "assets": str(e["assets"])} for e in items],
            "total": {"clients": sum(e["clients"] for e in items), "assets": str(total)},
        }

    def _files_as_stored(self, keys: Sequence[str]) -> dict[str, ClientFile]:
        found = {}
        for part in chunks(keys):
            for row in self.view.query(
                f"SELECT aid, data FROM {self.prefix}_files WHERE aid IN {placeholders(part)}",
                part,
            ):
                found[row["aid"]] = json.loads(row["data"])
        return found

    def segments(self, unit_id: str, by: str, moment: str) -> dict[str, Any]:
        """`{by, segments}` at `moment`: the kept counts, the clients that changed after it
        taken out and put back as they were then."""
        counts = self.segment_counts(unit_id, by)
        for row in self.settling(unit_id, moment):
            file = json.loads(row["data"])
            assets = assets_at(file, moment)
            then = {
                "unit_id": row["unit_id"],
                "active": status_at(file, moment) == ACTIVE,
                f"seg_{by}": segment_of(file, by, moment) or "unknown",
                "assets": None if assets is None else str(assets),
            }
            for sign, contribution in ((-1, row), (+1, then)):
                for _, value, *values in segment_contribution(contribution, (by,)):
                    totals = counts.setdefault(value, [0] * len(values))
                    for index, amount in enumerate(values):
                        totals[index] += sign * amount
        return {
            "by": by,
            "segments": {
                value: {"clients": totals[0], "assets": segment_assets(*totals[1:])}
                for value, totals in sorted(counts.items())
                if totals[0] > 0
            },
        }

    def segment_counts(self, unit_id: str, by: str) -> dict[str, list[int]]:
        """The subtree's counts per value of `by`, every client as it stands now."""
        p = self.prefix
        sums = ", ".join(f"SUM(k.{n}) AS {n}" for n in _COUNTED)
        rows = self.view.query(
            f"SELECT k.value AS value, {sums} FROM {p}_segment_counts k "
            f"JOIN {p}_unit_paths u ON u.unit_id = k.unit_id AND u.ancestor_id = ? "
            "WHERE k.by_key = ? GROUP BY k.value",
            (unit_id, by),
        )
        return {row["value"]: [int(row[n] or 0) for n in _COUNTED] for row in rows}

    def settling(self, unit_id: str, at: str) -> list[dict[str, Any]]:
        """The subtree's clients that changed after `at`: their standing and file."""
        p = self.prefix
        own = ", ".join(f"s.{n} AS {n}" for n in ("unit_id", "active", *SEGMENT_COLUMNS))
        return self.view.query(
            f"SELECT {own}, f.data AS data FROM {p}_standings s "
            f"JOIN {p}_files f ON f.aid = s.aid WHERE s.ancestor_id = ? AND s.stable_from > ?",
            (unit_id, at),
        )


def _count(counts: dict[tuple[str, str, str], list[int]], row: Any, sign: int) -> None:
    for by, value, *values in segment_contribution(row):
        totals = counts[(row["unit_id"], by, value)]
        for index, amount in enumerate(values):
            totals[index] += sign * amount
