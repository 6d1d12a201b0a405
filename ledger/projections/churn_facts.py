"""The facts of a churn case, worked out from a client's timelines (pure), and when each
event the accountability view keeps was recorded: the cases as known at a time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from eventsourcing.persistence import Tracking

from ledger.domain.values import TIER_RANK
from ledger.projections.kit import Part
from ledger.projections.kit.text import utc_text
from ledger.projections.kit.timeline import Interval, holders_within, value_at

IN_SCOPE_TIERS = ("platinum", "diamond")


def fiscal_year_of(moment: datetime, start_month: int) -> tuple[int, datetime]:
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
    fiscal_year_start: int,
    lookback_days: int,
) -> dict[str, Any]:
    """The facts of one churn case, from the client's timelines."""
    at = utc_text(churned_at)
    fiscal_year, fy_start = fiscal_year_of(churned_at, fiscal_year_start)
    start = utc_text(fy_start)
    held = [
        i.values[0]
        for i in tiers
        if i.values[0] is not None
        and i.valid_from <= at
        and (i.valid_to is None or i.valid_to > start)
    ]
    tier = max(held, key=TIER_RANK.__getitem__) if held else None
    manager = value_at(managers, at)
    window_start = utc_text(churned_at - timedelta(days=lookback_days))
    prior = [s for s in holders_within(managers, window_start, at) if s != manager]
    return {
        "fiscal_year": fiscal_year,
        "accountability_tier": tier,
        "in_scope": kind == "abnormal" and tier in IN_SCOPE_TIERS,
        "designated_manager": manager,
        "unit_head": value_at(heads, at),
        "prior_holders": prior,
    }


class RecordedTimes(Part):
    """When each event the view keeps was recorded, by log position."""

    def tables(self) -> list[str]:
        p = self.prefix
        return [
            f"CREATE TABLE IF NOT EXISTS {p}_recorded (seq BIGINT PRIMARY KEY, recorded_at TEXT)",
            f"CREATE INDEX IF NOT EXISTS {p}_recorded_at ON {p}_recorded (recorded_at)",
        ]

    def note(self, c: Any, tracking: Tracking, event: Any) -> None:
        self.view.execute(
            c,
            f"INSERT INTO {self.prefix}_recorded (seq, recorded_at) VALUES (?, ?) "
            "ON CONFLICT DO NOTHING",
            (tracking.notification_id, utc_text(event.timestamp)),
        )

    def known_position(self, c: Any, known_at: datetime) -> int:
        """The last position of the view's events recorded by `known_at`."""
        rows = self.view.fetch(
            c,
            f"SELECT MAX(seq) AS seq FROM {self.prefix}_recorded WHERE recorded_at <= ?",
            (utc_text(known_at),),
        )
        return int(rows[0]["seq"] or 0)
