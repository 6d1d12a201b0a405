"""The compliance queue: churn cases, a case with its facts and the determination form,
staff tallies per fiscal year."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from ledger.console.charts import intervals_timeline
from ledger.console.i18n import translator
from ledger.console.pages.clients import _submit
from ledger.console.pages.tables import CASES, TALLIES, pending_first, table_page, tallies
from ledger.console.sources import DeterminationCreate
from ledger.console.web import ConsoleRoute, FormDep, Viewer, ViewerDep, render, utc_now

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

Text = Annotated[str | None, Query(max_length=64)]
Year = Annotated[int | None, Query(ge=1900, le=9999)]
Format = Annotated[str | None, Query(max_length=8)]
# Rows of the queue on one page: a branch has hundreds of cases a year.
PAGE_ROWS = 100


def _cases(viewer: Viewer, unit_id: str | None, fiscal_year: int | None) -> tuple[str, list]:
    unit = unit_id or viewer.default_unit()
    if unit is None:
        return "", []
    viewer.check_unit(unit)
    cases = viewer.sources.churn_cases(unit_id=unit, fiscal_year=fiscal_year)["items"]
    return unit, sorted(cases, key=pending_first)


@router.get("/cases")
def cases(
    request: Request,
    viewer: ViewerDep,
    unit_id: Text = None,
    fiscal_year: Year = None,
    scope: Text = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    format: Format = None,
) -> Response:
    """In scope and pending first, a page of `PAGE_ROWS` at a time; the exports hold all."""
    year = fiscal_year if fiscal_year is not None else utc_now().year
    unit, rows = _cases(viewer, unit_id, year)
    if scope == "in":
        rows = [case for case in rows if case["in_scope"]]
    total = len(rows)
    if format is None:
        rows = rows[(page - 1) * PAGE_ROWS : page * PAGE_ROWS]
    return table_page(
        request,
        viewer,
        "cases.html",
        fmt=format,
        rows=rows,
        fields=CASES,
        name=f"churn-cases-{unit}-{year}",
        unit=unit,
        units=viewer.visible_units(),
        fiscal_year=year,
        scope=scope or "",
        page=page,
        first=(page - 1) * PAGE_ROWS + 1,
        total=total,
        more=page * PAGE_ROWS < total,
    )


@router.get("/tallies")
def staff_tallies(
    request: Request,
    viewer: ViewerDep,
    unit_id: Text = None,
    fiscal_year: Year = None,
    format: Format = None,
) -> Response:
    year = fiscal_year if fiscal_year is not None else utc_now().year
    unit, rows = _cases(viewer, unit_id, year)
    return table_page(
        request,
        viewer,
        "tallies.html",
        fmt=format,
        rows=tallies(rows, year),
        fields=TALLIES,
        name=f"staff-tallies-{unit}-{year}",
        unit=unit,
        units=viewer.visible_units(),
        fiscal_year=year,
    )


@router.get("/cases/{case_id}")
def case_page(request: Request, case_id: str, viewer: ViewerDep) -> Response:
    case = viewer.sources.churn_case(case_id)
    viewer.check_client(case["client_id"])
    intervals = viewer.sources.client_intervals(case["client_id"])["intervals"]
    _ = translator(viewer.lang)
    lanes = [
        (
            _(f"staff.{i['role']}"),
            i["staff_id"],
            _moment(i["from"]),
            _moment(i["to"]) if i["to"] else None,
        )
        for i in intervals
    ]
    chart = intervals_timeline(
        lanes,
        _moment(case["effective_at"]),
        viewer.sources.settings.churn_lookback_days,
        {"title": _("page.intervals"), "churn": _("msg.churn_line")},
    )
    return render(
        request,
        viewer,
        "case.html",
        case=case,
        intervals=intervals,
        chart=chart,
        lookback_days=viewer.sources.settings.churn_lookback_days,
    )


def _moment(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


@router.post("/cases/{case_id}/determination")
def determine(request: Request, case_id: str, viewer: ViewerDep, form: FormDep) -> Response:
    viewer.require("admin", "compliance")
    case = viewer.sources.churn_case(case_id)
    body = DeterminationCreate.model_validate(
        {
            "outcome": form.get("outcome", ""),
            "reason": form.get("reason", ""),
            "party": form.get("party") or None,
        }
    )
    fields = {
        "client_id": case["client_id"],
        "case_id": case_id,
        "outcome": body.outcome,
        "reason": body.reason,
        "party": body.party,
    }
    # Through the case, so that the determination keeps the facts it was made on.
    return _submit(request, viewer, form, "determine_case", fields, f"/cases/{case_id}")
