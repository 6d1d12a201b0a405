from __future__ import annotations

from typing import Annotated

from fastapi import Query, Response
from pydantic_core import to_json

from ledger.api.deps import (
    From,
    KnownAtQuery,
    ReadRecorderDep,
    ReportsDep,
    RosterDep,
    ScopedStaffQuery,
    ScopedUnit,
    To,
    check_period,
)
from ledger.api.exports import (
    EXPORT_RESPONSES,
    ExportFormat,
    export_models,
    read_each_client,
)
from ledger.api.routing import READ_PROBLEMS, resource_router
from ledger.api.schemas import (
    Complaint,
    ComplaintsPublic,
    CompletenessPublic,
    FunnelPublic,
    ManagerPortfolioPublic,
    Moment,
    OrphanedClient,
    OrphanedClientsPublic,
    OverdueContact,
    OverdueContactsPublic,
    TierGrowthPublic,
)
from ledger.domain.values import DEFAULT_LIMIT, MAX_LIMIT

router = resource_router("/v1/reports", tag="reports", problems=READ_PROBLEMS)


LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="rows per page")]
CursorQuery = Annotated[
    str | None, Query(max_length=140, description="the previous page's next_cursor")
]


@router.get("/tier-growth", summary="Tier counts at the start and end of a period, and growth")
def tier_growth(
    unit_id: ScopedUnit, start: From, end: To, roster: RosterDep, known_at: Moment | None = None
) -> TierGrowthPublic:
    # Answered by the roster view, from its tier counts (ledger/projections/roster.py).
    check_period(start, end)
    return TierGrowthPublic.model_validate(roster.tier_growth(unit_id, start, end, known_at))


@router.get("/completeness", summary="Key-information completeness of active VIP clients")
def completeness(
    unit_id: ScopedUnit,
    reports: ReportsDep,
    target: Annotated[
        float | None,
        Query(ge=0, le=1, description="a ratio, e.g. 0.95 (default: LEDGER_COMPLETENESS_TARGET)"),
    ] = None,
    known_at: KnownAtQuery = None,
) -> CompletenessPublic:
    return CompletenessPublic.model_validate(
        reports.completeness(unit_id, target=target, known_at=known_at)
    )


@router.get(
    "/overdue-contacts",
    summary="Clients whose tier's contact cadence has lapsed",
    response_model=OverdueContactsPublic,
    responses=EXPORT_RESPONSES,
)
def overdue_contacts(
    unit_id: ScopedUnit,
    reports: ReportsDep,
    as_of: Moment | None = None,
    known_at: KnownAtQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
    fmt: ExportFormat = None,
) -> OverdueContactsPublic | Response:
    if fmt is not None:
        # Every matching row, not a page.
        answer = reports.overdue_contacts(unit_id, as_of=as_of, known_at=known_at)
        return export_models(OverdueContact, answer["items"], fmt, f"overdue-{unit_id}")
    answer = reports.overdue_contacts(
        unit_id, as_of=as_of, limit=limit, cursor=cursor, known_at=known_at
    )
    return OverdueContactsPublic.model_validate(answer)


@router.get(
    "/orphaned-clients",
    summary="Active clients whose designated manager departed",
    response_model=OrphanedClientsPublic,
    responses=EXPORT_RESPONSES,
)
def orphaned_clients(
    unit_id: ScopedUnit,
    reports: ReportsDep,
    known_at: KnownAtQuery = None,
    limit: LimitQuery = DEFAULT_LIMIT,
    cursor: CursorQuery = None,
    fmt: ExportFormat = None,
) -> OrphanedClientsPublic | Response:
    if fmt is not None:
        answer = reports.orphaned_clients(unit_id, known_at=known_at)
        return export_models(OrphanedClient, answer["items"], fmt, f"orphaned-{unit_id}")
    answer = reports.orphaned_clients(unit_id, limit=limit, cursor=cursor, known_at=known_at)
    return OrphanedClientsPublic.model_validate(answer)


@router.get("/manager-portfolio", summary="A manager's clients at `to` and asset changes")
def manager_portfolio(
    staff_id: ScopedStaffQuery,
    start: From,
    end: To,
    reports: ReportsDep,
    known_at: KnownAtQuery = None,
) -> ManagerPortfolioPublic:
    check_period(start, end)
    answer = reports.manager_portfolio(staff_id, start, end, known_at)
    answer["assets_change"] = str(answer["assets_change"])
    return ManagerPortfolioPublic.model_validate(answer)


@router.get(
    "/complaints",
    summary="Contacts that carried a complaint, per designated manager",
    response_model=ComplaintsPublic,
    responses=EXPORT_RESPONSES,
)
def complaints(
    unit_id: ScopedUnit,
    start: From,
    end: To,
    reports: ReportsDep,
    read: ReadRecorderDep,
    known_at: KnownAtQuery = None,
    fmt: ExportFormat = None,
) -> ComplaintsPublic | Response:
    check_period(start, end)
    answer = reports.complaints(unit_id, start, end, known_at)
    if fmt is not None:
        # What a client said is personal data: the read log records each client exported.
        rows = read_each_client(answer["items"], read)
        return export_models(Complaint, rows, fmt, f"complaints-{unit_id}")
    # Unpaged, a branch's quarter holds a thousand complaints or more: the view's items,
    # already in `Complaint`'s shape and order, written to JSON as they are (validating a
    # model per item cost 2-3 ms of such an answer; tests/e2e/test_api_seed.py compares
    # the bytes with the model's).
    return Response(to_json(answer), media_type="application/json")


@router.get("/funnel", summary="Prospects found in a period per source, converted and dropped")
def funnel(
    unit_id: ScopedUnit, start: From, end: To, reports: ReportsDep, known_at: KnownAtQuery = None
) -> FunnelPublic:
    check_period(start, end)
    return FunnelPublic.model_validate(reports.funnel(unit_id, start, end, known_at))
