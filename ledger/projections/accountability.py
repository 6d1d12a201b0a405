"""Accountability (责任追究): who held each team role of a client when, and churn cases.

Every tier change, assignment, churn and head appointment is kept as a change point. A
client's role intervals and churn cases are recomputed from all of them whenever one
arrives, so a backdated reassignment or downgrade recorded after a churn still moves the
case to what was true at the churn's effective time.
"""

from __future__ import annotations

from abc import ABC
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from ledger.domain import Client, NotFound, Unit
from ledger.domain.values import DESIGNATED_MANAGER, TEAM_ROLES, TIER_RANK
from ledger.projections.base import (
    PostgresBackend,
    SQLiteBackend,
    UnitTree,
    aid,
    chunks,
    from_ts,
    topics_of,
    ts,
)
from ledger.projections.timeline import Change, Interval, fold_intervals, holders_within, value_at

IN_SCOPE_TIERS = ("platinum", "diamond")
DEFAULT_LOOKBACK_DAYS = 90


def fiscal_year_of(moment: datetime, start_month: int = 1) -> tuple[int, datetime]:
    """The fiscal year (named by the calendar year it starts in) holding `moment`, and its
    start, both in `moment`'s own offset: a churn on 1 January at 03:00 in Beijing is in
    the new year even though it is still 31 December in UTC."""
    year = moment.year if moment.month >= start_month else moment.year - 1
    return year, moment.replace(
        year=year, month=start_month, day=1, hour=0, minute=0, second=0, microsecond=0
    )


def churn_case(
    *,
    kind: str,
    churned_at: datetime,
    tiers: list[Interval],
    managers: list[Interval],
    heads: list[Interval],
    fiscal_year_start: int = 1,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
) -> dict[str, Any]:
    """The facts of one churn case, from the client's timelines."""
    at = ts(churned_at)
    fiscal_year, fy_start = fiscal_year_of(churned_at, fiscal_year_start)
    start = ts(fy_start)
    held = [
        i.values[0]
        for i in tiers
        if i.values[0] is not None
        and i.valid_from <= at
        and (i.valid_to is None or i.valid_to > start)
    ]
    tier = max(held, key=TIER_RANK.__getitem__) if held else None
    manager = value_at(managers, at)
    window_start = ts(churned_at - timedelta(days=lookback_days))
    prior = [s for s in holders_within(managers, window_start, at) if s != manager]
    return {
        "fiscal_year": fiscal_year,
        "accountability_tier": tier,
        "in_scope": kind == "abnormal" and tier in IN_SCOPE_TIERS,
        "designated_manager": manager,
        "unit_head": value_at(heads, at),
        "prior_holders": prior,
    }


class AccountabilityView(UnitTree, ABC):
    view_name = "accountability"

    def view_statements(self) -> list[str]:
        p = self.view_name
        return [
            *super().view_statements(),
            f"CREATE TABLE IF NOT EXISTS {p}_clients (aid TEXT PRIMARY KEY, client_id TEXT, "
            "unit_id TEXT)",
            f"CREATE INDEX IF NOT EXISTS {p}_clients_unit ON {p}_clients (unit_id)",
            f"CREATE TABLE IF NOT EXISTS {p}_changes (aid TEXT, seq BIGINT, field TEXT, "
            "effective_at TEXT, value TEXT, PRIMARY KEY (aid, seq, field))",
            f"CREATE TABLE IF NOT EXISTS {p}_heads (unit_aid TEXT, seq BIGINT, "
            "effective_at TEXT, staff_id TEXT, PRIMARY KEY (unit_aid, seq))",
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
            f"CREATE TABLE IF NOT EXISTS {p}_determinations (case_id TEXT, seq BIGINT, "
            "outcome TEXT, reason TEXT, event_id TEXT, recorded_at TEXT, recorded_by TEXT, "
            "PRIMARY KEY (case_id, seq))",
        ]

    @property
    def fiscal_year_start(self) -> int:
        return int(getattr(self, "options", {}).get("fiscal_year_start", 1))

    @property
    def lookback_days(self) -> int:
        return int(getattr(self, "options", {}).get("churn_lookback_days", DEFAULT_LOOKBACK_DAYS))

    # ---- updates --------------------------------------------------------------------

    def register_client(
        self, aid: str, client_id: str, unit_id: str, tier: str, at: datetime, tracking: Tracking
    ) -> None:
        p = self.view_name
        with self._write() as c:
            self._exec(
                c,
                f"INSERT INTO {p}_clients (aid, client_id, unit_id) VALUES (?, ?, ?) "
                "ON CONFLICT (aid) DO NOTHING",
                (aid, client_id, unit_id),
            )
            self._change(c, aid, tracking.notification_id, "tier", at, tier)
            self._track(tracking)

    def record_change(
        self, aid: str, field: str, at: datetime, value: str, tracking: Tracking
    ) -> None:
        with self._write() as c:
            self._change(c, aid, tracking.notification_id, field, at, value)
            self._track(tracking)

    def _change(self, c: Any, aid: str, seq: int, field: str, at: datetime, value: str) -> None:
        self._exec(
            c,
            f"INSERT INTO {self.view_name}_changes (aid, seq, field, effective_at, value) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (aid, seq, field, ts(at), value),
        )
        self._dirty("client", aid)

    def record_churn(
        self, aid: str, case_id: str, kind: str, at: datetime, tracking: Tracking
    ) -> None:
        with self._write() as c:
            self._exec(
                c,
                f"INSERT INTO {self.view_name}_churns (case_id, aid, kind, effective_at, "
                "local_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (case_id, aid, kind, ts(at), at.isoformat()),
            )
            self._dirty("client", aid)
            self._track(tracking)

    def appoint_head(self, unit_aid: str, staff_id: str, at: datetime, tracking: Tracking) -> None:
        with self._write() as c:
            self._exec(
                c,
                f"INSERT INTO {self.view_name}_heads (unit_aid, seq, effective_at, staff_id) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (unit_aid, tracking.notification_id, ts(at), staff_id),
            )
            self._dirty("unit", unit_aid)
            self._track(tracking)

    def record_determination(
        self,
        case_id: str,
        outcome: str,
        reason: str,
        event_id: str,
        recorded_at: datetime,
        recorded_by: str,
        tracking: Tracking,
    ) -> None:
        with self._write() as c:
            self._exec(
                c,
                f"INSERT INTO {self.view_name}_determinations (case_id, seq, outcome, reason, "
                "event_id, recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (
                    case_id,
                    tracking.notification_id,
                    outcome,
                    reason,
                    event_id,
                    ts(recorded_at),
                    recorded_by,
                ),
            )
            self._track(tracking)

    def _flush(self, c: Any, dirty: dict[str, set[str]]) -> None:
        super()._flush(c, dirty)
        p = self.view_name
        clients = set(dirty.get("client", ()))
        for part in chunks(sorted(dirty.get("unit", ()))):
            rows = self._all(
                c,
                f"SELECT DISTINCT aid FROM {p}_churns WHERE aid IN (SELECT k.aid FROM "
                f"{p}_clients k JOIN {p}_units u ON u.unit_id = k.unit_id "
                f"WHERE u.aid IN {self._in(part)})",
                part,
            )
            clients.update(row["aid"] for row in rows)
        for part in chunks(sorted(clients)):
            self._recompute(c, part)

    def _recompute(self, c: Any, aids: list[str]) -> None:
        p = self.view_name
        marks = self._in(aids)
        changes: dict[str, list[Change]] = {a: [] for a in aids}
        for row in self._all(
            c,
            f"SELECT aid, seq, field, effective_at, value FROM {p}_changes WHERE aid IN {marks}",
            aids,
        ):
            changes[row["aid"]].append(
                Change(row["effective_at"], row["seq"], row["field"], row["value"])
            )
        roles = {
            a: {
                role: [i for i in fold_intervals(points, (f"role:{role}",)) if i.values[0]]
                for role in TEAM_ROLES
            }
            for a, points in changes.items()
        }
        self._exec(c, f"DELETE FROM {p}_intervals WHERE aid IN {marks}", aids)
        self._many(
            c,
            f"INSERT INTO {p}_intervals (aid, role, staff_id, valid_from, valid_to) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                (a, role, i.values[0], i.valid_from, i.valid_to)
                for a, by_role in roles.items()
                for role, intervals in by_role.items()
                for i in intervals
            ),
        )
        churns = self._all(
            c,
            f"SELECT h.case_id AS case_id, h.aid AS aid, h.kind AS kind, h.local_at AS local_at, "
            f"k.client_id AS client_id, k.unit_id AS unit_id FROM {p}_churns h "
            f"JOIN {p}_clients k ON k.aid = h.aid WHERE h.aid IN {marks}",
            aids,
        )
        cases = [row["case_id"] for row in churns]
        for part in chunks(cases):
            self._exec(c, f"DELETE FROM {p}_case_priors WHERE case_id IN {self._in(part)}", part)
        self._exec(c, f"DELETE FROM {p}_cases WHERE aid IN {marks}", aids)
        heads: dict[str, list[Interval]] = {}
        for churn in churns:
            unit_id = churn["unit_id"]
            if unit_id not in heads:
                heads[unit_id] = self._head_intervals(c, unit_id)
            churned_at = datetime.fromisoformat(churn["local_at"])
            case = churn_case(
                kind=churn["kind"],
                churned_at=churned_at,
                tiers=fold_intervals(changes[churn["aid"]], ("tier",)),
                managers=roles[churn["aid"]][DESIGNATED_MANAGER],
                heads=heads[unit_id],
                fiscal_year_start=self.fiscal_year_start,
                lookback_days=self.lookback_days,
            )
            self._exec(
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
                    ts(churned_at),
                    case["fiscal_year"],
                    case["accountability_tier"],
                    int(case["in_scope"]),
                    case["designated_manager"],
                    case["unit_head"],
                ),
            )
            self._many(
                c,
                f"INSERT INTO {p}_case_priors (case_id, staff_id, position) VALUES (?, ?, ?)",
                ((churn["case_id"], s, n) for n, s in enumerate(case["prior_holders"])),
            )

    def _head_intervals(self, c: Any, unit_id: str) -> list[Interval]:
        rows = self._all(
            c,
            f"SELECT seq, effective_at, staff_id FROM {self.view_name}_heads WHERE unit_aid = ?",
            (str(Unit.id_for(unit_id)),),
        )
        return fold_intervals(
            (Change(r["effective_at"], r["seq"], "head", r["staff_id"]) for r in rows), ("head",)
        )

    # ---- queries --------------------------------------------------------------------

    def _client(self, client_id: str) -> dict[str, Any]:
        rows = self._query(
            f"SELECT aid, client_id, unit_id FROM {self.view_name}_clients WHERE aid = ?",
            (str(Client.id_for(client_id)),),
        )
        if not rows:
            raise NotFound("client", client_id)
        return rows[0]

    def client_intervals(self, client_id: str) -> dict[str, Any]:
        """`{client_id, intervals: [{role, staff_id, from, to}]}`; `to` is None while open."""
        client = self._client(client_id)
        rows = self._query(
            f"SELECT role, staff_id, valid_from, valid_to FROM {self.view_name}_intervals "
            "WHERE aid = ? ORDER BY role, valid_from",
            (client["aid"],),
        )
        return {
            "client_id": client_id,
            "intervals": [
                {
                    "role": r["role"],
                    "staff_id": r["staff_id"],
                    "from": from_ts(r["valid_from"]),
                    "to": from_ts(r["valid_to"]),
                }
                for r in rows
            ],
        }

    def responsible(self, client_id: str, at: datetime) -> dict[str, Any]:
        """`{client_id, at, designated_manager, team: {role: staff_id}, unit_head}`; the
        outlet director defaults to the head of the client's outlet."""
        client = self._client(client_id)
        moment = ts(at)
        rows = self._query(
            f"SELECT role, staff_id FROM {self.view_name}_intervals WHERE aid = ? "
            "AND valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)",
            (client["aid"], moment, moment),
        )
        team = {r["role"]: r["staff_id"] for r in rows}
        with self._read_transaction() as c:
            head = value_at(self._head_intervals(c, client["unit_id"]), moment)
        if head is not None:
            team.setdefault("outlet_director", head)
        return {
            "client_id": client_id,
            "at": at,
            "designated_manager": team.get(DESIGNATED_MANAGER),
            "team": team,
            "unit_head": head,
        }

    def churn_cases(
        self,
        *,
        unit_id: str | None = None,
        fiscal_year: int | None = None,
        in_scope: bool | None = None,
        kind: str | None = None,
        case_id: str | None = None,
    ) -> dict[str, Any]:
        """`{items: [{case_id, client_id, kind, effective_at, accountability_tier, in_scope,
        designated_manager, unit_head, prior_holders, determination, determinations,
        fiscal_year, unit_id}]}` in effective order; `determination` is the latest (it
        stands), `determinations` all of them, oldest first."""
        p = self.view_name
        where, params = ["1 = 1"], []
        if unit_id is not None:
            self.unit(unit_id)
            where.append(f"k.unit_id IN (SELECT unit_id FROM {p}_unit_paths WHERE ancestor_id = ?)")
            params.append(unit_id)
        for column, value in (("fiscal_year", fiscal_year), ("kind", kind), ("case_id", case_id)):
            if value is not None:
                where.append(f"k.{column} = ?")
                params.append(value)
        if in_scope is not None:
            where.append("k.in_scope = ?")
            params.append(int(in_scope))
        # One query per table, each filtered by the cases' own conditions: a unit high in
        # the tree has thousands of cases, and lists of their ids cost a round trip per
        # few hundred on PostgreSQL.
        matching = f"JOIN {p}_cases k ON k.case_id = x.case_id WHERE {' AND '.join(where)}"
        with self._read_transaction() as c:
            cases = self._all(
                c,
                f"SELECT * FROM {p}_cases k WHERE {' AND '.join(where)} "
                "ORDER BY k.effective_at, k.case_id",
                params,
            )
            priors: dict[str, list[str]] = {case["case_id"]: [] for case in cases}
            rulings: dict[str, list[dict[str, Any]]] = {case["case_id"]: [] for case in cases}
            for row in self._all(
                c,
                f"SELECT x.case_id AS case_id, x.staff_id AS staff_id FROM {p}_case_priors x "
                f"{matching} ORDER BY x.case_id, x.position",
                params,
            ):
                priors[row["case_id"]].append(row["staff_id"])
            for row in self._all(
                c,
                f"SELECT x.* FROM {p}_determinations x {matching} ORDER BY x.case_id, x.seq",
                params,
            ):
                rulings[row["case_id"]].append(
                    {
                        "outcome": row["outcome"],
                        "reason": row["reason"],
                        "event_id": row["event_id"],
                        "recorded_at": from_ts(row["recorded_at"]),
                        "recorded_by": row["recorded_by"],
                    }
                )
        return {
            "items": [
                {
                    "case_id": case["case_id"],
                    "client_id": case["client_id"],
                    "unit_id": case["unit_id"],
                    "kind": case["kind"],
                    "effective_at": from_ts(case["effective_at"]),
                    "fiscal_year": int(case["fiscal_year"]),
                    "accountability_tier": case["accountability_tier"],
                    "in_scope": bool(case["in_scope"]),
                    "designated_manager": case["designated_manager"],
                    "unit_head": case["unit_head"],
                    "prior_holders": priors[case["case_id"]],
                    "determination": (rulings[case["case_id"]] or [None])[-1],
                    "determinations": rulings[case["case_id"]],
                }
                for case in cases
            ]
        }

    def churn_case(self, case_id: str) -> dict[str, Any]:
        """One case (as in `churn_cases`), e.g. to find its client before a determination."""
        items = self.churn_cases(case_id=case_id)["items"]
        if not items:
            raise NotFound("churn case", case_id)
        return items[0]

    def staff_record(self, staff_id: str, fiscal_year: int) -> dict[str, Any]:
        """`{staff_id, fiscal_year, as_designated_manager, as_unit_head, as_prior_holder}`:
        in-scope cases of that fiscal year."""
        p = self.view_name
        scope = "in_scope = 1 AND fiscal_year = ?"
        rows = self._query(
            f"SELECT (SELECT COUNT(*) FROM {p}_cases WHERE {scope} AND designated_manager = ?) "
            f"AS dm, (SELECT COUNT(*) FROM {p}_cases WHERE {scope} AND unit_head = ?) AS uh, "
            f"(SELECT COUNT(*) FROM {p}_cases k JOIN {p}_case_priors r ON r.case_id = k.case_id "
            f"WHERE {scope} AND r.staff_id = ?) AS ph",
            (fiscal_year, staff_id, fiscal_year, staff_id, fiscal_year, staff_id),
        )
        row = rows[0]
        return {
            "staff_id": staff_id,
            "fiscal_year": fiscal_year,
            "as_designated_manager": int(row["dm"]),
            "as_unit_head": int(row["uh"]),
            "as_prior_holder": int(row["ph"]),
        }


class SQLiteAccountabilityView(SQLiteBackend, AccountabilityView):
    pass


class PostgresAccountabilityView(PostgresBackend, AccountabilityView):
    pass


class AccountabilityProjection(Projection[AccountabilityView]):
    name = "accountability"
    topics = topics_of(
        Unit.Created,
        Unit.HeadAppointed,
        Client.Registered,
        Client.TierChanged,
        Client.Assigned,
        Client.Churned,
        Client.ChurnDetermined,
    )

    @singledispatchmethod
    def process_event(self, event: Any, tracking: Tracking) -> None:
        self.view.track(tracking)

    @process_event.register
    def _unit_created(self, event: Unit.Created, tracking: Tracking) -> None:
        self.view.add_unit(
            aid(event), event.unit_id, event.parent_id, event.name, event.kind, tracking
        )

    @process_event.register
    def _head_appointed(self, event: Unit.HeadAppointed, tracking: Tracking) -> None:
        self.view.appoint_head(aid(event), event.staff_id, event.effective_at, tracking)

    @process_event.register
    def _registered(self, event: Client.Registered, tracking: Tracking) -> None:
        self.view.register_client(
            aid(event), event.client_id, event.unit_id, event.tier, event.effective_at, tracking
        )

    @process_event.register
    def _tier_changed(self, event: Client.TierChanged, tracking: Tracking) -> None:
        self.view.record_change(aid(event), "tier", event.effective_at, event.tier, tracking)

    @process_event.register
    def _assigned(self, event: Client.Assigned, tracking: Tracking) -> None:
        self.view.record_change(
            aid(event), f"role:{event.role}", event.effective_at, event.staff_id, tracking
        )

    @process_event.register
    def _churned(self, event: Client.Churned, tracking: Tracking) -> None:
        self.view.record_churn(aid(event), event.event_id, event.kind, event.effective_at, tracking)

    @process_event.register
    def _determined(self, event: Client.ChurnDetermined, tracking: Tracking) -> None:
        self.view.record_determination(
            event.case_id,
            event.outcome,
            event.reason,
            event.event_id,
            event.timestamp,
            event.recorded_by,
            tracking,
        )
