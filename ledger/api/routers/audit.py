"""The audit log (API.md 1.1, Audit): auditor, compliance and admin."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Annotated, Any

from fastapi import Query, Response

from ledger.api.deps import (
    AuditDep,
    AuditReaderDep,
    ContainerDep,
    LedgerDep,
    ReadRecorderDep,
)
from ledger.api.exports import EXPORT_RESPONSES, ExportFormat, Listing
from ledger.api.routing import READ_PROBLEMS, resource_router
from ledger.api.schemas import (
    AuditEventPublic,
    AuditEventsPage,
    Moment,
    ReadPublic,
    ReadsPage,
)
from ledger.application import Ledger
from ledger.domain.values import DEFAULT_LIMIT, MAX_LIMIT
from ledger.projections.audit import AuditQuery

router = resource_router("/v1/audit", tag="audit", problems=READ_PROBLEMS)

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
    return Listing(limit, cursor, fmt, MAX_LIMIT).answer(
        lambda **page: with_data(ledger, view.events(query, **page)),
        AuditEventsPage,
        AuditEventPublic,
        "audit-events",
        # Client events' data is personal: the read log records each client exported.
        record=read,
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
