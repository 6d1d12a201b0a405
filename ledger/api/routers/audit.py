"""The audit log (API.md 1.1, Audit): auditor, compliance and admin."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import Query, Response

from ledger.api.deps import (
    AuditDep,
    AuditReaderDep,
    ContainerDep,
    LedgerDep,
    RestatedDep,
)
from ledger.api.exports import EXPORT_RESPONSES, ExportFormat, Listing
from ledger.api.routing import READ_PROBLEMS, resource_router
from ledger.api.schemas import (
    AuditEventPublic,
    AuditEventsPage,
    ChurnCasesPublic,
    ChurnKind,
    Moment,
    ReadPublic,
    ReadsPage,
    StaffRecordPublic,
    TierGrowthPublic,
)
from ledger.application import Ledger
from ledger.domain import InvalidInput
from ledger.projections.audit import AuditQuery

router = resource_router("/v1/audit", tag="audit", problems=READ_PROBLEMS)

DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
Text = Annotated[str | None, Query(min_length=1, max_length=200)]


def with_data(ledger: Ledger, page: Mapping[str, Any]) -> dict[str, Any]:
    """The page's events with their data, read from the store."""
    data = ledger.events_data(item["position"] for item in page["items"])
    return {
        "items": [{**item, "data": data.get(item["position"], {})} for item in page["items"]],
        "next_cursor": page["next_cursor"],
    }


@router.get(
    "/events",
    summary="Every event of every aggregate, filtered, in log order",
    response_model=AuditEventsPage,
    responses=EXPORT_RESPONSES,
)
def audit_events(
    view: AuditDep,
    ledger: LedgerDep,
    recorded_by: Text = None,
    type: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    client_id: Text = None,
    unit_id: Text = None,
    effective_from: Moment | None = None,
    effective_to: Moment | None = None,
    recorded_from: Moment | None = None,
    recorded_to: Moment | None = None,
    late_by_days: Annotated[int | None, Query(ge=0, le=36_500)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=20, description="the previous page's next_cursor")
    ] = None,
    fmt: ExportFormat = None,
) -> AuditEventsPage | Response:
    query = AuditQuery(
        recorded_by=recorded_by,
        type=type,
        client_id=client_id,
        unit_id=unit_id,
        effective_from=effective_from,
        effective_to=effective_to,
        recorded_from=recorded_from,
        recorded_to=recorded_to,
        late_by_days=late_by_days,
    )
    return Listing(limit, cursor, fmt, MAX_LIMIT).answer(
        lambda **page: with_data(ledger, view.events(query, **page)),
        AuditEventsPage,
        AuditEventPublic,
        "audit-events",
    )


@router.get(
    "/reads",
    summary="Who read a client's personal data, and when",
    response_model=ReadsPage,
    responses=EXPORT_RESPONSES,
)
def reads(
    container: ContainerDep,
    _: AuditReaderDep,
    client_id: Text = None,
    principal: Text = None,
    start: Annotated[Moment | None, Query(alias="from")] = None,
    end: Annotated[Moment | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=80, description="the previous page's next_cursor")
    ] = None,
    fmt: ExportFormat = None,
) -> ReadsPage | Response:
    read_log = container.read_log
    query = {"client_id": client_id, "principal": principal, "start": start, "end": end}
    return Listing(limit, cursor, fmt, MAX_LIMIT).answer(
        partial(read_log.reads, **query), ReadsPage, ReadPublic, "reads"
    )


# What each report moves with: the event types that can change its answer.
RESTATED_BY: dict[str, tuple[str, ...]] = {
    "churn-cases": ("Assigned", "TierChanged", "HeadAppointed", "Churned", "ChurnDetermined"),
    "staff-record": ("Assigned", "TierChanged", "HeadAppointed", "Churned", "ChurnDetermined"),
    "tier-growth": ("Registered", "TierChanged", "Churned", "Reactivated"),
}
Report = Literal["churn-cases", "staff-record", "tier-growth"]


@router.get("/restatements", summary="A report as known at two times, and what changed it")
def restatements(
    container: RestatedDep,
    ledger: LedgerDep,
    report: Report,
    known_at: Moment,
    compare_known_at: Moment,
    unit_id: Text = None,
    staff_id: Text = None,
    fiscal_year: Annotated[int | None, Query(ge=1900, le=9999)] = None,
    in_scope: bool | None = None,
    kind: ChurnKind | None = None,
    start: Annotated[Moment | None, Query(alias="from")] = None,
    end: Annotated[Moment | None, Query(alias="to")] = None,
) -> dict[str, Any]:
    """`{report, known_at, compare_known_at, at_known_at, at_compare_known_at, changed,
    events}`: the report (churn-cases, staff-record or tier-growth, with its own
    parameters) as the ledger knew it at each time, and the events recorded between the
    two that changed it (none when both answers are the same)."""
    views = container.views

    def answer(moment: datetime) -> Any:
        if report == "churn-cases":
            return ChurnCasesPublic.model_validate(
                views.accountability.churn_cases(
                    unit_id=unit_id,
                    fiscal_year=fiscal_year,
                    in_scope=in_scope,
                    kind=kind,
                    known_at=moment,
                )
            )
        if report == "staff-record":
            if staff_id is None or fiscal_year is None:
                raise InvalidInput("staff_id", "staff-record needs staff_id and fiscal_year")
            ledger.get_staff(staff_id)
            return StaffRecordPublic.model_validate(
                views.accountability.staff_record(staff_id, fiscal_year, moment)
            )
        if unit_id is None or start is None or end is None:
            raise InvalidInput("unit_id", "tier-growth needs unit_id, from and to")
        return TierGrowthPublic.model_validate(
            views.roster.tier_growth(unit_id, start, end, moment)
        )

    before, after = answer(known_at), answer(compare_known_at)
    changed = before.model_dump(exclude={"known_at"}) != after.model_dump(exclude={"known_at"})
    events: list[dict[str, Any]] = []
    if changed:
        # Recorded after the earlier time, by the later one: (first, last].
        tick = timedelta(microseconds=1)
        first, last = (moment + tick for moment in sorted((known_at, compare_known_at)))
        scope = unit_id if report != "staff-record" else None
        for type_name in RESTATED_BY[report]:
            query = AuditQuery(
                type=type_name,
                unit_id=scope,
                recorded_from=first,
                recorded_to=last,
            )
            events += with_data(ledger, views.audit.events(query, limit=MAX_LIMIT))["items"]
        events.sort(key=lambda e: e["position"])
    return {
        "report": report,
        "known_at": known_at,
        "compare_known_at": compare_known_at,
        "at_known_at": before.model_dump(mode="json", by_alias=True),
        "at_compare_known_at": after.model_dump(mode="json", by_alias=True),
        "changed": changed,
        "events": [AuditEventPublic.model_validate(e).model_dump(mode="json") for e in events],
    }
