from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from ledger.api.deps import ReportsDep, RosterDep, ScopedStaffQuery, ScopedUnit
from ledger.api.exports import EXPORT_RESPONSES, ExportFormat, export_models
from ledger.api.problems import problem_responses
from ledger.api.routing import OneHopRoute
from ledger.api.schemas import (
    CompletenessPublic,
    ManagerPortfolioPublic,
    Moment,
    OrphanedClient,
    OrphanedClientsPublic,
    OverdueContact,
    OverdueContactsPublic,
    TierGrowthPublic,
)
from ledger.domain import InvalidInput

router = APIRouter(
    prefix="/v1/reports",
    tags=["reports"],
    responses=problem_responses(401, 403, 404, 422, 500, 503),
    route_class=OneHopRoute,
)

From = Annotated[Moment, Query(alias="from", description="the period's start (inclusive)")]
To = Annotated[Moment, Query(alias="to", description="the period's end (exclusive)")]


def _period(start: Moment, end: Moment) -> None:
    if end <= start:
        raise InvalidInput("to", "must be after from")


@router.get("/tier-growth", summary="Tier counts at the start and end of a period, and growth")
def tier_growth(unit_id: ScopedUnit, start: From, end: To, roster: RosterDep) -> TierGrowthPublic:
    # Answered by the roster view, from its tier counts (ledger/projections/roster.py).
    _period(start, end)
    return TierGrowthPublic.model_validate(roster.tier_growth(unit_id, start, end))


@router.get("/completeness", summary="Key-information completeness of active VIP clients")
def completeness(
    unit_id: ScopedUnit,
    reports: ReportsDep,
    target: Annotated[
        float | None,
        Query(ge=0, le=1, description="a ratio, e.g. 0.95 (default: LEDGER_COMPLETENESS_TARGET)"),
    ] = None,
) -> CompletenessPublic:
    return CompletenessPublic.model_validate(reports.completeness(unit_id, target=target))


@router.get(
    "/overdue-contacts",
    summary="Clients whose tier's contact cadence has lapsed",
    response_model=OverdueContactsPublic,
    responses=EXPORT_RESPONSES,
)
def overdue_contacts(
    unit_id: ScopedUnit, reports: ReportsDep, as_of: Moment | None = None, fmt: ExportFormat = None
) -> OverdueContactsPublic | Response:
    answer = reports.overdue_contacts(unit_id, as_of=as_of)
    if fmt is not None:
        return export_models(OverdueContact, answer["items"], fmt, f"overdue-{unit_id}")
    return OverdueContactsPublic.model_validate(answer)


@router.get(
    "/orphaned-clients",
    summary="Active clients whose designated manager departed",
    response_model=OrphanedClientsPublic,
    responses=EXPORT_RESPONSES,
)
def orphaned_clients(
    unit_id: ScopedUnit, reports: ReportsDep, fmt: ExportFormat = None
) -> OrphanedClientsPublic | Response:
    answer = reports.orphaned_clients(unit_id)
    if fmt is not None:
        return export_models(OrphanedClient, answer["items"], fmt, f"orphaned-{unit_id}")
    return OrphanedClientsPublic.model_validate(answer)


@router.get("/manager-portfolio", summary="A manager's clients at `to` and asset changes")
def manager_portfolio(
    staff_id: ScopedStaffQuery, start: From, end: To, reports: ReportsDep
) -> ManagerPortfolioPublic:
    _period(start, end)
    answer = reports.manager_portfolio(staff_id, start, end)
    answer["assets_change"] = str(answer["assets_change"])
    return ManagerPortfolioPublic.model_validate(answer)
