"""The maintenance reports (DOMAIN.md 1.1) as pages: layered duties overdue, leader visits,
unacknowledged assignments (with the assignee's acknowledge button), segments, referrals
(per manager, and a client's referral tree); and the reports of prospects and complaints."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from ledger.console.pages.clients import _submit
from ledger.console.pages.listings import Column, Filter, listing, paged, whole_number
from ledger.console.pages.reports import _period, _unit
from ledger.console.sources import (
    DEFAULT_MIN_ASSETS,
    DEFAULT_UNACKNOWLEDGED_DAYS,
    PAGE_LIMIT,
    SEGMENT_KEYS,
    SOURCES,
    TEAM_ROLES,
    Complaint,
    DutyOverdue,
    LeaderVisit,
    UnacknowledgedAssignment,
)
from ledger.console.web import (
    ConsoleRoute,
    Day,
    Format,
    FormDep,
    Text,
    Viewer,
    ViewerDep,
    parse_moment,
    render,
    safe_next,
)

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

Cursor = Annotated[str | None, Query(max_length=140)]

DUTIES = (
    Column("client_id", "client"),
    Column("tier", "tier"),
    Column("role", "label", "staff."),
    Column("staff_id"),
    Column("last_contact_at", "never"),
    Column("days_overdue", "num"),
)
LEADER_VISITS = (
    Column("client_id", "client"),
    Column("assets", "money"),
    Column("visited_by_leader", "bool"),
    Column("last_leader_visit_at", "never"),
)
UNACKNOWLEDGED = (
    Column("client_id", "client"),
    Column("staff_id"),
    Column("event_id"),
    Column("effective_at", "time"),
    Column("acknowledge", "acknowledge", label="f.action"),
)
SEGMENT_LABELS = {"tier": "tier.", "source": "source.", "risk_appetite": "risk."}
REFERRALS = (Column("staff_id"), Column("clients", "num"), Column("assets", "money"))
REFERRAL_TREE = (
    Column("client_id", "client"),
    Column("referred_by", "client"),
    Column("depth", "num"),
)
COMPLAINTS = (
    Column("client_id", "client"),
    Column("staff_id"),
    Column("designated_manager"),
    Column("occurred_at", "time"),
    Column("summary"),
)
FUNNEL = (
    Column("source", "label", "source."),
    Column("prospects", "num"),
    Column("converted", "num"),
    Column("dropped", "num"),
    Column("conversion_rate", "percent"),
)


def _unit_filter(unit: str) -> Filter:
    return Filter("unit_id", "unit", unit)


@dataclass
class UnitPeriod:
    """A report's unit (the viewer's by default, checked against its scope) and period
    (this year to date by default), and its download format."""

    unit_id: Text = None
    start: Annotated[str | None, Query(alias="from", max_length=32)] = None
    end: Annotated[str | None, Query(alias="to", max_length=32)] = None
    format: Format = None

    def read(self, viewer: Viewer) -> tuple[str, datetime, datetime]:
        return _unit(viewer, self.unit_id), *_period(self.start, self.end)

    @staticmethod
    def filters(unit: str, begin: datetime, finish: datetime) -> list[Filter]:
        return [
            _unit_filter(unit),
            Filter("from", "date", begin.date().isoformat()),
            Filter("to", "date", finish.date().isoformat()),
        ]


UnitPeriodDep = Annotated[UnitPeriod, Depends()]


@router.get("/reports/duties-overdue")
def duties_overdue(
    request: Request,
    viewer: ViewerDep,
    unit_id: Text = None,
    role: Text = None,
    as_of: Day = None,
    cursor: Cursor = None,
    format: Format = None,
) -> Response:
    unit = _unit(viewer, unit_id)
    if role and role not in TEAM_ROLES:
        raise HTTPException(422, "role: must be one of " + ", ".join(TEAM_ROLES))
    moment = parse_moment(as_of, "as_of", end_of_day=True)

    def read(**page: Any) -> Any:
        return viewer.sources.maintenance_page(
            "duties_overdue", unit, as_of=moment, role=role or None, **page
        )

    rows, next_cursor = paged(read, format, cursor, PAGE_LIMIT)
    return listing(
        request,
        viewer,
        title="page.duties_overdue",
        intro="msg.duties_overdue",
        fmt=format,
        rows=rows,
        columns=DUTIES,
        model=DutyOverdue,
        name=f"duties-{unit}",
        next_cursor=next_cursor,
        filters=[
            _unit_filter(unit),
            Filter("role", "select", role or "", options=TEAM_ROLES, prefix="staff."),
            Filter("as_of", "date", as_of or ""),
        ],
    )


@router.get("/reports/leader-visits")
def leader_visits(
    request: Request,
    viewer: ViewerDep,
    asked: UnitPeriodDep,
    min_assets: Annotated[str | None, Query(max_length=24)] = None,
    cursor: Cursor = None,
) -> Response:
    unit, begin, finish = asked.read(viewer)
    least = _amount(min_assets or DEFAULT_MIN_ASSETS)

    def read(**page: Any) -> Any:
        return viewer.sources.maintenance_page(
            "leader_visits", unit, start=begin, end=finish, min_assets=least, **page
        )

    rows, next_cursor = paged(read, asked.format, cursor, PAGE_LIMIT)
    return listing(
        request,
        viewer,
        title="page.leader_visits",
        intro="msg.leader_visits",
        fmt=asked.format,
        rows=rows,
        columns=LEADER_VISITS,
        model=LeaderVisit,
        name=f"leader-visits-{unit}",
        next_cursor=next_cursor,
        filters=[
            *UnitPeriod.filters(unit, begin, finish),
            Filter("min_assets", "number", min_assets or DEFAULT_MIN_ASSETS),
        ],
    )


def _amount(text: str) -> Decimal:
    try:
        amount = Decimal(text.strip())
    except InvalidOperation:
        raise HTTPException(422, "min_assets: must be an amount") from None
    if not amount.is_finite() or amount < 0:
        raise HTTPException(422, "min_assets: must be an amount of zero or more")
    return amount


@router.get("/reports/unacknowledged")
def unacknowledged(
    request: Request,
    viewer: ViewerDep,
    unit_id: Text = None,
    older_than_days: Annotated[str | None, Query(max_length=8)] = None,
    cursor: Cursor = None,
    format: Format = None,
) -> Response:
    """Designated-manager assignments not signed for; the assignee (or admin) signs here."""
    unit = _unit(viewer, unit_id)
    days = whole_number(older_than_days, "older_than_days", most=3660)
    days = DEFAULT_UNACKNOWLEDGED_DAYS if days is None else days

    def read(**page: Any) -> Any:
        return viewer.sources.maintenance_page(
            "unacknowledged_assignments", unit, older_than_days=days, **page
        )

    rows, next_cursor = paged(read, format, cursor, PAGE_LIMIT)
    if format is None:
        rows = [{**row, "acknowledge": _may_acknowledge(viewer, row)} for row in rows]
    return listing(
        request,
        viewer,
        title="page.unacknowledged",
        intro="msg.unacknowledged",
        fmt=format,
        rows=rows,
        columns=UNACKNOWLEDGED,
        model=UnacknowledgedAssignment,
        name=f"unacknowledged-{unit}",
        next_cursor=next_cursor,
        filters=[
            _unit_filter(unit),
            Filter("older_than_days", "number", days),
        ],
    )


def _may_acknowledge(viewer: Viewer, row: dict[str, Any]) -> bool:
    """The assignee signs for its own assignments; admin for anyone's (as the API has it)."""
    if viewer.role == "admin":
        return True
    return viewer.role == "manager" and row["staff_id"] == viewer.principal.staff_id


@router.post("/clients/{client_id}/acknowledge")
def acknowledge(request: Request, client_id: str, viewer: ViewerDep, form: FormDep) -> Response:
    viewer.require("admin", "manager")
    viewer.check_client(client_id)
    event_id = form.get("event_id", "").strip()
    if not event_id or len(event_id) > 64:
        raise HTTPException(422, "event_id: the assignment's event id is missing")
    acting = viewer.principal.staff_id if viewer.role == "manager" else None
    fields = {"client_id": client_id, "event_id": event_id, "acting_staff_id": acting}
    then = safe_next(form.get("next"))
    return _submit(request, viewer, form, "acknowledge_assignment", fields, then)


@router.get("/reports/segments")
def segments(
    request: Request,
    viewer: ViewerDep,
    unit_id: Text = None,
    by: Text = None,
    as_of: Day = None,
    format: Format = None,
) -> Response:
    unit = _unit(viewer, unit_id)
    key = by or "tier"
    if key not in SEGMENT_KEYS:
        raise HTTPException(422, "by: must be one of " + ", ".join(SEGMENT_KEYS))
    moment = parse_moment(as_of, "as_of", end_of_day=True)
    answer = viewer.sources.segments(unit, key, as_of=moment)
    rows = [{"segment": value, **entry} for value, entry in answer["segments"].items()]
    columns = (
        Column("segment", "label", SEGMENT_LABELS.get(key, ""), label=f"f.{key}"),
        Column("clients", "num"),
        Column("assets", "money"),
    )
    return listing(
        request,
        viewer,
        title="page.segments",
        fmt=format,
        rows=rows,
        columns=columns,
        name=f"segments-{key}-{unit}",
        filters=[
            _unit_filter(unit),
            Filter("by", "select", key, options=SEGMENT_KEYS, prefix="f.", required=True),
            Filter("as_of", "date", as_of or ""),
        ],
    )


@router.get("/reports/referrals")
def referrals(request: Request, viewer: ViewerDep, asked: UnitPeriodDep) -> Response:
    unit, begin, finish = asked.read(viewer)
    answer = viewer.sources.referrals(unit, begin, finish)
    total = answer["total"]
    return listing(
        request,
        viewer,
        title="page.referrals",
        intro="msg.referrals",
        fmt=asked.format,
        rows=answer["by_manager"],
        columns=REFERRALS,
        name=f"referrals-{unit}",
        filters=UnitPeriod.filters(unit, begin, finish),
        summary=[("msg.total", f"{total['clients']}"), ("f.assets", _money(total["assets"]))],
        tree_form=True,
    )


def _money(value: Any) -> str:
    return f"{Decimal(value):,.2f}"


@router.get("/reports/referral-tree")
def referral_tree(
    request: Request,
    viewer: ViewerDep,
    client_id: Annotated[str, Query(min_length=1, max_length=64)],
    format: Format = None,
) -> Response:
    """The clients the client brought in, and the ones they brought in, as a tree; the
    download holds one row per client with the one who referred it."""
    viewer.check_client(client_id)
    tree = viewer.sources.referral_tree(client_id)
    rows = list(_flattened(tree, None, 0))
    if format is not None:
        return listing(
            request,
            viewer,
            title="page.referral_tree",
            fmt=format,
            rows=rows,
            columns=REFERRAL_TREE,
            name=f"referrals-of-{client_id}",
        )
    return render(
        request, viewer, "referral_tree.html", tree=tree, client_id=client_id, count=len(rows) - 1
    )


def _flattened(node: dict[str, Any], parent: str | None, depth: int) -> Any:
    yield {"client_id": node["client_id"], "referred_by": parent, "depth": depth}
    for child in node["referred"]:
        yield from _flattened(child, node["client_id"], depth + 1)


@router.get("/reports/complaints")
def complaints(request: Request, viewer: ViewerDep, asked: UnitPeriodDep) -> Response:
    unit, begin, finish = asked.read(viewer)
    answer = viewer.sources.complaints(unit, begin, finish)
    by_manager = sorted(answer["by_manager"].items(), key=lambda item: (-item[1], item[0]))
    return listing(
        request,
        viewer,
        title="page.complaints",
        fmt=asked.format,
        rows=answer["items"],
        columns=COMPLAINTS,
        model=Complaint,
        name=f"complaints-{unit}",
        filters=UnitPeriod.filters(unit, begin, finish),
        summary=[("msg.total", str(len(answer["items"])))],
        breakdown=("f.designated_manager", by_manager),
    )


@router.get("/reports/funnel")
def funnel(request: Request, viewer: ViewerDep, asked: UnitPeriodDep) -> Response:
    unit, begin, finish = asked.read(viewer)
    answer = viewer.sources.funnel(unit, begin, finish)
    rows = [
        {"source": source, **answer["by_source"].get(source, _no_prospects())}
        for source in (*SOURCES, *sorted(set(answer["by_source"]) - set(SOURCES)))
    ]
    return listing(
        request,
        viewer,
        title="page.funnel",
        intro="msg.funnel",
        fmt=asked.format,
        rows=rows,
        columns=FUNNEL,
        name=f"funnel-{unit}",
        filters=UnitPeriod.filters(unit, begin, finish),
    )


def _no_prospects() -> dict[str, Any]:
    return {"prospects": 0, "converted": 0, "dropped": 0, "conversion_rate": None}
