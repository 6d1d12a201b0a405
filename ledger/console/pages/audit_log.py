"""The audit desk: the cross-client audit log and the read log (auditor, compliance,
admin, as GET /v1/audit/events and /v1/audit/reads); and, for admin, erasure of a client's
personal data and the list of clients whose retention period has passed."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from ledger.console.pages.clients import _submit
from ledger.console.pages.listings import Column, Filter, listing, paged, whole_number
from ledger.console.pages.reports import _unit
from ledger.console.sources import (
    PAGE_LIMIT,
    AuditEventPublic,
    AuditQuery,
    ErasableClient,
    ErasureCreate,
    ReadPublic,
)
from ledger.console.web import ConsoleRoute, Day, Format, FormDep, ViewerDep, parse_moment, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

Text = Annotated[str | None, Query(max_length=200)]
AUDIT_READERS = ("admin", "auditor", "compliance")

EVENTS = (
    Column("position", "num"),
    Column("event_id"),
    Column("aggregate_id", "aggregate"),
    Column("aggregate_type"),
    Column("type"),
    Column("version", "num"),
    Column("occurred_at", "time"),
    Column("recorded_at", "time"),
    Column("recorded_by"),
    Column("data", "data"),
)
READS = (
    Column("at", "time"),
    Column("principal"),
    Column("role", "label", "role."),
    Column("path"),
    Column("client_id", "client"),
)
ERASABLE = (
    Column("client_id", "client"),
    Column("churned_at", "time"),
    Column("retained_until", "time"),
    Column("erase", "erase", label="f.action"),
)


@router.get("/audit/events")
def audit_events(
    request: Request,
    viewer: ViewerDep,
    recorded_by: Text = None,
    type: Annotated[str | None, Query(max_length=64)] = None,
    client_id: Text = None,
    unit_id: Text = None,
    effective_from: Day = None,
    effective_to: Day = None,
    recorded_from: Day = None,
    recorded_to: Day = None,
    late_by_days: Annotated[str | None, Query(max_length=8)] = None,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    format: Format = None,
) -> Response:
    """Every event of every aggregate in log order, filtered as GET /v1/audit/events is; a
    day typed as a bound `to` counts whole (the range is `[from, to)` otherwise)."""
    viewer.require(*AUDIT_READERS)
    texts = {"recorded_by": recorded_by, "type": type, "client_id": client_id}
    texts["unit_id"] = unit_id
    days = {
        "effective_from": effective_from,
        "effective_to": effective_to,
        "recorded_from": recorded_from,
        "recorded_to": recorded_to,
    }
    query = AuditQuery(
        **{name: (value or "").strip() or None for name, value in texts.items()},
        **{
            name: parse_moment(value, name, end_of_day=name.endswith("_to"))
            for name, value in days.items()
        },
        late_by_days=whole_number(late_by_days, "late_by_days", most=36_500),
    )

    def read(**page: Any) -> Any:
        return viewer.sources.audit_events(query, **page)

    rows, next_cursor = paged(read, format, cursor, PAGE_LIMIT)
    return listing(
        request,
        viewer,
        title="page.audit_log",
        intro="msg.audit_log",
        fmt=format,
        rows=rows,
        columns=EVENTS,
        model=AuditEventPublic,
        name="audit-events",
        next_cursor=next_cursor,
        filters=[
            *(Filter(name, "text", value or "") for name, value in texts.items()),
            *(Filter(name, "date", value or "") for name, value in days.items()),
            Filter("late_by_days", "number", late_by_days or ""),
        ],
    )


@router.get("/audit/reads")
def read_log(
    request: Request,
    viewer: ViewerDep,
    client_id: Text = None,
    principal: Text = None,
    start: Annotated[str | None, Query(alias="from", max_length=32)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=32)] = None,
    cursor: Annotated[str | None, Query(max_length=80)] = None,
    format: Format = None,
) -> Response:
    """Who was shown a client's personal data, where and when (PIPL: the read log)."""
    viewer.require(*AUDIT_READERS)
    query = {
        "client_id": (client_id or "").strip() or None,
        "principal": (principal or "").strip() or None,
        "start": parse_moment(start, "from"),
        "end": parse_moment(end, "to", end_of_day=True),
    }

    def read(**page: Any) -> Any:
        return viewer.sources.reads(**page, **query)

    rows, next_cursor = paged(read, format, cursor, PAGE_LIMIT)
    return listing(
        request,
        viewer,
        title="page.read_log",
        intro="msg.read_log",
        fmt=format,
        rows=rows,
        columns=READS,
        model=ReadPublic,
        name="reads",
        next_cursor=next_cursor,
        filters=[
            Filter("client_id", "text", client_id or ""),
            Filter("principal", "text", principal or ""),
            Filter("from", "date", start or ""),
            Filter("to", "date", end or ""),
        ],
    )


@router.get("/privacy/erasable")
def erasable(
    request: Request,
    viewer: ViewerDep,
    unit_id: Annotated[str | None, Query(max_length=64)] = None,
    format: Format = None,
) -> Response:
    viewer.require("admin")
    unit = _unit(viewer, unit_id)
    return listing(
        request,
        viewer,
        title="page.erasable",
        intro="msg.erasable",
        fmt=format,
        rows=viewer.sources.erasable(unit),
        columns=ERASABLE,
        model=ErasableClient,
        name=f"erasable-{unit}",
        filters=[Filter("unit_id", "unit", unit)],
    )


@router.get("/clients/{client_id}/erasure")
def erasure_page(request: Request, client_id: str, viewer: ViewerDep) -> Response:
    viewer.require("admin")
    viewer.sources.client_unit(client_id)  # an unknown client is a 404, not a form
    return render(request, viewer, "erasure.html", client_id=client_id)


@router.post("/clients/{client_id}/erasure")
def erase(request: Request, client_id: str, viewer: ViewerDep, form: FormDep) -> Response:
    """Refused, with the ledger's own reason, as the API refuses it (409 while the retention
    period runs or for data stored in plain text before sealing)."""
    viewer.require("admin")
    body = ErasureCreate.model_validate(
        {
            "reason": form.get("reason", "").strip(),
            "legal_basis": form.get("legal_basis", "").strip(),
        }
    )
    fields = {"client_id": client_id, **body.model_dump()}
    return _submit(request, viewer, form, "erase_client", fields, f"/clients/{client_id}")
