"""The reports view's part that keeps, for each client, what completeness, overdue contacts
and orphaned clients would say of it at any time from its last change on (its *standing*),
where a page or a summary reads it with an index rather than visiting every client of the
subtree (at the 100,000-client demo those three cost 70-140 ms of CPU per request so):

- `{p}_standing`: a row per client: from when it holds (`stable_from`, the latest effective
  time of its intervals and contacts), when the latest event it was read from was recorded
  (`last_recorded`: read as known at a later time, it is what was known then), and whether
  it counts as an active VIP client with complete key information;
- `{p}_completeness`: those counts per unit, kept as clients change;
- `{p}_overdue`: a row per active client of a tier with a cadence and per unit above it,
  keyed `(ancestor_id, due, client_id)`: the contacts report's most overdue first is one
  range of that key;
- `{p}_orphans`: a row per active client whose designated manager has departed (at any
  time: a report at T lists it once the departure took effect), per unit above it;
- `{p}_unit_complaints`: each complaint under every unit above its client, with the
  designated manager of the complaint's time; written again only for the clients whose
  complaints or intervals an event of the batch may have moved (not for a plain contact:
  marked "complaints" by `noting`).

A report at T for the clients whose standing holds at T (and, as known at K, whose latest
event was recorded by K) reads these rows; the few others it folds from their intervals and
contacts as before (`report_pages.py`). Worked out on batch commit for the clients the
batch touched and the clients of staff who departed; a rebuild works out all of them once
at its end.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from eventsourcing.persistence import Tracking

from ledger.domain import Client
from ledger.domain.values import ACTIVE, VIP_TIERS
from ledger.projections.kit import BatchView, ClientIntervals, Handler, Part, StaffTable
from ledger.projections.kit.text import (
    aggregate_key,
    chunks,
    placeholders,
    utc_text,
)
from ledger.projections.kit.units import UnitsAbove
from ledger.projections.maintenance_rules import falls_due

# The client events a standing is read from (an assets report moves none of the three).
WATCHED = (
    Client.Registered,
    Client.TierChanged,
    Client.Assigned,
    Client.Churned,
    Client.Reactivated,
    Client.ContactLogged,
    Client.ProfileUpdated,
    Client.EventRetracted,
)
STANDING_COLUMNS = ("aid", "client_id", "unit_id", "stable_from", "last_recorded", "vip")
OVERDUE_COLUMNS = (
    "ancestor_id",
    "due",
    "client_id",
    "aid",
    "tier",
    "manager",
    "last_contact",
    "stable_from",
    "last_recorded",
)
ORPHAN_COLUMNS = (
    "ancestor_id",
    "client_id",
    "aid",
    "tier",
    "manager",
    "since",
    "stable_from",
    "last_recorded",
)


def _insert(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


class ReportStandings(Part):
    """Flushed after the intervals and key information it reads (compose it after them)."""

    def __init__(self, view: BatchView, intervals: ClientIntervals, staff: StaffTable) -> None:
        super().__init__(view)
        self.intervals, self.staff = intervals, staff
        self.marker = f"{self.prefix}_report_standings_kept"
        self._unkept = False

    def tables(self) -> list[str]:
        p = self.prefix
        return [
            # When the latest event of each client that a standing is read from was
            # recorded: kept while rebuilding too, when the standings wait for the end.
            f"CREATE TABLE IF NOT EXISTS {p}_client_recorded (aid TEXT PRIMARY KEY, "
            "recorded_at TEXT)",
            f"CREATE TABLE IF NOT EXISTS {p}_standing (aid TEXT PRIMARY KEY, client_id TEXT, "
            "unit_id TEXT, stable_from TEXT, last_recorded TEXT, vip BIGINT, complete BIGINT)",
            f"CREATE TABLE IF NOT EXISTS {p}_completeness (unit_id TEXT PRIMARY KEY, "
            "vip_active BIGINT, complete BIGINT)",
            f"CREATE TABLE IF NOT EXISTS {p}_overdue (ancestor_id TEXT, due TEXT, "
            "client_id TEXT, aid TEXT, tier TEXT, manager TEXT, last_contact TEXT, "
            "stable_from TEXT, last_recorded TEXT, PRIMARY KEY (ancestor_id, due, client_id))",
            f"CREATE INDEX IF NOT EXISTS {p}_overdue_aid ON {p}_overdue (aid)",
            f"CREATE TABLE IF NOT EXISTS {p}_orphans (ancestor_id TEXT, client_id TEXT, "
            "aid TEXT, tier TEXT, manager TEXT, since TEXT, stable_from TEXT, "
            "last_recorded TEXT, PRIMARY KEY (ancestor_id, client_id))",
            f"CREATE INDEX IF NOT EXISTS {p}_orphans_aid ON {p}_orphans (aid)",
            f"CREATE TABLE IF NOT EXISTS {p}_unit_complaints (ancestor_id TEXT, "
            "occurred_at TEXT, client_id TEXT, version BIGINT, aid TEXT, staff_id TEXT, "
            "manager TEXT, summary TEXT, "
            "PRIMARY KEY (ancestor_id, occurred_at, client_id, version))",
            f"CREATE INDEX IF NOT EXISTS {p}_unit_complaints_aid ON {p}_unit_complaints (aid)",
        ]

    def query_indexes(self) -> list[str]:
        p = self.prefix
        return [
            # The clients a report folds rather than reads: changed after its time (an
            # event dated ahead, or a report of the past), or recorded after its known_at.
            f"CREATE INDEX IF NOT EXISTS {p}_standing_stable ON {p}_standing (stable_from)",
            f"CREATE INDEX IF NOT EXISTS {p}_standing_recorded ON {p}_standing (last_recorded)",
            # Every column: a unit's complaints of a period are one range of this index,
            # in the report's order (at the 100,000-client demo, 1,184 complaints of the
            # branch cost 9 ms of SQL joining clients, units and intervals).
            f"CREATE INDEX IF NOT EXISTS {p}_unit_complaints_all ON {p}_unit_complaints "
            "(ancestor_id, occurred_at, client_id, version, aid, staff_id, manager, summary)",
        ]

    def noting(self, handlers: dict[type, Handler]) -> dict[type, Handler]:
        """The view's handlers, those of `WATCHED` events also noting their client for a
        new standing, and when the event was recorded."""

        def noted(handler: Handler) -> Handler:
            def handle(event: Any, tracking: Tracking) -> None:
                with self.view.write():
                    handler(event, tracking)
                    key, at = aggregate_key(event), utc_text(event.timestamp)
                    latest: dict[str, str] = self.view.batch_memo("noted", dict)
                    if latest.get(key, "") < at:
                        latest[key] = at
                    self.view.mark("standing", key)
                    if event.__class__ is not Client.ContactLogged or event.complaint:
                        # A plain contact leaves the client's complaints as they were: not
                        # written again (a client's thousands of contacts, each rewriting
                        # its every complaint under every unit above it).
                        self.view.mark("complaints", key)

            return handle

        return {cls: noted(h) if cls in WATCHED else h for cls, h in handlers.items()}

    # ---- upkeep -------------------------------------------------------------------------

    def flush(self, c: Any, marked: dict[str, set[str]]) -> None:
        view, p = self.view, self.prefix
        latest: dict[str, str] = view.batch_memo("noted", dict)
        view.execute_many(
            c,
            f"INSERT INTO {p}_client_recorded (aid, recorded_at) VALUES (?, ?) "
            "ON CONFLICT (aid) DO UPDATE SET recorded_at = excluded.recorded_at "
            f"WHERE excluded.recorded_at > {p}_client_recorded.recorded_at",
            sorted(latest.items()),
        )
        if view.rebuilding:
            # Worked out once at the end (`rebuilt`); until then none is kept.
            if not self._unkept:
                view.execute(c, f"DROP TABLE IF EXISTS {self.marker}")
                self._unkept = True
            return
        keys = set(marked.get("standing", ()))
        keys |= self._clients_of_departed(c, marked.get("staff", ()))
        if keys:
            # A departure moves no complaint: each names the manager of its time.
            self.recompute(c, sorted(keys), complaints=set(marked.get("complaints", ())))

    def _clients_of_departed(self, c: Any, staff_keys: Iterable[str]) -> set[str]:
        """The clients the departed staff are now the designated manager of."""
        found: set[str] = set()
        for part in chunks(self.staff.staff_ids(c, staff_keys)):
            for row in self.view.fetch(
                c,
                f"SELECT aid FROM {self.prefix}_intervals WHERE manager IN "
                f"{placeholders(part)} AND valid_to IS NULL",
                part,
            ):
                found.add(row["aid"])
        return found

    def recompute(
        self,
        c: Any,
        keys: Sequence[str],
        *,
        fresh: bool = False,
        complaints: Collection[str] | None = None,
    ) -> None:
        """The clients' standings and their units' counts, from their intervals, contacts,
        key information and designated managers' departures. `fresh`: none of them has a
        standing yet (nothing to take out). `complaints`: the clients whose complaints under
        their units are written again (all of them if None)."""
        view, p = self.view, self.prefix
        units_above = UnitsAbove(view, c, p)
        cadence: dict[str, int] = view.options["cadence"]
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for part in chunks(keys):
            marks = placeholders(part)
            redo = part if complaints is None else [k for k in part if k in complaints]
            if not fresh:
                for row in view.fetch(
                    c, f"SELECT unit_id, vip, complete FROM {p}_standing WHERE aid IN {marks}", part
                ):
                    counts[row["unit_id"]][0] -= row["vip"]
                    counts[row["unit_id"]][1] -= row["complete"]
                for table in ("standing", "overdue", "orphans"):
                    view.execute(c, f"DELETE FROM {p}_{table} WHERE aid IN {marks}", part)
                if redo:
                    view.execute(
                        c,
                        f"DELETE FROM {p}_unit_complaints WHERE aid IN {placeholders(redo)}",
                        redo,
                    )
            standing, overdue, orphans = [], [], []
            for row in self._sources(c, part, marks):
                last_contact, tier, active = row["last_contact"], row["tier"], row["status"]
                stable = max(row["valid_from"], last_contact or "")
                vip = int(active == ACTIVE and tier in VIP_TIERS)
                done = vip * int(row["complete"] or 0)
                counts[row["unit_id"]][0] += vip
                counts[row["unit_id"]][1] += done
                standing.append(
                    (
                        row["aid"],
                        row["client_id"],
                        row["unit_id"],
                        stable,
                        row["recorded"],
                        vip,
                        done,
                    )
                )
                if active != ACTIVE:
                    continue
                above = units_above.of(row["unit_id"])
                kept = (row["client_id"], row["aid"], tier, row["manager"])
                if tier in cadence:
                    due = utc_text(falls_due(last_contact, row["registered_at"], cadence[tier]))
                    overdue += [
                        (a, due, *kept, last_contact, stable, row["recorded"]) for a in above
                    ]
                if row["departed_at"] is not None:
                    orphans += [
                        (a, *kept, row["departed_at"], stable, row["recorded"]) for a in above
                    ]
            view.execute_many(
                c, _insert(f"{p}_standing", (*STANDING_COLUMNS, "complete")), standing
            )
            view.execute_many(c, _insert(f"{p}_overdue", OVERDUE_COLUMNS), overdue)
            view.execute_many(c, _insert(f"{p}_orphans", ORPHAN_COLUMNS), orphans)
            if redo:
                self._add_complaints(c, f"WHERE k.aid IN {placeholders(redo)}", redo)
        self._add_counts(c, counts)

    def _sources(self, c: Any, part: Sequence[str], marks: str) -> list[dict[str, Any]]:
        """What the clients' standings are worked out from: their latest interval, latest
        contact, key information, manager's departure and latest recorded event."""
        p = self.prefix
        return self.view.fetch(
            c,
            "SELECT c.aid AS aid, c.client_id AS client_id, c.unit_id AS unit_id, "
            "c.registered_at AS registered_at, i.valid_from AS valid_from, i.tier AS tier, "
            "i.status AS status, i.manager AS manager, k.complete AS complete, "
            "s.departed_at AS departed_at, r.recorded_at AS recorded, "
            f"(SELECT MAX(t.occurred_at) FROM {p}_contacts t WHERE t.aid = c.aid) "
            f"AS last_contact FROM {p}_clients c JOIN {p}_intervals i ON i.aid = c.aid "
            f"AND i.valid_to IS NULL LEFT JOIN {p}_keyinfo k ON k.aid = c.aid "
            f"LEFT JOIN {p}_staff s ON s.staff_id = i.manager "
            f"LEFT JOIN {p}_client_recorded r ON r.aid = c.aid WHERE c.aid IN {marks}",
            part,
        )

    def _add_complaints(self, c: Any, where: str, params: Sequence[Any]) -> None:
        """The complaints of the clients (`where`: of the complaints `k`) under each unit
        above them, with the designated manager of the complaint's time."""
        p = self.prefix
        self.view.execute(
            c,
            f"INSERT INTO {p}_unit_complaints (ancestor_id, occurred_at, client_id, version, "
            "aid, staff_id, manager, summary) SELECT u.ancestor_id, k.occurred_at, "
            "c.client_id, k.version, k.aid, k.staff_id, i.manager, k.summary "
            f"FROM {p}_complaints k JOIN {p}_clients c ON c.aid = k.aid "
            f"JOIN {p}_unit_paths u ON u.unit_id = c.unit_id "
            f"JOIN {p}_intervals i ON i.aid = k.aid AND i.valid_from <= k.occurred_at "
            f"AND (i.valid_to IS NULL OR i.valid_to > k.occurred_at) {where}",
            params,
        )

    def _add_counts(self, c: Any, counts: dict[str, list[int]]) -> None:
        p = self.prefix
        changed = [(unit, *values) for unit, values in sorted(counts.items()) if any(values)]
        self.view.execute_many(
            c,
            f"INSERT INTO {p}_completeness (unit_id, vip_active, complete) VALUES (?, ?, ?) "
            f"ON CONFLICT (unit_id) DO UPDATE SET vip_active = {p}_completeness.vip_active "
            f"+ excluded.vip_active, complete = {p}_completeness.complete + excluded.complete",
            changed,
        )
        if any(values[0] < 0 for _, *values in changed):
            # A unit with no active VIP client left has no row: the same rows however the
            # log was cut into batches (a rebuild compares them).
            self.view.execute(c, f"DELETE FROM {p}_completeness WHERE vip_active = 0")

    def rebuilt(self) -> None:
        self._recompute_all()
        self._unkept = False

    def upgrade(self) -> None:
        """A view built before standings were kept: if it kept no recorded time per client
        either, it replays the log (those times cannot be read from it otherwise); else
        every client's standing is worked out once (the marker table says so)."""
        p, view = self.prefix, self.view
        with view.transaction() as c:
            if view.has_table(c, self.marker):
                return
            unrecorded = not view.fetch(c, f"SELECT aid FROM {p}_client_recorded LIMIT 1")
            replay = unrecorded and view.fetch(c, f"SELECT aid FROM {p}_clients LIMIT 1")
        if replay:
            view.reset()
        self._recompute_all()

    def _recompute_all(self) -> None:
        p, view = self.prefix, self.view
        with view.batch() as c:
            for table in ("standing", "overdue", "orphans", "completeness", "unit_complaints"):
                view.execute(c, f"DELETE FROM {p}_{table}")
            keys = [row["aid"] for row in view.fetch(c, f"SELECT aid FROM {p}_clients")]
            self.recompute(c, sorted(keys), fresh=True)
            view.execute(c, f"CREATE TABLE IF NOT EXISTS {self.marker} (done BIGINT)")

    def kept(self) -> bool:
        """Whether every client's standing is kept (not while a rebuild has yet to end)."""
        with self.view.read_transaction() as c:
            return bool(self.view.has_table(c, self.marker))
