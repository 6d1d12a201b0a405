"""The console's tables: what each holds (the JSON field names, which are also the export
headers) and how its rows are gathered from the read models."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import HTTPException, Request, Response

from ledger.api.exports import FORMATS, export_response
from ledger.console.sources import (
    OUTCOMES,
    PARTIES,
    PENDING,
    TIERS,
    ChurnCasePublic,
    party_outcomes,
)
from ledger.console.web import Viewer, render

# The domain's tiers, highest first: the order a person reads a portfolio in.
TIERS_DOWN = tuple(reversed(TIERS))

ROSTER = ("client_id", "name", "unit_id", "tier", "status", "designated_manager")
OVERDUE = ("client_id", "tier", "last_contact_at", "days_overdue", "designated_manager")
ORPHANED = ("client_id", "tier", "former_manager", "since")
AT_RISK = ("client_id", "tier", "reasons", "designated_manager", "unit_head", "prior_holders")
TEAM_GAPS = ("client_id", "tier", "missing")
# The API's churn case, field for field: the download holds what GET .../churn-cases does.
CASES = tuple(ChurnCasePublic.model_fields)
HISTORY = (
    "event_id",
    "type",
    "version",
    "position",
    "occurred_at",
    "recorded_at",
    "recorded_by",
    "data",
    "retracted_by",
    "hash",
)
TALLY_OUTCOMES = (*OUTCOMES, PENDING)
TALLIES = (
    "staff_id",
    "fiscal_year",
    "as_designated_manager",
    "as_unit_head",
    "as_prior_holder",
    *(f"{outcome}_as_{party}" for outcome in TALLY_OUTCOMES for party in PARTIES),
)
COMPLETENESS = ("unit_id", "vip_active", "complete", "rate")
GROWTH = ("unit_id", "tier", "start", "end", "change", "growth_rate", "share_of_parent", "rank")
PORTFOLIO = ("staff_id", "from", "to", *TIERS, "assets_change")
FOUND = ("client_id", "name", "unit_id", "tier", "status", "designated_manager")


def check_format(fmt: str | None) -> None:
    if fmt is not None and fmt not in FORMATS:
        raise HTTPException(422, "format: must be csv or xlsx")


def table_page(
    request: Request,
    viewer: Viewer,
    template: str,
    *,
    fmt: str | None,
    rows: Iterable[Mapping[str, Any]],
    fields: Sequence[str],
    name: str,
    **context: Any,
) -> Response:
    """The page, or with `format=csv|xlsx` every row of its table as a download."""
    check_format(fmt)
    if fmt is not None:
        return export_response(rows, fields, fmt, name)
    return render(request, viewer, template, rows=list(rows), fields=fields, **context)


def tallies(cases: Iterable[Mapping[str, Any]], fiscal_year: int | None) -> list[dict[str, Any]]:
    """Per staff member, of the in-scope `cases`: as designated manager, as outlet head, as
    a prior holder, and per outcome standing against the member's party (confirmed, waived,
    pending) as designated manager and as outlet head: GET /v1/accountability/staff/{id}'s
    counts, flattened, for every staff member named."""
    counts: dict[str, Counter[str]] = {}
    for case in cases:
        if not case["in_scope"]:
            continue
        outcomes = party_outcomes(case, case["determination_history"])
        for party in PARTIES:
            if case[party]:
                tally = counts.setdefault(case[party], Counter())
                tally[f"as_{party}"] += 1
                tally[f"{outcomes[party]}_as_{party}"] += 1
        for staff_id in case["prior_holders"]:
            counts.setdefault(staff_id, Counter())["as_prior_holder"] += 1
    rows = [
        {"staff_id": staff_id, "fiscal_year": fiscal_year, **{f: c[f] for f in TALLIES[2:]}}
        for staff_id, c in counts.items()
    ]
    rows.sort(key=lambda r: (-r["as_designated_manager"], -r["as_unit_head"], r["staff_id"]))
    return rows


def manager_day(viewer: Viewer) -> dict[str, Any]:
    """My clients by tier (overdue first within each), my overdue contacts, the orphaned
    clients of my unit."""
    sources, me, unit = viewer.sources, viewer.principal.staff_id, viewer.home_unit
    assert unit is not None
    overdue = [
        row for row in sources.overdue_contacts(unit)["items"] if row["designated_manager"] == me
    ]
    late = {row["client_id"]: row for row in overdue}
    mine = list(sources.roster_rows(unit, manager_id=me, status="active"))
    by_tier: dict[str, list[dict[str, Any]]] = {tier: [] for tier in TIERS_DOWN}
    for row in mine:
        by_tier[row["tier"]].append({**row, "overdue": late.get(row["client_id"])})
    for rows in by_tier.values():
        rows.sort(
            key=lambda r: (r["overdue"] is None, -(r["overdue"] or {}).get("days_overdue", 0))
        )
    return {
        "unit": unit,
        "overdue": sorted(overdue, key=lambda r: -r["days_overdue"]),
        "by_tier": by_tier,
        "orphaned": sources.orphaned_clients(unit)["items"],
        "mine": len(mine),
    }
