"""The maintenance reports (DOMAIN.md 1.1): layered duties, team gaps, leader visits,
unacknowledged assignments, the at-risk board, referrals and segments. Lists are paged
(`limit`, `cursor` -> `next_cursor`) and export every row with `format=csv|xlsx`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from fastapi import Depends, Query

from ledger.api.deps import (
    From,
    KnownAtQuery,
    MaintenanceDep,
    ScopedClient,
    ScopedUnit,
    To,
    check_period,
)
from ledger.api.exports import EXPORT_RESPONSES, ExportFormat, Listing
from ledger.api.routing import READ_PROBLEMS, resource_router
from ledger.api.schemas import (
    AMOUNT_PATTERN,
    AtRiskClient,
    AtRiskPublic,
    DutiesOverduePublic,
    DutyOverdue,
    LeaderVisit,
    LeaderVisitsPublic,
    Moment,
    ReferralNode,
    ReferralsPublic,
    SegmentKey,
    SegmentsPublic,
    TeamGap,
    TeamGapsPublic,
    TeamRole,
    UnacknowledgedAssignment,
    UnacknowledgedAssignmentsPublic,
)
from ledger.projections.maintenance import (
    DEFAULT_LIMIT,
    DEFAULT_MIN_ASSETS,
    DEFAULT_UNACKNOWLEDGED_DAYS,
    MAX_LIMIT,
)

router = resource_router(tag="reports", problems=READ_PROBLEMS)

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=64, description="the previous page's next_cursor")]


@dataclass
class Paging:
    """A list's `limit` and `cursor`, or with `format` every row as a download."""

    limit: Limit = DEFAULT_LIMIT
    cursor: Cursor = None
    fmt: ExportFormat = None

    @property
    def listing(self) -> Listing:
        return Listing(self.limit, self.cursor, self.fmt, MAX_LIMIT)


PagingDep = Annotated[Paging, Depends()]


@router.get(
    "/v1/reports/duties-overdue",
    summary="Team roles whose visiting cadence for the client's tier has lapsed",
    response_model=DutiesOverduePublic,
    responses=EXPORT_RESPONSES,
)
def duties_overdue(
    unit_id: ScopedUnit,
    view: MaintenanceDep,
    paging: PagingDep,
    as_of: Moment | None = None,
    role: TeamRole | None = None,
    known_at: KnownAtQuery = None,
) -> Any:
    def read(**page: Any) -> Mapping[str, Any]:
        return view.duties_overdue(unit_id, as_of=as_of, role=role, known_at=known_at, **page)

    return paging.listing.answer(read, DutiesOverduePublic, DutyOverdue, f"duties-{unit_id}")


@router.get(
    "/v1/reports/team-gaps",
    summary="VIP clients whose team lacks a role its tier calls for",
    response_model=TeamGapsPublic,
    responses=EXPORT_RESPONSES,
)
def team_gaps(
    unit_id: ScopedUnit,
    view: MaintenanceDep,
    paging: PagingDep,
    as_of: Moment | None = None,
    known_at: KnownAtQuery = None,
) -> Any:
    def read(**page: Any) -> Mapping[str, Any]:
        return view.team_gaps(unit_id, as_of=as_of, known_at=known_at, **page)

    return paging.listing.answer(read, TeamGapsPublic, TeamGap, f"team-gaps-{unit_id}")


@router.get(
    "/v1/reports/leader-visits",
    summary="Clients with large assets and whether a leader visited them in the period",
    response_model=LeaderVisitsPublic,
    responses=EXPORT_RESPONSES,
)
def leader_visits(
    unit_id: ScopedUnit,
    start: From,
    end: To,
    view: MaintenanceDep,
    paging: PagingDep,
    min_assets: Annotated[str, Query(pattern=AMOUNT_PATTERN)] = DEFAULT_MIN_ASSETS,
    known_at: KnownAtQuery = None,
) -> Any:
    check_period(start, end)

    def read(**page: Any) -> Mapping[str, Any]:
        return view.leader_visits(
            unit_id, start, end, min_assets=Decimal(min_assets), known_at=known_at, **page
        )

    return paging.listing.answer(read, LeaderVisitsPublic, LeaderVisit, f"leader-visits-{unit_id}")


@router.get(
    "/v1/reports/unacknowledged-assignments",
    summary="Designated-manager assignments their assignee has not signed for",
    response_model=UnacknowledgedAssignmentsPublic,
    responses=EXPORT_RESPONSES,
)
def unacknowledged_assignments(
    unit_id: ScopedUnit,
    view: MaintenanceDep,
    paging: PagingDep,
    older_than_days: Annotated[int, Query(ge=0, le=3660)] = DEFAULT_UNACKNOWLEDGED_DAYS,
    as_of: Moment | None = None,
    known_at: KnownAtQuery = None,
) -> Any:
    def read(**page: Any) -> Mapping[str, Any]:
        return view.unacknowledged_assignments(
            unit_id, older_than_days=older_than_days, as_of=as_of, known_at=known_at, **page
        )

    return paging.listing.answer(
        read, UnacknowledgedAssignmentsPublic, UnacknowledgedAssignment, f"unack-{unit_id}"
    )


@router.get(
    "/v1/reports/at-risk",
    summary="VIP clients at risk, why, and who would be accountable were they lost",
    response_model=AtRiskPublic,
    responses=EXPORT_RESPONSES,
)
def at_risk(
    unit_id: ScopedUnit,
    view: MaintenanceDep,
    paging: PagingDep,
    as_of: Moment | None = None,
    known_at: KnownAtQuery = None,
) -> Any:
    def read(**page: Any) -> Mapping[str, Any]:
        return view.at_risk(unit_id, as_of=as_of, known_at=known_at, **page)

    return paging.listing.answer(read, AtRiskPublic, AtRiskClient, f"at-risk-{unit_id}")


@router.get("/v1/clients/{client_id}/referrals", summary="The referral tree below a client")
def referral_tree(client_id: ScopedClient, view: MaintenanceDep) -> ReferralNode:
    return ReferralNode.model_validate(view.referral_tree(client_id))


@router.get("/v1/reports/referrals", summary="Clients gained by referral, per manager")
def referrals(
    unit_id: ScopedUnit, start: From, end: To, view: MaintenanceDep, known_at: KnownAtQuery = None
) -> ReferralsPublic:
    check_period(start, end)
    return ReferralsPublic.model_validate(view.referrals(unit_id, start, end, known_at))


@router.get("/v1/reports/segments", summary="Active clients and their assets per segment")
def segments(
    unit_id: ScopedUnit,
    by: SegmentKey,
    view: MaintenanceDep,
    as_of: Moment | None = None,
    known_at: KnownAtQuery = None,
) -> SegmentsPublic:
    return SegmentsPublic.model_validate(view.segments(unit_id, by, as_of=as_of, known_at=known_at))
