"""Accountability (责任追究): who held each team role of a client when, churn cases and the
determinations on them. What the view keeps, and how, is in `churn_cases.py`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import UTC, datetime
from typing import Any

from ledger.domain import Client, NotFound, Unit
from ledger.domain.values import DESIGNATED_MANAGER
from ledger.projections.churn_cases import ChurnCases
from ledger.projections.churn_rulings import (
    CASE_FACTS,
    PENDING,
    Determinations,
    is_stale,
    late_changes,
    party_outcomes,
)
from ledger.projections.kit import BatchView, Part, UnitHeads, UnitTree, ViewProjection
from ledger.projections.kit.recorded import RecordedTimes
from ledger.projections.kit.text import (
    after_cursor,
    chunks,
    from_utc_text,
    given,
    placeholders,
    utc_text,
)
from ledger.projections.kit.timeline import value_at

__all__ = ["CASE_FACTS", "AccountabilityView", "SQLAccountabilityView"]


class AccountabilityView(ABC):
    """The queries of the accountability read model."""

    @abstractmethod
    def client_intervals(self, client_id: str) -> dict[str, Any]:
        """`{client_id, intervals: [{role, staff_id, from, to}]}`; `to` is None while open."""

    @abstractmethod
    def responsible(self, client_id: str, at: datetime | None = None) -> dict[str, Any]:
        """`{client_id, at, designated_manager, team: {role: staff_id}, unit_head}` at `at`
        (now by default); the outlet director defaults to the head of the client's outlet."""

    @abstractmethod
    def churn_cases(
        self,
        *,
        unit_id: str | None = None,
        fiscal_year: int | None = None,
        in_scope: bool | None = None,
        kind: str | None = None,
        case_id: str | None = None,
        pending: bool | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        known_at: datetime | None = None,
    ) -> dict[str, Any]:
        """`{items: [{case_id, client_id, kind, effective_at, accountability_tier, in_scope,
        designated_manager, unit_head, prior_holders, determination, determinations,
        determination_history, pending, late_changes, fiscal_year, unit_id}], next_cursor}`
        in effective order, `limit` a page (all by default) after `cursor`.
        `determination` is the latest (it stands), `determinations` the latest per party
        (null: the whole case), `determination_history` all of them, oldest first; each
        with the facts it was made on and `stale`. With `known_at`, the cases as the
        ledger knew them then (recorded time)."""

    @abstractmethod
    def churn_case(self, case_id: str) -> dict[str, Any]:
        """One case (as in `churn_cases`), e.g. to find its client before a determination."""

    @abstractmethod
    def staff_record(
        self, staff_id: str, fiscal_year: int, known_at: datetime | None = None
    ) -> dict[str, Any]:
        """`{staff_id, fiscal_year, as_designated_manager, as_unit_head, as_prior_holder,
        confirmed, waived, pending}`: in-scope cases of that fiscal year; the last three
        each `{as_designated_manager, as_unit_head}` by the outcome standing against the
        staff member's party. With `known_at`, as the ledger knew the cases then."""


class SQLAccountabilityView(BatchView, AccountabilityView):
    """Options: `fiscal_year_start` (a month) and `churn_lookback_days` (from Settings).
    (Each query's signature repeats the interface's, as an implementation of an abstract
    method must.)"""

    view_name = "accountability"

    def compose(self) -> list[Part]:
        self.units, self.recorded = UnitTree(self), RecordedTimes(self)
        self.determinations = Determinations(self, self.recorded)
        self.heads = UnitHeads(self, vacancies=True)
        self.cases = ChurnCases(self, self.units, self.recorded, self.determinations, self.heads)
        return [self.units, self.recorded, self.determinations, self.heads, self.cases]

    def _client(self, client_id: str) -> dict[str, Any]:
        rows = self.query(
            f"SELECT aid, client_id, unit_id FROM {self.view_name}_clients WHERE aid = ?",
            (str(Client.id_for(client_id)),),
        )
        if not rows:
            raise NotFound("client", client_id)
        return rows[0]

    def client_intervals(self, client_id: str) -> dict[str, Any]:
        client = self._client(client_id)
        rows = self.query(
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
                    "from": from_utc_text(r["valid_from"]),
                    "to": from_utc_text(r["valid_to"]),
                }
                for r in rows
            ],
        }

    def responsible(self, client_id: str, at: datetime | None = None) -> dict[str, Any]:
        client = self._client(client_id)
        at = at or datetime.now(UTC)
        moment = utc_text(at)
        rows = self.query(
            f"SELECT role, staff_id FROM {self.view_name}_intervals WHERE aid = ? "
            "AND valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)",
            (client["aid"], moment, moment),
        )
        team = {r["role"]: r["staff_id"] for r in rows}
        with self.read_transaction() as c:
            head = value_at(self.heads.intervals(c, client["unit_id"]), moment)
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
        pending: bool | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        known_at: datetime | None = None,
    ) -> dict[str, Any]:
        p = self.view_name
        if unit_id is not None:
            self.units.unit(unit_id)
        either_way = {
            f"k.unit_id IN (SELECT unit_id FROM {p}_unit_paths WHERE ancestor_id = ?)": unit_id,
            "k.kind = ?": kind,
            "k.case_id = ?": case_id,
        }
        if known_at is not None:
            where, params = given(either_way)
            wanted = {"fiscal_year": fiscal_year, "in_scope": in_scope, "pending": pending}
            return self._known_at(where, params, known_at, wanted, limit, cursor)
        where, params = given(
            {
                **either_way,
                "k.fiscal_year = ?": fiscal_year,
                "k.in_scope = ?": None if in_scope is None else int(in_scope),
                "COALESCE(s.pending, 0) = ?": None if pending is None else int(pending),
                **after_cursor(cursor, "k.effective_at", "k.case_id"),
            }
        )
        page = "" if limit is None else f" LIMIT {int(limit) + 1}"
        with self.read_transaction() as c:
            cases = self.fetch(
                c,
                f"SELECT k.*, s.pending AS pending FROM {p}_cases k LEFT JOIN {p}_case_states s "
                f"ON s.case_id = k.case_id WHERE {' AND '.join(where)} "
                f"ORDER BY k.effective_at, k.case_id{page}",
                params,
            )
            next_cursor = None
            if limit is not None and len(cases) > limit:
                cases = cases[:limit]
                next_cursor = f"{cases[-1]['effective_at']}|{cases[-1]['case_id']}"
            items = self._cases(c, cases)
        return {"items": items, "next_cursor": next_cursor}

    def _known_at(
        self,
        where: list[str],
        params: list[Any],
        known_at: datetime,
        wanted: dict[str, Any],
        limit: int | None,
        cursor: str | None,
    ) -> dict[str, Any]:
        """The cases as known at `known_at`: worked out again from what was recorded by
        then (the tables hold what is known now)."""
        p = self.view_name
        with self.read_transaction() as c:
            upto = self.recorded.known_position(c, known_at)
            rows = self.fetch(
                c,
                f"SELECT k.* FROM {p}_cases k WHERE {' AND '.join(where)} "
                "ORDER BY k.effective_at, k.case_id",
                params,
            )
            known = self.cases.known_cases(c, rows, upto)
            known = [
                case
                for case in known
                if wanted["fiscal_year"] in (None, case["fiscal_year"])
                and wanted["in_scope"] in (None, bool(case["in_scope"]))
                and (cursor is None or f"{case['effective_at']}|{case['case_id']}" > cursor)
            ]
            items = self._cases(c, known, upto)
        if wanted["pending"] is not None:
            items = [i for i in items if i["pending"] == wanted["pending"]]
        next_cursor = None
        if limit is not None and len(items) > limit:
            items = items[:limit]
            next_cursor = f"{utc_text(items[-1]['effective_at'])}|{items[-1]['case_id']}"
        return {"items": items, "next_cursor": next_cursor}

    def _cases(
        self, c: Any, cases: list[dict[str, Any]], upto: int | None = None
    ) -> list[dict[str, Any]]:
        """The answer's items for rows of the cases table (a page of them); with `upto`,
        rows worked out as known at that position (`known_cases`)."""
        p = self.view_name
        ids = [case["case_id"] for case in cases]
        priors: dict[str, list[str]] = {case_id: [] for case_id in ids}
        entries: dict[str, list[dict[str, Any]]] = {}
        churn_recorded: dict[str, str] = {}
        for part in chunks(ids):
            for row in self.fetch(
                c,
                f"SELECT case_id, staff_id FROM {p}_case_priors WHERE case_id IN "
                f"{placeholders(part)} ORDER BY case_id, position",
                part,
            ):
                priors[row["case_id"]].append(row["staff_id"])
        rulings = self.determinations.rulings(c, ids)
        if upto is not None:
            priors = {case["case_id"]: case["prior_holders"] for case in cases}
            rulings = {k: [r for r in v if r["seq"] <= upto] for k, v in rulings.items()}
        keys = sorted(
            {case["aid"] for case in cases} | {str(Unit.id_for(case["unit_id"])) for case in cases}
        )
        for part in chunks(keys):
            for row in self.fetch(
                c,
                f"SELECT * FROM {p}_entries WHERE aid IN {placeholders(part)} ORDER BY seq",
                part,
            ):
                if upto is not None and row["seq"] > upto:
                    continue
                if row["type"] == "Churned":
                    churn_recorded[row["event_id"]] = row["recorded_at"]
                else:
                    entries.setdefault(row["aid"], []).append(row)
        late_days = int(self.options["late_entry_days"])
        items = []
        for case in cases:
            case_id = case["case_id"]
            facts = {
                "accountability_tier": case["accountability_tier"],
                "designated_manager": case["designated_manager"],
                "unit_head": case["unit_head"],
                "prior_holders": priors[case_id],
            }
            history = [
                {
                    **ruling,
                    "decided_at": ruling["recorded_at"],
                    "decided_by": ruling["recorded_by"],
                    "stale": is_stale(ruling["facts"], facts),
                }
                for ruling in rulings.get(case_id, [])
            ]
            latest = {ruling["party"]: ruling for ruling in history}
            moved = entries.get(case["aid"], []) + entries.get(
                str(Unit.id_for(case["unit_id"])), []
            )
            items.append(
                {
                    "case_id": case_id,
                    "client_id": case["client_id"],
                    "unit_id": case["unit_id"],
                    "kind": case["kind"],
                    "effective_at": from_utc_text(case["effective_at"]),
                    "fiscal_year": int(case["fiscal_year"]),
                    **facts,
                    "in_scope": bool(case["in_scope"]),
                    "pending": bool(case["pending"])
                    if upto is None
                    else bool(case["in_scope"])
                    and PENDING in party_outcomes(facts, rulings.get(case_id, [])).values(),
                    "determination": history[-1] if history else None,
                    "determinations": sorted(latest.values(), key=lambda r: r["recorded_at"]),
                    "determination_history": history,
                    "late_changes": late_changes(
                        case, churn_recorded.get(case_id), moved, late_days
                    ),
                }
            )
        return items

    def churn_case(self, case_id: str) -> dict[str, Any]:
        items = self.churn_cases(case_id=case_id)["items"]
        if not items:
            raise NotFound("churn case", case_id)
        return items[0]

    def staff_record(
        self, staff_id: str, fiscal_year: int, known_at: datetime | None = None
    ) -> dict[str, Any]:
        if known_at is not None:
            return self._staff_record_known_at(staff_id, fiscal_year, known_at)
        p = self.view_name
        scope = "in_scope = 1 AND fiscal_year = ?"
        rows = self.query(
            f"SELECT (SELECT COUNT(*) FROM {p}_cases k JOIN {p}_case_priors r ON r.case_id = "
            f"k.case_id WHERE {scope} AND r.staff_id = ?) AS ph",
            (fiscal_year, staff_id),
        )
        record: dict[str, Any] = {
            "staff_id": staff_id,
            "fiscal_year": fiscal_year,
            "as_designated_manager": 0,
            "as_unit_head": 0,
            "as_prior_holder": int(rows[0]["ph"]),
        }
        outcomes = ("confirmed", "waived", "pending")
        for outcome in outcomes:
            record[outcome] = {"as_designated_manager": 0, "as_unit_head": 0}
        for party, column, outcome_column in (
            ("as_designated_manager", "designated_manager", "manager_outcome"),
            ("as_unit_head", "unit_head", "head_outcome"),
        ):
            for row in self.query(
                f"SELECT s.{outcome_column} AS outcome, COUNT(*) AS n FROM {p}_cases k "
                f"LEFT JOIN {p}_case_states s ON s.case_id = k.case_id "
                f"WHERE {scope} AND k.{column} = ? GROUP BY s.{outcome_column}",
                (fiscal_year, staff_id),
            ):
                record[party] += int(row["n"])
                if row["outcome"] in outcomes:
                    record[row["outcome"]][party] += int(row["n"])
        return record

    def _staff_record_known_at(
        self, staff_id: str, fiscal_year: int, known_at: datetime
    ) -> dict[str, Any]:
        cases = self.churn_cases(fiscal_year=fiscal_year, in_scope=True, known_at=known_at)
        return {**tally(staff_id, fiscal_year, cases["items"]), "known_at": known_at}


def tally(staff_id: str, fiscal_year: int, cases: list[dict[str, Any]]) -> dict[str, Any]:
    """A staff record counted from in-scope cases (as `churn_cases` answers them)."""
    record: dict[str, Any] = {
        "staff_id": staff_id,
        "fiscal_year": fiscal_year,
        "as_designated_manager": 0,
        "as_unit_head": 0,
        "as_prior_holder": sum(staff_id in case["prior_holders"] for case in cases),
    }
    for outcome in ("confirmed", "waived", PENDING):
        record[outcome] = {"as_designated_manager": 0, "as_unit_head": 0}
    for case in cases:
        outcomes = party_outcomes(case, case["determination_history"])
        for party in ("designated_manager", "unit_head"):
            if case[party] == staff_id:
                record[f"as_{party}"] += 1
                record[outcomes[party]][f"as_{party}"] += 1
    return record


class AccountabilityProjection(ViewProjection):
    name = "accountability"
