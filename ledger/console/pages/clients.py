"""A client: its page and timeline, the forms that write on it, finding one, the roster."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

from ledger.console.pages.tables import FOUND, HISTORY, ROSTER, TIERS_DOWN, table_page
from ledger.console.sources import (
    CHANNELS,
    CHURN_KINDS,
    CLIENT_STATUSES,
    PROFILE_FIELDS,
    SOURCES,
    TEAM_ROLES,
    Assignment,
    ChurnCreate,
    ClientCreate,
    ContactCreate,
    LedgerError,
    NotFound,
    TierChange,
    fingerprint,
)
from ledger.console.web import (
    ConsoleRoute,
    Format,
    FormDep,
    Text,
    Viewer,
    ViewerDep,
    parse_moment,
    render,
    utc_now,
)

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

ClientId = Annotated[str, Query(max_length=64)]
FIND_LIMIT = 50


def _when(as_of: str | None, known_at: str | None) -> dict[str, Any]:
    return {
        "as_of": parse_moment(as_of, "as_of", end_of_day=True),
        "known_at": parse_moment(known_at, "known_at", end_of_day=True),
    }


@router.get("/clients/{client_id}")
def client_page(
    request: Request, client_id: str, viewer: ViewerDep, as_of: Text = None, known_at: Text = None
) -> Response:
    viewer.check_client(client_id)
    when = _when(as_of, known_at)
    state = viewer.sources.client(client_id, **when)
    history = viewer.sources.history(client_id)
    viewer.sources.record_read(viewer.principal, request.url.path, client_id)
    as_of_, known_at_ = when["as_of"], when["known_at"]
    contacts = [
        e
        for e in history
        if e.type == "ContactLogged"
        and e.retracted_by is None
        and (as_of_ is None or e.occurred_at <= as_of_)
        and (known_at_ is None or e.recorded_at <= known_at_)
    ][-5:][::-1]
    return render(
        request,
        viewer,
        "client.html",
        client=state,
        contacts=contacts,
        as_of=as_of or "",
        known_at=known_at or "",
        when=when,
        profile_fields=PROFILE_FIELDS,
        channels=CHANNELS,
        team_roles=TEAM_ROLES,
        tiers=TIERS_DOWN,
        churn_kinds=CHURN_KINDS,
        now=utc_now(),
    )


@router.get("/clients/{client_id}/timeline")
def timeline(
    request: Request,
    client_id: str,
    viewer: ViewerDep,
    as_of: Text = None,
    known_at: Text = None,
    format: Format = None,
) -> Response:
    viewer.check_client(client_id)
    when = _when(as_of, known_at)
    entries = viewer.sources.history(client_id)
    viewer.sources.record_read(viewer.principal, request.url.path, client_id)
    rows = [_entry(e) for e in entries]
    for row in rows:
        row["after_as_of"] = when["as_of"] is not None and row["occurred_at"] > when["as_of"]
        row["after_known_at"] = (
            when["known_at"] is not None and row["recorded_at"] > when["known_at"]
        )
    state = None
    if when["as_of"] is not None or when["known_at"] is not None:
        try:
            state = viewer.sources.client(client_id, **when)
        except NotFound:
            state = None
    return table_page(
        request,
        viewer,
        "timeline.html",
        fmt=format,
        rows=rows,
        fields=HISTORY,
        name=f"history-{client_id}",
        client_id=client_id,
        when=when,
        state=state,
    )


def _entry(entry: Any) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in entry.__dataclass_fields__}


# ---- forms ---------------------------------------------------------------------------------


def _submit(
    request: Request,
    viewer: Viewer,
    form: dict[str, str],
    command: str,
    fields: dict[str, Any],
    then: str,
) -> Response:
    """Write once per rendered form (its `form_key`), then show `then`."""
    key = form.pop("form_key", "")
    if not key or len(key) > 100:
        raise HTTPException(422, "form_key: the form has no idempotency key; reload the page")
    viewer.sources.write(
        viewer.principal,
        command,
        fields,
        idempotency_key=f"console:{key}",
        fingerprint=fingerprint(request.url.path, form),
    )
    return RedirectResponse(then, status_code=303)


TIME_FIELDS = ("occurred_at", "effective_at")
# The forms on a client's page: the path's last part -> the body it posts and the command.
CLIENT_FORMS: dict[str, tuple[type[BaseModel], str]] = {
    "contacts": (ContactCreate, "log_contact"),
    "tier": (TierChange, "change_tier"),
    "assign": (Assignment, "assign"),
    "churn": (ChurnCreate, "churn"),
}


def _body(schema: type[BaseModel], form: dict[str, str]) -> Any:
    """The schema's fields from the form: blank is absent, a time without an offset is in
    the bank's time zone, and a blank time is now."""
    data: dict[str, Any] = {}
    for name in schema.model_fields:
        if name in TIME_FIELDS:
            moment = parse_moment(form.get(name), name) or utc_now()
            data[name] = moment.isoformat()
        elif form.get(name, "").strip():
            data[name] = form[name].strip()
    return schema.model_validate(data)


@router.post("/clients/{client_id}/{action}")
def client_form(
    request: Request, client_id: str, action: str, viewer: ViewerDep, form: FormDep
) -> Response:
    if action not in CLIENT_FORMS:
        raise HTTPException(404, "no such form")
    viewer.require("admin", "manager")
    viewer.check_client(client_id)
    schema, command = CLIENT_FORMS[action]
    fields = {"client_id": client_id, **_body(schema, form).model_dump()}
    return _submit(request, viewer, form, command, fields, f"/clients/{client_id}")


@router.get("/register")
def register_page(request: Request, viewer: ViewerDep) -> Response:
    viewer.require("admin", "manager")
    outlets = [u for u in viewer.visible_units() if u["kind"] == "outlet"]
    return render(
        request, viewer, "register.html", outlets=outlets, tiers=TIERS_DOWN, sources_=SOURCES
    )


@router.post("/register")
def register(request: Request, viewer: ViewerDep, form: FormDep) -> Response:
    viewer.require("admin", "manager")
    body = _body(ClientCreate, form)
    viewer.check_unit(body.unit_id)
    return _submit(
        request, viewer, form, "register_client", body.model_dump(), f"/clients/{body.client_id}"
    )


# ---- finding clients, the roster ------------------------------------------------------------


@router.get("/find")
def find_page(request: Request, viewer: ViewerDep) -> Response:
    return render(request, viewer, "find.html", q="", rows=[], fields=FOUND)


@router.post("/find")
def find(request: Request, viewer: ViewerDep, form: FormDep) -> Response:
    """By client id (exact), else by phone or name (a whole name or one of its words, any
    case) through the blind indexes (issue 15), within the viewer's scope. A POST, so that
    a name never lands in a URL or an access log."""
    q = form.get("q", "").strip()[:200]
    fmt = form.get("format") or None
    rows: list[dict[str, Any]] = []
    if q and fmt is None:
        try:
            viewer.check_client(q)
            viewer.sources.client_unit(q)
        except (LedgerError, HTTPException):
            pass
        else:
            return RedirectResponse(f"/clients/{q}", status_code=303)
    for client_id in viewer.sources.find_clients(q) if q else []:
        try:
            viewer.check_client(client_id)
        except (LedgerError, HTTPException):
            continue
        state = viewer.sources.client(client_id)
        rows.append(
            {
                "client_id": client_id,
                "name": state.name,
                "unit_id": state.unit_id,
                "tier": state.tier,
                "status": state.status,
                "designated_manager": state.designated_manager,
            }
        )
        if len(rows) >= FIND_LIMIT:
            break
    return table_page(
        request, viewer, "find.html", fmt=fmt, rows=rows, fields=FOUND, name="clients", q=q
    )


@router.get("/roster")
def roster(
    request: Request,
    viewer: ViewerDep,
    unit_id: Text = None,
    as_of: Text = None,
    tier: Text = None,
    status: Text = None,
    manager_id: Text = None,
    cursor: Text = None,
    format: Format = None,
) -> Response:
    unit = unit_id or viewer.default_unit()
    if unit is None:
        return render(request, viewer, "desk.html", empty=True, unit=None)
    viewer.check_unit(unit)
    filters = {
        "as_of": parse_moment(as_of, "as_of", end_of_day=True) or utc_now(),
        "tier": tier or None,
        "status": status or None,
        "manager_id": manager_id or None,
    }
    if tier and tier not in TIERS_DOWN:
        raise HTTPException(422, "tier: must be one of " + ", ".join(TIERS_DOWN))
    if status and status not in CLIENT_STATUSES:
        raise HTTPException(422, "status: must be one of " + ", ".join(CLIENT_STATUSES))
    if format is not None:
        rows: Any = viewer.sources.roster_rows(unit, **filters)
        next_cursor = None
    else:
        page = viewer.sources.roster(unit, limit=100, cursor=cursor or None, **filters)
        rows, next_cursor = page["items"], page["next_cursor"]
    summary = viewer.sources.roster_summary(unit, as_of=filters["as_of"])
    return table_page(
        request,
        viewer,
        "roster.html",
        fmt=format,
        rows=rows,
        fields=ROSTER,
        name=f"roster-{unit}",
        unit=unit,
        units=viewer.visible_units(),
        as_of=as_of or "",
        tier=tier or "",
        status=status or "",
        manager_id=manager_id or "",
        next_cursor=next_cursor,
        summary=summary,
        tiers=TIERS_DOWN,
        statuses=CLIENT_STATUSES,
    )
