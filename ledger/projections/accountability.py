"""Accountability (责任追究): who held each team role of a client when, churn cases and the
determinations on them. What the view keeps, and how, is in `churn_cases.py`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import UTC, datetime
from typing import Any

from ledger.domain import Client, NotFound
from ledger.domain.values import DESIGNATED_MANAGER
from ledger.projections.churn_cases import ChurnCases
from ledger.projections.kit import (
    BatchView,
    Part,
    UnitTree,
    ViewProjection,
    from_utc_text,
    utc_text,
)
from ledger.projections.kit.timeline import value_at


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
    ) -> dict[str, Any]:
        """`{items: [{case_id, client_id, kind, effective_at, accountability_tier, in_scope,
        designated_manager, unit_head, prior_holders, determination, determinations,
        fiscal_year, unit_id}]}` in effective order; `determination` is the latest (it
        stands), `determinations` all of them, oldest first."""

    @abstractmethod
    def churn_case(self, case_id: str) -> dict[str, Any]:
        """One case (as in `churn_cases`), e.g. to find its client before a determination."""

    @abstractmethod
    def staff_record(self, staff_id: str, fiscal_year: int) -> dict[str, Any]:
        """`{staff_id, fiscal_year, as_designated_manager, as_unit_head, as_prior_holder}`:
        in-scope cases of that fiscal year."""


class SQLAccountabilityView(BatchView, AccountabilityView):
    """Options: `fiscal_year_start` (a month) and `churn_lookback_days` (from Settings).
    (Each query's signature repeats the interface's, as an implementation of an abstract
    method must.)"""

    view_name = "accountability"

    def compose(self) -> list[Part]:
        self.units = UnitTree(self)
        self.cases = ChurnCases(self, self.units)
        return [self.units, self.cases]

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
            head = value_at(self.cases.head_intervals(c, client["unit_id"]), moment)
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
        p = self.view_name
        where, params = ["1 = 1"], []
        if unit_id is not None:
            self.units.unit(unit_id)
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
        with self.read_transaction() as c:
            cases = self.fetch(
                c,
                f"SELECT * FROM {p}_cases k WHERE {' AND '.join(where)} "
                "ORDER BY k.effective_at, k.case_id",
                params,
            )
            priors: dict[str, list[str]] = {case["case_id"]: [] for case in cases}
            rulings: dict[str, list[dict[str, Any]]] = {case["case_id"]: [] for case in cases}
            for row in self.fetch(
                c,
                f"SELECT x.case_id AS case_id, x.staff_id AS staff_id FROM {p}_case_priors x "
                f"{matching} ORDER BY x.case_id, x.position",
                params,
            ):
                priors[row["case_id"]].append(row["staff_id"])
            for row in self.fetch(
                c,
                f"SELECT x.* FROM {p}_determinations x {matching} ORDER BY x.case_id, x.seq",
                params,
            ):
                rulings[row["case_id"]].append(
                    {
                        "outcome": row["outcome"],
                        "reason": row["reason"],
                        "event_id": row["event_id"],
                        "recorded_at": from_utc_text(row["recorded_at"]),
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
                    "effective_at": from_utc_text(case["effective_at"]),
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
        items = self.churn_cases(case_id=case_id)["items"]
        if not items:
            raise NotFound("churn case", case_id)
        return items[0]

    def staff_record(self, staff_id: str, fiscal_year: int) -> dict[str, Any]:
        p = self.view_name
        scope = "in_scope = 1 AND fiscal_year = ?"
        rows = self.query(
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


class AccountabilityProjection(ViewProjection):
    name = "accountability"
