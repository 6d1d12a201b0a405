"""What the accountability read model keeps: who held each team role of a client when, the
heads of units, churns and the cases worked out from them. The facts of one case are worked
out in `churn_facts.py`; the determinations on cases, and what they rule, in
`churn_rulings.py` (both re-exported here).

Every tier change, assignment, churn and head appointment is kept as a change point. A
client's role intervals and churn cases are recomputed from all of them whenever one
arrives, so a backdated reassignment or downgrade recorded after a churn still moves the
case to what was true at the churn's effective time.

Its clients, tier changes and assignments are not the kit's `ClientIntervals`: it keeps
every team role (not the designated manager alone), a churn as a case (not a status), and
its tables were laid out apart from the start (a view built by earlier code keeps working).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from eventsourcing.persistence import Tracking

from ledger.domain import Client
from ledger.domain.values import DESIGNATED_MANAGER, TEAM_ROLES
from ledger.projections.churn_facts import RecordedTimes, churn_case, fiscal_year_of
from ledger.projections.churn_rulings import (  # re-exported (tests)
    PENDING,
    Determinations,
    is_stale,
    late_changes,
    party_outcomes,
)
from ledger.projections.kit import BatchView, Handler, Part, UnitHeads, UnitTree
from ledger.projections.kit.text import (
    aggregate_key,
    chunks,
    placeholders,
    utc_text,
)
from ledger.projections.kit.timeline import (
    Change,
    Interval,
    fold_intervals,
)

__all__ = [
    "PENDING",
    "ChurnCases",
    "churn_case",
    "fiscal_year_of",
    "is_stale",
    "late_changes",
    "party_outcomes",
]


class ChurnCases(Part):
    """Options of the view: `fiscal_year_start` (a month) and `churn_lookback_days`."""

    def __init__(
        self,
        view: BatchView,
        units: UnitTree,
        recorded: RecordedTimes,
        determinations: Determinations,
        heads: UnitHeads,
    ) -> None:
        super().__init__(view)
        self.units = units
        self.recorded = recorded
        self.determinations = determinations
        # A head event is an entry late changes are found in; its unit's cases are
        # recomputed (the "unit" mark).
        self.heads = heads
        heads.listeners.append(self._entry)

    def tables(self) -> list[str]:
        p = self.prefix
        return [
            f"CREATE TABLE IF NOT EXISTS {p}_clients (aid TEXT PRIMARY KEY, client_id TEXT, "
            "unit_id TEXT)",
            f"CREATE INDEX IF NOT EXISTS {p}_clients_unit ON {p}_clients (unit_id)",
            f"CREATE TABLE IF NOT EXISTS {p}_changes (aid TEXT, seq BIGINT, field TEXT, "
            "effective_at TEXT, value TEXT, PRIMARY KEY (aid, seq, field))",
            f"CREATE TABLE IF NOT EXISTS {p}_churns (case_id TEXT PRIMARY KEY, aid TEXT, "
            "kind TEXT, effective_at TEXT, local_at TEXT)",
            f"CREATE INDEX IF NOT EXISTS {p}_churns_aid ON {p}_churns (aid)",
            f"CREATE TABLE IF NOT EXISTS {p}_intervals (aid TEXT, role TEXT, staff_id TEXT, "
            "valid_from TEXT, valid_to TEXT, PRIMARY KEY (aid, role, valid_from))",
            f"CREATE TABLE IF NOT EXISTS {p}_cases (case_id TEXT PRIMARY KEY, aid TEXT, "
            "client_id TEXT, unit_id TEXT, kind TEXT, effective_at TEXT, fiscal_year BIGINT, "
            "accountability_tier TEXT, in_scope BIGINT, designated_manager TEXT, "
            "unit_head TEXT)",
            f"CREATE INDEX IF NOT EXISTS {p}_cases_aid ON {p}_cases (aid)",
            f"CREATE TABLE IF NOT EXISTS {p}_case_priors (case_id TEXT, staff_id TEXT, "
            "position BIGINT, PRIMARY KEY (case_id, staff_id))",
            # The events a case's facts move with (and churns), with both their times.
            f"CREATE TABLE IF NOT EXISTS {p}_entries (aid TEXT, seq BIGINT, type TEXT, "
            "event_id TEXT, effective_at TEXT, recorded_at TEXT, recorded_by TEXT, "
            "PRIMARY KEY (aid, seq))",
            f"CREATE TABLE IF NOT EXISTS {p}_case_states (case_id TEXT PRIMARY KEY, "
            "pending BIGINT, manager_outcome TEXT, head_outcome TEXT)",
        ]

    def upgrade(self) -> None:
        """A view built before 1.1 has cases but no states of them, nor the entries late
        changes are found in: it replays the log."""
        p, view = self.prefix, self.view
        with view.transaction() as c:
            cases = view.fetch(c, f"SELECT case_id FROM {p}_cases LIMIT 1")
            states = view.fetch(c, f"SELECT case_id FROM {p}_case_states LIMIT 1")
            changes = view.fetch(c, f"SELECT aid FROM {p}_changes LIMIT 1")
            recorded = view.fetch(c, f"SELECT seq FROM {p}_recorded LIMIT 1")
        if (cases and not states) or (changes and not recorded):
            view.reset()

    def handlers(self) -> dict[type, Handler]:
        return {
            Client.Registered: self.registered,
            Client.TierChanged: self.tier_changed,
            Client.Assigned: self.assigned,
            Client.Churned: self.churned,
        }

    # ---- updates --------------------------------------------------------------------

    def registered(self, event: Client.Registered, tracking: Tracking) -> None:
        view, key = self.view, aggregate_key(event)
        with view.write() as c:
            view.execute(
                c,
                f"INSERT INTO {self.prefix}_clients (aid, client_id, unit_id) VALUES (?, ?, ?) "
                "ON CONFLICT (aid) DO NOTHING",
                (key, event.client_id, event.unit_id),
            )
            self.recorded.note(c, tracking, event)
            self._change(c, key, tracking, "tier", event.effective_at, event.tier)

    def tier_changed(self, event: Client.TierChanged, tracking: Tracking) -> None:
        with self.view.write() as c:
            key = aggregate_key(event)
            self._entry(c, key, tracking, event)
            self._change(c, key, tracking, "tier", event.effective_at, event.tier)

    def assigned(self, event: Client.Assigned, tracking: Tracking) -> None:
        with self.view.write() as c:
            key = aggregate_key(event)
            if event.role == DESIGNATED_MANAGER:
                self._entry(c, key, tracking, event)
            else:
                self.recorded.note(c, tracking, event)
            self._change(c, key, tracking, f"role:{event.role}", event.effective_at, event.staff_id)

    def _entry(self, c: Any, key: str, tracking: Tracking, event: Any) -> None:
        self.recorded.note(c, tracking, event)
        self.view.execute(
            c,
            f"INSERT INTO {self.prefix}_entries (aid, seq, type, event_id, effective_at, "
            "recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (
                key,
                tracking.notification_id,
                type(event).__name__,
                event.event_id,
                utc_text(event.effective_at),
                utc_text(event.timestamp),
                event.recorded_by,
            ),
        )

    def _change(
        self, c: Any, key: str, tracking: Tracking, field: str, at: datetime, value: str
    ) -> None:
        view = self.view
        view.execute(
            c,
            f"INSERT INTO {self.prefix}_changes (aid, seq, field, effective_at, value) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (key, tracking.notification_id, field, utc_text(at), value),
        )
        view.mark("client", key)
        view.advance(tracking)

    def churned(self, event: Client.Churned, tracking: Tracking) -> None:
        at, key = event.effective_at, aggregate_key(event)
        with self.view.write() as c:
            self._entry(c, key, tracking, event)
            self.view.record(
                f"INSERT INTO {self.prefix}_churns (aid, case_id, kind, effective_at, local_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (key, event.event_id, event.kind, utc_text(at), at.isoformat()),
                tracking,
                mark="client",
            )

    def flush(self, c: Any, marked: dict[str, set[str]]) -> None:
        p = self.prefix
        clients = set(marked.get("client", ()))
        for part in chunks(sorted(marked.get("unit", ()))):
            rows = self.view.fetch(
                c,
                f"SELECT DISTINCT aid FROM {p}_churns WHERE aid IN (SELECT k.aid FROM "
                f"{p}_clients k JOIN {p}_units u ON u.unit_id = k.unit_id "
                f"WHERE u.aid IN {placeholders(part)})",
                part,
            )
            clients.update(row["aid"] for row in rows)
        for part in chunks(sorted(clients)):
            self._recompute(c, part)

    def _recompute(self, c: Any, keys: list[str]) -> None:
        p, view, marks = self.prefix, self.view, placeholders(keys)
        changes: dict[str, list[Change]] = {key: [] for key in keys}
        for row in view.fetch(
            c,
            f"SELECT aid, seq, field, effective_at, value FROM {p}_changes WHERE aid IN {marks}",
            keys,
        ):
            changes[row["aid"]].append(
                Change(row["effective_at"], row["seq"], row["field"], row["value"])
            )
        roles = {
            key: {
                role: [i for i in fold_intervals(points, (f"role:{role}",)) if i.values[0]]
                for role in TEAM_ROLES
            }
            for key, points in changes.items()
        }
        view.execute(c, f"DELETE FROM {p}_intervals WHERE aid IN {marks}", keys)
        view.execute_many(
            c,
            f"INSERT INTO {p}_intervals (aid, role, staff_id, valid_from, valid_to) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                (key, role, i.values[0], i.valid_from, i.valid_to)
                for key, by_role in roles.items()
                for role, intervals in by_role.items()
                for i in intervals
            ),
        )
        churns = view.fetch(
            c,
            f"SELECT h.case_id AS case_id, h.aid AS aid, h.kind AS kind, h.local_at AS local_at, "
            f"k.client_id AS client_id, k.unit_id AS unit_id FROM {p}_churns h "
            f"JOIN {p}_clients k ON k.aid = h.aid WHERE h.aid IN {marks}",
            keys,
        )
        cases = [row["case_id"] for row in churns]
        for part in chunks(cases):
            view.execute(
                c, f"DELETE FROM {p}_case_priors WHERE case_id IN {placeholders(part)}", part
            )
        view.execute(c, f"DELETE FROM {p}_cases WHERE aid IN {marks}", keys)
        rulings = self.determinations.rulings(c, cases)
        heads: dict[str, list[Interval]] = {}
        options = view.options
        for churn in churns:
            unit_id = churn["unit_id"]
            if unit_id not in heads:
                heads[unit_id] = self.heads.intervals(c, unit_id)
            churned_at = datetime.fromisoformat(churn["local_at"])
            case = churn_case(
                kind=churn["kind"],
                churned_at=churned_at,
                tiers=fold_intervals(changes[churn["aid"]], ("tier",)),
                managers=roles[churn["aid"]][DESIGNATED_MANAGER],
                heads=heads[unit_id],
                fiscal_year_start=int(options["fiscal_year_start"]),
                lookback_days=int(options["churn_lookback_days"]),
            )
            view.execute(
                c,
                f"INSERT INTO {p}_cases (case_id, aid, client_id, unit_id, kind, effective_at, "
                "fiscal_year, accountability_tier, in_scope, designated_manager, unit_head) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    churn["case_id"],
                    churn["aid"],
                    churn["client_id"],
                    unit_id,
                    churn["kind"],
                    utc_text(churned_at),
                    case["fiscal_year"],
                    case["accountability_tier"],
                    int(case["in_scope"]),
                    case["designated_manager"],
                    case["unit_head"],
                ),
            )
            view.execute_many(
                c,
                f"INSERT INTO {p}_case_priors (case_id, staff_id, position) VALUES (?, ?, ?)",
                ((churn["case_id"], s, n) for n, s in enumerate(case["prior_holders"])),
            )
            outcomes = party_outcomes(case, rulings.get(churn["case_id"], []))
            pending = case["in_scope"] and PENDING in outcomes.values()
            view.execute(
                c,
                f"INSERT INTO {p}_case_states (case_id, pending, manager_outcome, head_outcome) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (case_id) DO UPDATE SET pending = "
                "excluded.pending, manager_outcome = excluded.manager_outcome, "
                "head_outcome = excluded.head_outcome",
                (
                    churn["case_id"],
                    int(pending),
                    outcomes["designated_manager"],
                    outcomes["unit_head"],
                ),
            )

    def known_cases(
        self, c: Any, cases: Sequence[Mapping[str, Any]], upto: int
    ) -> list[dict[str, Any]]:
        """`cases` (rows of the cases table) as the ledger knew them at position `upto`:
        those churned by then, their facts worked out from what was recorded by then."""
        p, view = self.prefix, self.view
        keys = sorted({case["aid"] for case in cases})
        churned: dict[str, str] = {}
        changes: dict[str, list[Change]] = {key: [] for key in keys}
        for part in chunks(keys):
            marks = placeholders(part)
            for row in view.fetch(
                c,
                f"SELECT h.case_id AS case_id, h.local_at AS local_at FROM {p}_churns h "
                f"JOIN {p}_entries e ON e.aid = h.aid AND e.event_id = h.case_id "
                f"WHERE h.aid IN {marks} AND e.seq <= ?",
                (*part, upto),
            ):
                churned[row["case_id"]] = row["local_at"]
            for row in view.fetch(
                c,
                f"SELECT aid, seq, field, effective_at, value FROM {p}_changes "
                f"WHERE aid IN {marks} AND seq <= ?",
                (*part, upto),
            ):
                changes[row["aid"]].append(
                    Change(row["effective_at"], row["seq"], row["field"], row["value"])
                )
        heads: dict[str, list[Interval]] = {}
        options = view.options
        known = []
        for case in cases:
            if case["case_id"] not in churned:
                continue
            unit_id = case["unit_id"]
            if unit_id not in heads:
                heads[unit_id] = self.heads.intervals(c, unit_id, upto)
            points = changes[case["aid"]]
            managers = [
                i for i in fold_intervals(points, (f"role:{DESIGNATED_MANAGER}",)) if i.values[0]
            ]
            facts = churn_case(
                kind=case["kind"],
                churned_at=datetime.fromisoformat(churned[case["case_id"]]),
                tiers=fold_intervals(points, ("tier",)),
                managers=managers,
                heads=heads[unit_id],
                fiscal_year_start=int(options["fiscal_year_start"]),
                lookback_days=int(options["churn_lookback_days"]),
            )
            known.append({**case, **facts, "in_scope": int(facts["in_scope"])})
        return known
