"""Rulings on churn cases: the determinations made, the party each names and the facts it
was made on; whether one still stands (staleness), the outcome standing against each party,
and the changes recorded late."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from eventsourcing.persistence import Tracking

from ledger.domain import Client
from ledger.domain.values import PARTIES
from ledger.projections.churn_facts import RecordedTimes
from ledger.projections.kit import BatchView, Handler, Part
from ledger.projections.kit.text import (
    aggregate_key,
    chunks,
    from_utc_text,
    placeholders,
    utc_text,
)

# What a determination is made on: when any of them changes, it is stale.
CASE_FACTS = ("accountability_tier", "designated_manager", "unit_head", "prior_holders")
PENDING = "pending"


def is_stale(facts: Mapping[str, Any] | None, case: Mapping[str, Any]) -> bool:
    """Whether the case's facts moved since a determination made on `facts`. One stored
    before determinations kept their facts (None) is taken as made on today's."""
    if facts is None:
        return False
    return any(facts.get(name) != case[name] for name in CASE_FACTS)


def party_outcomes(case: Mapping[str, Any], rulings: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Per party, the outcome standing against it: the latest determination naming it or
    the whole case (`rulings` oldest first), or `pending` when there is none or it is
    stale."""
    outcomes = {}
    for party in PARTIES:
        covering = [r for r in rulings if r["party"] in (None, party)]
        latest = covering[-1] if covering else None
        if latest is None or is_stale(latest["facts"], case):
            outcomes[party] = PENDING
        else:
            outcomes[party] = latest["outcome"]
    return outcomes


def late_changes(
    case: Mapping[str, Any],
    churn_recorded_at: str | None,
    entries: Iterable[Mapping[str, Any]],
    late_days: int,
) -> list[dict[str, Any]]:
    """The entries (assignments, tier changes, head appointments) in force by the churn
    that were recorded after the churn was, or more than `late_days` after they took
    effect; in recorded order."""
    late = []
    for entry in entries:
        if entry["effective_at"] > case["effective_at"] or entry["event_id"] == case["case_id"]:
            continue
        recorded, effective = (from_utc_text(entry[k]) for k in ("recorded_at", "effective_at"))
        after_churn = churn_recorded_at is not None and entry["recorded_at"] > churn_recorded_at
        if after_churn or recorded - effective > timedelta(days=late_days):  # type: ignore[operator]
            late.append(
                {
                    "event_id": entry["event_id"],
                    "type": entry["type"],
                    "effective_at": effective,
                    "recorded_at": recorded,
                    "recorded_by": entry["recorded_by"],
                }
            )
    return sorted(late, key=lambda e: e["recorded_at"])


class Determinations(Part):
    """The determinations on churn cases; each marks its client's cases to recompute."""

    def __init__(self, view: BatchView, recorded: RecordedTimes) -> None:
        super().__init__(view)
        self.recorded = recorded

    def tables(self) -> list[str]:
        p = self.prefix
        return [
            f"CREATE TABLE IF NOT EXISTS {p}_determinations (case_id TEXT, seq BIGINT, "
            "outcome TEXT, reason TEXT, event_id TEXT, recorded_at TEXT, recorded_by TEXT, "
            "PRIMARY KEY (case_id, seq))",
            # 1.1: the party a determination names and the facts it was made on (a row
            # only for determinations that carry them).
            f"CREATE TABLE IF NOT EXISTS {p}_ruling_facts (case_id TEXT, seq BIGINT, "
            "party TEXT, facts TEXT, PRIMARY KEY (case_id, seq))",
        ]

    def handlers(self) -> dict[type, Handler]:
        return {Client.ChurnDetermined: self.determined}

    def determined(self, event: Client.ChurnDetermined, tracking: Tracking) -> None:
        view, seq = self.view, tracking.notification_id
        with view.write() as c:
            self.recorded.note(c, tracking, event)
            view.execute(
                c,
                f"INSERT INTO {self.prefix}_determinations (case_id, seq, outcome, reason, "
                "event_id, recorded_at, recorded_by) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (
                    event.case_id,
                    seq,
                    event.outcome,
                    event.reason,
                    event.event_id,
                    utc_text(event.timestamp),
                    event.recorded_by,
                ),
            )
            if event.party is not None or event.facts is not None:
                facts = None if event.facts is None else json.dumps(event.facts, sort_keys=True)
                view.execute(
                    c,
                    f"INSERT INTO {self.prefix}_ruling_facts (case_id, seq, party, facts) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (event.case_id, seq, event.party, facts),
                )
            view.mark("client", aggregate_key(event))
            view.advance(tracking)

    def rulings(self, c: Any, cases: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """The determinations of `cases`, oldest first, with the party each names and the
        facts it was made on (None for one stored before they were kept)."""
        found: dict[str, list[dict[str, Any]]] = {}
        for part in chunks(cases):
            self._add_rulings(
                found,
                self.view.fetch(
                    c,
                    f"SELECT x.*, f.party AS party, f.facts AS facts FROM "
                    f"{self.prefix}_determinations x LEFT JOIN {self.prefix}_ruling_facts f "
                    "ON f.case_id = x.case_id AND f.seq = x.seq "
                    f"WHERE x.case_id IN {placeholders(part)} ORDER BY x.case_id, x.seq",
                    part,
                ),
            )
        return found

    @staticmethod
    def _add_rulings(
        found: dict[str, list[dict[str, Any]]], rows: Iterable[dict[str, Any]]
    ) -> None:
        for row in rows:
            found.setdefault(row["case_id"], []).append(
                {
                    "party": row["party"],
                    "outcome": row["outcome"],
                    "reason": row["reason"],
                    "event_id": row["event_id"],
                    "recorded_at": from_utc_text(row["recorded_at"]),
                    "recorded_by": row["recorded_by"],
                    "facts": None if row["facts"] is None else json.loads(row["facts"]),
                    "seq": int(row["seq"]),
                }
            )
