"""The reports the managers live by: tier growth (the source report's table, with a chart),
completeness against the target, overdue and orphaned lists, the manager portfolio."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response

from ledger.console.charts import bar_chart
from ledger.console.i18n import translator
from ledger.console.pages.tables import (
    AT_RISK,
    COMPLETENESS,
    GROWTH,
    ORPHANED,
    OVERDUE,
    PORTFOLIO,
    TEAM_GAPS,
    table_page,
)
from ledger.console.sources import VIP_TIERS
from ledger.console.web import (
    LOCAL,
    ConsoleRoute,
    Format,
    Text,
    Viewer,
    ViewerDep,
    parse_moment,
    render,
    utc_now,
)

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

GROWTH_TIERS = (*VIP_TIERS, "vip")


def _unit(viewer: Viewer, unit_id: str | None) -> str:
    unit = unit_id or viewer.default_unit()
    if unit is None:
        raise HTTPException(404, "the ledger has no units yet: load the demo with `ledger demo`")
    viewer.check_unit(unit)
    return unit


def _period(start: str | None, end: str | None) -> tuple[datetime, datetime]:
    today = utc_now().astimezone(LOCAL)
    begin = parse_moment(start, "from") or today.replace(
        month=1, day=1, hour=0, minute=0, second=0, microsecond=0
    )
    finish = parse_moment(end, "to", end_of_day=True) or today
    if finish <= begin:
        raise HTTPException(422, "to: must be after from")
    return begin, finish


@router.get("/reports")
def reports(request: Request, viewer: ViewerDep) -> Response:
    return render(request, viewer, "reports.html", unit=viewer.default_unit())


@router.get("/reports/tier-growth")
def tier_growth(
    request: Request,
    viewer: ViewerDep,
    unit_id: Text = None,
    start: Annotated[str | None, Query(alias="from", max_length=32)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=32)] = None,
    format: Format = None,
) -> Response:
    """Rows: the unit, then each unit below it; per tier start, end, change, growth rate,
    share of the parent's change and the rank among siblings by VIP growth rate."""
    unit = _unit(viewer, unit_id)
    begin, finish = _period(start, end)
    sources = viewer.sources
    table: list[dict[str, Any]] = []
    for member in (unit, *sources.children(unit)):
        growth = sources.tier_growth(member, begin, finish)
        ranking = [r["unit_id"] for r in growth["sibling_ranking"]]
        rank = ranking.index(member) + 1 if member in ranking and member != unit else None
        tiers = {**growth["tiers"], "vip": growth["vip"]}
        table.append(
            {
                "unit_id": member,
                "name": sources.unit(member)["name"],
                "tiers": tiers,
                "share": growth["share_of_parent"] if member != unit else {},
                "rank": rank,
            }
        )
    rows = [
        {
            "unit_id": line["unit_id"],
            "tier": tier,
            **{k: line["tiers"][tier][k] for k in ("start", "end", "change", "growth_rate")},
            "share_of_parent": line["share"].get(tier),
            "rank": line["rank"] if tier == "vip" else None,
        }
        for line in table
        for tier in GROWTH_TIERS
    ]
    _ = translator(viewer.lang)
    below = table[1:] or table
    chart = bar_chart(
        [line["name"] for line in below],
        [line["tiers"]["vip"]["change"] for line in below],
        _("msg.chart_vip_change"),
    )
    return table_page(
        request,
        viewer,
        "tier_growth.html",
        fmt=format,
        rows=rows,
        fields=GROWTH,
        name=f"tier-growth-{unit}",
        unit=unit,
        units=viewer.visible_units(),
        table=table,
        growth_tiers=GROWTH_TIERS,
        start=begin,
        end=finish,
        chart=chart,
    )


@router.get("/reports/completeness")
def completeness(
    request: Request,
    viewer: ViewerDep,
    unit_id: Text = None,
    # None: the view's LEDGER_COMPLETENESS_TARGET, as in the API.
    target: Annotated[float | None, Query(ge=0, le=1)] = None,
    format: Format = None,
) -> Response:
    unit = _unit(viewer, unit_id)
    answer = viewer.sources.completeness(unit, target=target)
    return table_page(
        request,
        viewer,
        "completeness.html",
        fmt=format,
        rows=answer["by_unit"],
        fields=COMPLETENESS,
        name=f"completeness-{unit}",
        unit=unit,
        units=viewer.visible_units(),
        answer=answer,
    )


@router.get("/reports/portfolio")
def portfolio(
    request: Request,
    viewer: ViewerDep,
    staff_id: Text = None,
    start: Annotated[str | None, Query(alias="from", max_length=32)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=32)] = None,
    format: Format = None,
) -> Response:
    staff = staff_id or viewer.principal.staff_id
    begin, finish = _period(start, end)
    rows: list[dict[str, Any]] = []
    if staff:
        viewer.sources.check_staff_read_scope(viewer.principal, staff)
        answer = viewer.sources.manager_portfolio(staff, begin, finish)
        rows = [
            {
                "staff_id": staff,
                "from": begin,
                "to": finish,
                **answer["clients"],
                "assets_change": str(answer["assets_change"]),
            }
        ]
    return table_page(
        request,
        viewer,
        "portfolio.html",
        fmt=format,
        rows=rows,
        fields=PORTFOLIO,
        name=f"portfolio-{staff or 'none'}",
        staff_id=staff or "",
        start=begin,
        end=finish,
    )


# The lists of a unit: the path's last part -> its template, its fields, its rows.
UNIT_LISTS: dict[str, tuple[str, tuple[str, ...], Callable[[Any, str], dict[str, Any]]]] = {
    "overdue": ("overdue.html", OVERDUE, lambda sources, unit: sources.overdue_contacts(unit)),
    "orphaned": ("orphaned.html", ORPHANED, lambda sources, unit: sources.orphaned_clients(unit)),
    "at-risk": ("at_risk.html", AT_RISK, lambda sources, unit: sources.at_risk(unit)),
    "team-gaps": ("team_gaps.html", TEAM_GAPS, lambda sources, unit: sources.team_gaps(unit)),
}


@router.get("/reports/{name}")
def unit_list(
    request: Request, name: str, viewer: ViewerDep, unit_id: Text = None, format: Format = None
) -> Response:
    if name not in UNIT_LISTS:
        raise HTTPException(404, "no such report")
    template, fields, read = UNIT_LISTS[name]
    unit = _unit(viewer, unit_id)
    return table_page(
        request,
        viewer,
        template,
        fmt=format,
        rows=read(viewer.sources, unit)["items"],
        fields=fields,
        name=f"{name}-{unit}",
        unit=unit,
        units=viewer.visible_units(),
    )
