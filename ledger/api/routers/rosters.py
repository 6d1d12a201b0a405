from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import Query, Response

from ledger.api.deps import MaintenanceForFiltersDep, RosterDep, ScopedUnit
from ledger.api.exports import EXPORT_RESPONSES, ExportFormat, Listing
from ledger.api.routing import READ_PROBLEMS, resource_router
from ledger.api.schemas import (
    AMOUNT_PATTERN,
    Moment,
    RiskAppetite,
    RosterItem,
    RosterPage,
    RosterSummaryPublic,
    Source,
    Status,
    Tier,
)
from ledger.projections.roster import DEFAULT_LIMIT, MAX_LIMIT

router = resource_router("/v1/rosters", tag="projections", problems=READ_PROBLEMS)


@router.get(
    "",
    summary="Clients of a unit's subtree at an effective time, a page at a time",
    response_model=RosterPage,
    responses=EXPORT_RESPONSES,
)
def roster(
    unit_id: ScopedUnit,
    view: RosterDep,
    segments: MaintenanceForFiltersDep,
    tier: Tier | None = None,
    manager_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Status | None = None,
    as_of: Moment | None = None,
    risk_appetite: RiskAppetite | None = None,
    product_horizon: Annotated[str | None, Query(max_length=500)] = None,
    business_interest: Annotated[
        str | None, Query(max_length=500, description="found in the client's business interests")
    ] = None,
    source: Source | None = None,
    min_assets: Annotated[str | None, Query(pattern=AMOUNT_PATTERN)] = None,
    max_assets: Annotated[
        str | None, Query(pattern=AMOUNT_PATTERN, description="assets below this amount")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=64, description="the previous page's next_cursor")
    ] = None,
    fmt: ExportFormat = None,
) -> RosterPage | Response:
    filters = {"as_of": as_of, "tier": tier, "manager_id": manager_id, "status": status}
    profile = {
        "risk_appetite": risk_appetite,
        "product_horizon": product_horizon,
        "business_interest": business_interest,
        "source": source,
        "min_assets": Decimal(min_assets) if min_assets is not None else None,
        "max_assets": Decimal(max_assets) if max_assets is not None else None,
    }

    def read(*, limit: int, cursor: str | None) -> dict[str, Any]:
        if all(value is None for value in profile.values()):
            return view.roster(unit_id, limit=limit, cursor=cursor, **filters)
        # The profile, source and assets live in the maintenance view: it picks the page's
        # clients, the roster gives their rows.
        page = segments.matching(
            unit_id, {**filters, **profile}, as_of=as_of, limit=limit, cursor=cursor
        )
        rows = view.roster(unit_id, limit=limit, client_ids=page["items"], **filters)
        return {"items": rows["items"], "next_cursor": page["next_cursor"]}

    return Listing(limit, cursor, fmt, MAX_LIMIT).answer(
        read, RosterPage, RosterItem, f"roster-{unit_id}"
    )


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
