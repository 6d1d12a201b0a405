"""The maintenance read model's part that keeps each client's standing (see
`maintenance_standing.py`) where a report page finds it with an index: a row per client and
per unit above it (its outlet up to the bank), keyed `(ancestor_id, client_id)`, so a unit's
page is one range of that key walked in client id order up to its LIMIT. The segments are
kept as counts per outlet, segment key and value (the reports that total them:
`maintenance_tallies.py`).

Measured at the 100,000-client demo (bench/seed_reports.py): folding every client's file at
query time cost 0.5-4 s a page; the standings answer in milliseconds (bench/RESULTS.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ledger.projections.kit import BatchView, Part, StaffTable, UnitHeads
from ledger.projections.kit.text import (
    chunks,
    placeholders,
)
from ledger.projections.kit.units import UnitsAbove
from ledger.projections.kit.upgrades import replay_once
from ledger.projections.maintenance_assets import file_text, loaded
from ledger.projections.maintenance_files import ClientFiles
from ledger.projections.maintenance_rules import ClientFile, Organisation
from ledger.projections.maintenance_standing import (
    FILTER_COLUMNS,
    REFERRAL_COLUMNS,
    REPORT_COLUMNS,
    SEGMENT_COLUMNS,
    segment_contribution,
    standing,
)
from ledger.projections.maintenance_tallies import COUNTED, MOVED, StandingTallies

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
assert COLUMNS[0] == "ancestor_id"  # the one column a client's rows differ in (`recompute`)
_TYPES = {
    "active": "BIGINT",
    "board_always": "BIGINT",
    "gap": "BIGINT",
    "assets_value": "DOUBLE PRECISION",
    "peak_value": "DOUBLE PRECISION",
}


def _moved_at(
    key: str, file: ClientFile, moved: Mapping[str, int | None] | None, org: Moves | None
) -> int | None:
    """When the client's standing last moved (None: not known)."""
    at = (moved or {}).get(key)
    if at is None or not org:
        return at
    names = {f"staff {e[2]}" for timeline in file["team"].values() for e in timeline}
    for name in (*names, f"unit {file['unit_id']}"):
        if name in org:
            then = org[name]
            if then is None:
                return None
            at = max(at, then)
    return at


class Moves(dict[str, int | None]):
    """Clients (or units) to recompute, each with the last position of the events that
    moved it (`fallback` when a mark did not say)."""

    def __init__(self, fallback: int | None) -> None:
        super().__init__()
        self.fallback = fallback

    def add(self, keys: Iterable[str], at: int | None) -> None:
        at = self.fallback if at is None else at
        for key in keys:
            known = self.get(key, 0)
            self[key] = (
                None if at is None or (key in self and known is None) else max(known or 0, at)
            )


class ClientStandings(StandingTallies, Part):
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
        counted = ", ".join(f"{name} BIGINT" for name in COUNTED)
        return [
            f"CREATE TABLE IF NOT EXISTS {p}_standings ({columns}, "
            "PRIMARY KEY (ancestor_id, client_id))",
            f"CREATE INDEX IF NOT EXISTS {p}_standings_aid ON {p}_standings (aid)",
            f"CREATE TABLE IF NOT EXISTS {p}_team_members (staff_id TEXT, aid TEXT, "
            "PRIMARY KEY (staff_id, aid))",
            f"CREATE TABLE IF NOT EXISTS {p}_segment_counts (unit_id TEXT, by_key TEXT, "
            f"value TEXT, {counted}, PRIMARY KEY (unit_id, by_key, value))",
            # The last position of the log whose batch recomputed each standing: as known
            # at a position past it, the standing is the one kept (see `moved_after`).
            f"CREATE TABLE IF NOT EXISTS {p}_standing_changes (aid TEXT PRIMARY KEY, seq BIGINT)",
        ]

    def query_indexes(self) -> list[str]:
        p = self.prefix
        return [
            f"CREATE INDEX IF NOT EXISTS {p}_standings_settling ON {p}_standings "
            "(ancestor_id, stable_from)",
            # The referral report reads its columns from the index alone (a branch's
            # quarter: 779 rows, each a look-up in the table before).
            f"CREATE INDEX IF NOT EXISTS {p}_standings_referrals ON {p}_standings "
            "(ancestor_id, registered_at, aid, referral_manager, assets, assets_from, "
            "referred_by) WHERE referred_by IS NOT NULL",
            # Leader visits look for the few clients with large assets (5.6% of the demo):
            # walking this rather than the rows, 404 candidates of a branch of 100,000
            # cost 0.8 ms of SQL instead of 4.6.
            f"CREATE INDEX IF NOT EXISTS {p}_standings_assets ON {p}_standings "
            "(ancestor_id, client_id, active, assets_value, stable_from, peak_value, aid)",
            # As known at a recent position, the few standings that moved since.
            f"CREATE INDEX IF NOT EXISTS {p}_standing_changes_seq ON {p}_standing_changes (seq)",
        ]

    # ---- upkeep -------------------------------------------------------------------------

    def flush(self, c: Any, marked: dict[str, set[str]]) -> None:
        view, moved = self.view, Moves(self.view.batch_position)
        for kind in ("file", "standing"):
            for key in marked.get(kind, ()):
                moved.add([key], view.marked_at(kind, key))
        units = Moves(view.batch_position)
        for key in marked.get("unit", ()):
            units.add([key], view.marked_at("unit", key))
        # Who departed and which outlets' heads changed in this batch, by id: a client
        # registered in it is on no kept list yet, yet its standing moves with them too.
        org = Moves(view.batch_position)
        for key in marked.get("staff", ()):
            at = view.marked_at("staff", key)
            moved.add(self._clients_of_staff(c, [key], units, at), at)
            org.add((f"staff {i}" for i in self.staff.staff_ids(c, [key])), at)
        for key, at in units.items():
            moved.add(self._clients_of_outlets(c, [key]), at)
            org.add((f"unit {i}" for i in self.units_of(c, key)), at)
        referrers = dict(moved)  # one level, as the standings read the referrer
        for referrer, referred in self._referred_by(c, set(referrers)):
            moved.add([referred], referrers[referrer])
        if moved:
            self.recompute(c, sorted(moved), moved, org)

    def units_of(self, c: Any, key: str) -> list[str]:
        rows = self.view.fetch(c, f"SELECT unit_id FROM {self.prefix}_units WHERE aid = ?", (key,))
        return [row["unit_id"] for row in rows]

    def _clients_of_staff(
        self, c: Any, staff_keys: Iterable[str], units: Moves, at: int | None
    ) -> set[str]:
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
                units.add([row["unit_aid"]], at)
        return found

    def _referred_by(self, c: Any, keys: set[str]) -> list[tuple[str, str]]:
        """(referrer, referred) for the clients the given clients referred: credited to
        their manager of the time."""
        p, found = self.prefix, []
        for part in chunks(sorted(keys)):
            for row in self.view.fetch(
                c,
                f"SELECT f.aid AS referrer, r.aid AS aid FROM {p}_files f JOIN {p}_files r "
                f"ON r.referred_by = f.client_id WHERE f.aid IN {placeholders(part)}",
                part,
            ):
                found.append((row["referrer"], row["aid"]))
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

    def recompute(
        self,
        c: Any,
        keys: Sequence[str],
        moved: Mapping[str, int | None] | None = None,
        org_moves: Moves | None = None,
    ) -> None:
        """The clients' standings, team members and segment counts, from their files;
        `moved`: the last position of the events that moved each (else unknown), and
        `org_moves` of the departures ("staff <id>") and head changes ("unit <id>") that
        moved the teams and outlets they name."""
        view, p = self.view, self.prefix
        roles, departed = self.staff.roles_and_departures(c)
        org = Organisation(roles=roles, departed=departed, heads=self.heads.by_unit(c))
        above = UnitsAbove(view, c, p)
        for part in chunks(keys):
            files = self._files(c, part)
            contacts = self.files.latest.of(list(files), c)
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
                # One row per ancestor, alike but for the first column: built once, not a
                # dict and a column at a time per ancestor (6% of this view's catch-up).
                values = tuple(row[n] for n in COLUMNS[1:])
                rows.extend((ancestor, *values) for ancestor in above.of(file["unit_id"]))
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
            view.execute_many(
                c,
                f"INSERT INTO {p}_standing_changes (aid, seq) VALUES (?, ?) "
                "ON CONFLICT (aid) DO UPDATE SET seq = excluded.seq",
                [(key, _moved_at(key, file, moved, org_moves)) for key, file in files.items()],
            )

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
                files[row["aid"]] = loaded(row["data"])  # its statements' facts only
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
                found[row["client_id"]] = loaded(row["data"])
        return found

    def _add_counts(self, c: Any, counts: dict[tuple[str, str, str], list[int]]) -> None:
        added = ", ".join(f"{n} = {self.prefix}_segment_counts.{n} + excluded.{n}" for n in COUNTED)
        self.view.execute_many(
            c,
            f"INSERT INTO {self.prefix}_segment_counts (unit_id, by_key, value, "
            f"{', '.join(COUNTED)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            f"ON CONFLICT (unit_id, by_key, value) DO UPDATE SET {added}",
            [(*key, *values) for key, values in sorted(counts.items()) if any(values)],
        )
        if any(values[0] < 0 for values in counts.values()):
            # A value no client has any more leaves no row: the counts are the same rows
            # however the log was cut into batches (a rebuild compares them).
            self.view.execute(c, f"DELETE FROM {self.prefix}_segment_counts WHERE clients = 0")

    def upgrade(self) -> None:
        """A view built before standings were kept: every client's worked out once (the
        marker table says so). An index of an earlier build goes."""
        p, view = self.prefix, self.view
        with view.transaction() as c:  # the referrals' index before it held their columns
            c.execute(f"DROP INDEX IF EXISTS {p}_standings_referred")
        # Standings that do not say when they last moved: the log replayed once.
        replay_once(view, f"{p}_changes_kept", f"SELECT aid FROM {p}_files LIMIT 1")
        marker = f"{p}_standings_kept"
        with view.batch() as c:
            if view.has_table(c, marker):
                return
            keys = [row["aid"] for row in view.fetch(c, f"SELECT aid FROM {p}_files")]
            self.recompute(c, keys)
            view.execute(c, f"CREATE TABLE {marker} (done BIGINT)")

    # ---- reading ------------------------------------------------------------------------

    def candidates(
        self,
        unit_id: str,
        condition: str,
        params: Sequence[Any],
        after: str,
        size: int,
        *,
        upto: int | None = None,
    ) -> list[dict[str, Any]]:
        """The next `size` clients of the subtree after client id `after` whose standing
        (`s`) meets `condition`; with `upto`, and those whose standing moved after that
        position (as known then, theirs is worked out anew)."""
        p, joins, moved = self.prefix, "", ()
        if upto is not None:
            joins, condition = self.changes_join(), f"{MOVED} OR ({condition})"
            moved = (upto,)
        return self.view.query(
            f"SELECT s.aid AS aid, s.client_id AS client_id, {file_text('f')} AS text "
            f"FROM {p}_standings s JOIN {p}_files f ON f.aid = s.aid {joins}"
            f"WHERE s.ancestor_id = ? AND s.client_id > ? AND ({condition}) "
            "ORDER BY s.client_id LIMIT ?",
            (unit_id, after, *moved, *params, size),
        )


def _count(counts: dict[tuple[str, str, str], list[int]], row: Any, sign: int) -> None:
    for by, value, *values in segment_contribution(row):
        totals = counts[(row["unit_id"], by, value)]
        for index, amount in enumerate(values):
            totals[index] += sign * amount
