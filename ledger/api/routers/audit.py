"""The audit log (API.md 1.1, Audit): auditor, compliance and admin."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel

from ledger.api.deps import (
    AuditDep,
    AuditReaderDep,
    ContainerDep,
    LedgerDep,
    ReadRecorderDep,
    RestatedDep,
)
from ledger.api.exports import (
    EXPORT_RESPONSES,
    ExportFormat,
    every_page,
    export_models,
    read_each_client,
)
from ledger.api.problems import problem_responses
from ledger.api.routing import OneHopRoute
from ledger.api.schemas import (
    AuditEventPublic,
    AuditEventsPage,
    ChurnCasesPublic,
    ChurnKind,
    CompletenessPublic,
    ManagerPortfolioPublic,
    Moment,
    OrphanedClientsPublic,
    ReadPublic,
    ReadsPage,
    StaffRecordPublic,
    TierGrowthPublic,
)
from ledger.application import Ledger
from ledger.domain import InvalidInput
from ledger.projections.audit import AuditQuery

router = APIRouter(
    prefix="/v1/audit",
    tags=["audit"],
    responses=problem_responses(401, 403, 404, 422, 500, 503),
    route_class=OneHopRoute,
)

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
    read: ReadRecorderDep,
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
    if fmt is not None:
        rows = every_page(
            lambda after: with_data(ledger, view.events(query, limit=MAX_LIMIT, cursor=after))
        )
        # Client events' data is personal: the read log records each client exported.
        return export_models(AuditEventPublic, read_each_client(rows, read), fmt, "audit-events")
    return AuditEventsPage.model_validate(
        with_data(ledger, view.events(query, limit=limit, cursor=cursor))
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
    if fmt is not None:
        rows = every_page(lambda after: read_log.reads(limit=MAX_LIMIT, cursor=after, **query))
        return export_models(ReadPublic, rows, fmt, "reads")
    return ReadsPage.model_validate(read_log.reads(limit=limit, cursor=cursor, **query))


# What each report moves with: the event types that can change its answer.
INTERVALS = ("Registered", "TierChanged", "Churned", "Reactivated")
RESTATED_BY: dict[str, tuple[str, ...]] = {
    "churn-cases": ("Assigned", "TierChanged", "HeadAppointed", "Churned", "ChurnDetermined"),
    "staff-record": ("Assigned", "TierChanged", "HeadAppointed", "Churned", "ChurnDetermined"),
    "tier-growth": INTERVALS,
    "completeness": (*INTERVALS, "ProfileUpdated", "EventRetracted"),
    "orphaned-clients": (*INTERVALS, "Assigned", "Departed"),
    "manager-portfolio": (*INTERVALS, "Assigned", "AssetsReported", "EventRetracted"),
}
Report = Literal[
    "churn-cases",
    "staff-record",
    "tier-growth",
    "completeness",
    "orphaned-clients",
    "manager-portfolio",
]


@dataclass
class ReportParameters:
    """A restated report's own parameters (each report takes those it names)."""

    unit_id: Text = None
    staff_id: Text = None
    fiscal_year: Annotated[int | None, Query(ge=1900, le=9999)] = None
    in_scope: bool | None = None
    kind: ChurnKind | None = None
    start: Annotated[Moment | None, Query(alias="from")] = None
    end: Annotated[Moment | None, Query(alias="to")] = None
    as_of: Moment | None = None

    def needs(self, report: str, *names: str) -> None:
        missing = [name for name in names if getattr(self, name) is None]
        if missing:
            field = {"start": "from", "end": "to"}.get(missing[0], missing[0])
            wanted = ", ".join({"start": "from", "end": "to"}.get(n, n) for n in names)
            raise InvalidInput(field, f"{report} needs {wanted}")


def restated(
    report: str, views: Any, ledger: Ledger, q: ReportParameters, moment: datetime
) -> BaseModel:
    """The report as the ledger knew it at `moment`."""
    if report == "churn-cases":
        return ChurnCasesPublic.model_validate(
            views.accountability.churn_cases(
                unit_id=q.unit_id,
                fiscal_year=q.fiscal_year,
                in_scope=q.in_scope,
                kind=q.kind,
                known_at=moment,
            )
        )
    if report == "staff-record":
        q.needs(report, "staff_id", "fiscal_year")
        ledger.get_staff(q.staff_id)  # type: ignore[arg-type]
        return StaffRecordPublic.model_validate(
            views.accountability.staff_record(q.staff_id, q.fiscal_year, moment)
        )
    if report == "manager-portfolio":
        q.needs(report, "staff_id", "start", "end")
        ledger.get_staff(q.staff_id)  # type: ignore[arg-type]
        answer = views.reports.manager_portfolio(q.staff_id, q.start, q.end, moment)
        answer["assets_change"] = str(answer["assets_change"])
        return ManagerPortfolioPublic.model_validate(answer)
    if report == "completeness":
        q.needs(report, "unit_id")
        return CompletenessPublic.model_validate(
            views.reports.completeness(q.unit_id, as_of=q.as_of, known_at=moment)
        )
    if report == "orphaned-clients":
        q.needs(report, "unit_id")
        return OrphanedClientsPublic.model_validate(
            views.reports.orphaned_clients(q.unit_id, as_of=q.as_of, known_at=moment)
        )
    q.needs(report, "unit_id", "start", "end")
    return TierGrowthPublic.model_validate(
        views.roster.tier_growth(q.unit_id, q.start, q.end, moment)
    )


@router.get("/restatements", summary="A report as known at two times, and what changed it")
def restatements(
    container: RestatedDep,
    ledger: LedgerDep,
    report: Report,
    known_at: Moment,
    compare_known_at: Moment,
    parameters: Annotated[ReportParameters, Depends()],
) -> dict[str, Any]:
    """`{report, known_at, compare_known_at, at_known_at, at_compare_known_at, changed,
    events}`: the report (any report that takes `known_at`, with its own parameters) as
    the ledger knew it at each time, and the events recorded between the two that changed
    it (none when both answers are the same)."""
    views = container.views
    before, after = (
        restated(report, views, ledger, parameters, moment)
        for moment in (known_at, compare_known_at)
    )
    changed = before.model_dump(exclude={"known_at"}) != after.model_dump(exclude={"known_at"})
    events: list[dict[str, Any]] = []
    if changed:
        # Recorded after the earlier time, by the later one: (first, last].
        tick = timedelta(microseconds=1)
        first, last = (moment + tick for moment in sorted((known_at, compare_known_at)))
        scope = parameters.unit_id if report not in ("staff-record", "manager-portfolio") else None
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
