"""The compliance queue: churn cases, a case with its facts and the determination form,
staff tallies per fiscal year."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response

from ledger.console.charts import intervals_timeline
from ledger.console.i18n import translator
from ledger.console.pages.clients import _submit
from ledger.console.pages.listings import replaced, shaped
from ledger.console.pages.tables import CASES, TALLIES, TALLY_OUTCOMES, table_page, tallies
from ledger.console.sources import ChurnCasePublic, DeterminationCreate, party_outcomes
from ledger.console.web import (
    ConsoleRoute,
    Format,
    FormDep,
    Text,
    Viewer,
    ViewerDep,
    render,
    utc_now,
)

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

Year = Annotated[int | None, Query(ge=1900, le=9999)]
# Rows of the queue on one page: a branch has thousands of cases a year (2,669 in the
# 100,000-client demo), and working out each one's rulings and late changes costs ~0.1 ms.
PAGE_ROWS = 100
# The queue's order, part after part, each part in effective order and read a page at a
# time by the read model: in scope and pending, in scope and ruled, out of scope.
QUEUE = ({"pending": True}, {"in_scope": True, "pending": False}, {"in_scope": False})


def _unit(viewer: Viewer, unit_id: str | None) -> str | None:
    unit = unit_id or viewer.default_unit()
    if unit is not None:
        viewer.check_unit(unit)
    return unit


def queue_page(
    viewer: Viewer, unit: str, year: int, parts: int, after: str | None, rows: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Up to `rows` cases of the queue's first `parts` parts from `after` (`part:cursor`,
    as this answered last), and where the next page starts (None at the end)."""
    part, _, cursor = (after or "0:").partition(":")
    if not part.isdigit() or int(part) >= parts:
        raise HTTPException(422, "after: not a place in this queue")
    index, found = int(part), []
    while index < parts:
        page = viewer.sources.churn_cases(
            unit_id=unit,
            fiscal_year=year,
            limit=rows - len(found),
            cursor=cursor or None,
            **QUEUE[index],
        )
        found.extend(page["items"])
        if page["next_cursor"] is not None:
            return found, f"{index}:{page['next_cursor']}"
        index, cursor = index + 1, ""
        if len(found) == rows:
            return found, f"{index}:" if index < parts else None
    return found, None


@router.get("/cases")
def cases(
    request: Request,
    viewer: ViewerDep,
    unit_id: Text = None,
    fiscal_year: Year = None,
    scope: Text = None,
    after: Annotated[str | None, Query(max_length=200)] = None,
    shown: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    format: Format = None,
) -> Response:
    """In scope and pending first, a page of `PAGE_ROWS` at a time; the exports hold all."""
    year = fiscal_year if fiscal_year is not None else utc_now().year
    unit = _unit(viewer, unit_id)
    parts = 2 if scope == "in" else len(QUEUE)
    rows: Iterable[dict[str, Any]] = []
    next_page = None
    if unit is not None and format is not None:
        every = (
            case
            for part in QUEUE[:parts]
            for case in viewer.sources.churn_cases(unit_id=unit, fiscal_year=year, **part)["items"]
        )
        rows = shaped(ChurnCasePublic, every)
    elif unit is not None:
        rows, after = queue_page(viewer, unit, year, parts, after, PAGE_ROWS)
        if after is not None:
            next_page = replaced(request, after=after, shown=str(shown + len(rows)))
    return table_page(
        request,
        viewer,
        "cases.html",
        fmt=format,
        rows=rows,
        fields=CASES,
        name=f"churn-cases-{unit}-{year}",
        unit=unit or "",
        units=viewer.visible_units(),
        fiscal_year=year,
        scope=scope or "",
        shown=shown,
        next_page=next_page,
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
    unit = _unit(viewer, unit_id)
    rows = []
    if unit is not None:
        rows = viewer.sources.churn_cases(unit_id=unit, fiscal_year=year, in_scope=True)["items"]
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
        outcomes=TALLY_OUTCOMES,
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
        standing=party_outcomes(case, case["determination_history"]),
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
