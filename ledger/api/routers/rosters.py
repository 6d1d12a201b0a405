from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from ledger.api.deps import RosterDep, ScopedUnit
from ledger.api.exports import EXPORT_RESPONSES, ExportFormat, every_page, export_models
from ledger.api.problems import problem_responses
from ledger.api.routing import OneHopRoute
from ledger.api.schemas import (
    Moment,
    RosterItem,
    RosterPage,
    RosterSummaryPublic,
    Status,
    Tier,
)
from ledger.projections.roster import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(
    prefix="/v1/rosters",
    tags=["projections"],
    responses=problem_responses(401, 403, 404, 422, 500, 503),
    route_class=OneHopRoute,
)


@router.get(
    "",
    summary="Clients of a unit's subtree at an effective time, a page at a time",
    response_model=RosterPage,
    responses=EXPORT_RESPONSES,
)
def roster(
    unit_id: ScopedUnit,
    view: RosterDep,
    tier: Tier | None = None,
    manager_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Status | None = None,
    as_of: Moment | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=64, description="the previous page's next_cursor")
    ] = None,
    fmt: ExportFormat = None,
) -> RosterPage | Response:
    filters = {"as_of": as_of, "tier": tier, "manager_id": manager_id, "status": status}
    if fmt is not None:
        # Every matching row, not a page: `limit` and `cursor` play no part.
        rows = every_page(
            lambda after: view.roster(unit_id, limit=MAX_LIMIT, cursor=after, **filters)
        )
        return export_models(RosterItem, rows, fmt, f"roster-{unit_id}")
    return RosterPage.model_validate(view.roster(unit_id, limit=limit, cursor=cursor, **filters))


@router.get(
    "/summary", summary="Active clients per tier, as of an effective time, as known at a time"
)
def roster_summary(
    unit_id: ScopedUnit,
    view: RosterDep,
    as_of: Moment | None = None,
    known_at: Moment | None = None,
) -> RosterSummaryPublic:
    return RosterSummaryPublic.model_validate(
        view.roster_summary(unit_id, as_of=as_of, known_at=known_at)
    )
