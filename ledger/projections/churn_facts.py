"""The facts of a churn case, worked out from a client's timelines (pure). (When each event
the accountability view keeps was recorded: `kit/recorded.py`.)"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ledger.domain.values import TIER_RANK
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
