"""The restatement (API.md 1.1, Audit): a report as the ledger knew it at two recorded times,
and the events recorded between them that changed it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import Depends, Query
from pydantic import BaseModel

from ledger.api.deps import LedgerDep, ReadRecorderDep, RestatedDep, check_period
from ledger.api.exports import every_page
from ledger.api.routers.audit import Text, with_data
from ledger.api.routing import READ_PROBLEMS, resource_router
from ledger.api.schemas import (
    AMOUNT_PATTERN,
    AtRiskPublic,
    AuditEventPublic,
    ChurnCasesPublic,
    ChurnKind,
    ComplaintsPublic,
    CompletenessPublic,
    DutiesOverduePublic,
    FunnelPublic,
    LeaderVisitsPublic,
    ManagerPortfolioPublic,
    Moment,
    OrphanedClientsPublic,
    OverdueContactsPublic,
    ReferralsPublic,
    SegmentKey,
    SegmentsPublic,
    StaffRecordPublic,
    TeamGapsPublic,
    TeamRole,
    TierGrowthPublic,
    UnacknowledgedAssignmentsPublic,
)
from ledger.application import Ledger
from ledger.bootstrap import ReadModels
from ledger.domain import InvalidInput
from ledger.domain.values import MAX_LIMIT
from ledger.projections.audit import AuditQuery
from ledger.projections.maintenance import DEFAULT_MIN_ASSETS, DEFAULT_UNACKNOWLEDGED_DAYS

router = resource_router("/v1/audit", tag="audit", problems=READ_PROBLEMS)


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
    role: TeamRole | None = None
    older_than_days: Annotated[int, Query(ge=0, le=3660)] = DEFAULT_UNACKNOWLEDGED_DAYS
    min_assets: Annotated[str, Query(pattern=AMOUNT_PATTERN)] = DEFAULT_MIN_ASSETS
    by: SegmentKey | None = None

    def needs(self, report: str, names: tuple[str, ...]) -> None:
        missing = [name for name in names if getattr(self, name) is None]
        if missing:
            wanted = ", ".join(ALIASES.get(name, name) for name in names)
            raise InvalidInput(ALIASES.get(missing[0], missing[0]), f"{report} needs {wanted}")
        if self.start is not None and self.end is not None:
            check_period(self.start, self.end)


ALIASES = {"start": "from", "end": "to"}
Answer = Callable[[ReadModels, ReportParameters, datetime], dict[str, Any]]


@dataclass(frozen=True)
class Restated:
    """How a report is restated: what it needs, how it is answered as known at a time,
    the answer's model, and what moves it: the event types that can change its answer."""

    needs: tuple[str, ...]
    answer: Answer
    model: type[BaseModel]
    moved_by: tuple[str, ...]
    # Its events are those of the unit subtree the report names (else of every unit).
    by_unit: bool = True
    # Its answer holds clients' personal data: the read log records each client.
    personal: bool = False


def every_row(read: Callable[..., Mapping[str, Any]]) -> dict[str, Any]:
    """A paged report whole: every page's items, as one page."""
    rows = every_page(lambda after: read(limit=MAX_LIMIT, cursor=after))
    return {"items": list(rows), "next_cursor": None}


def _portfolio(views: ReadModels, q: ReportParameters, moment: datetime) -> dict[str, Any]:
    answer = views.reports.manager_portfolio(q.staff_id, q.start, q.end, moment)  # type: ignore[arg-type]
    return {**answer, "assets_change": str(answer["assets_change"])}


INTERVALS = ("Registered", "TierChanged", "Churned", "Reactivated")
TEAM = (*INTERVALS, "Assigned")
CASES = ("Assigned", "TierChanged", "HeadAppointed", "Churned", "ChurnDetermined")
REPORTS: dict[str, Restated] = {
    "churn-cases": Restated(
        (),
        lambda views, q, moment: views.accountability.churn_cases(
            unit_id=q.unit_id,
            fiscal_year=q.fiscal_year,
            in_scope=q.in_scope,
            kind=q.kind,
            known_at=moment,
        ),
        ChurnCasesPublic,
        CASES,
    ),
    "staff-record": Restated(
        ("staff_id", "fiscal_year"),
        lambda views, q, moment: views.accountability.staff_record(
            q.staff_id,  # type: ignore[arg-type]
            q.fiscal_year,  # type: ignore[arg-type]
            moment,
        ),
        StaffRecordPublic,
        CASES,
        by_unit=False,
    ),
    "tier-growth": Restated(
        ("unit_id", "start", "end"),
        lambda views, q, moment: views.roster.tier_growth(q.unit_id, q.start, q.end, moment),  # type: ignore[arg-type]
        TierGrowthPublic,
        INTERVALS,
    ),
    "completeness": Restated(
        ("unit_id",),
        lambda views, q, moment: views.reports.completeness(
            q.unit_id,  # type: ignore[arg-type]
            as_of=q.as_of,
            known_at=moment,
        ),
        CompletenessPublic,
        (*INTERVALS, "ProfileUpdated", "EventRetracted"),
    ),
    "overdue-contacts": Restated(
        ("unit_id",),
        lambda views, q, moment: views.reports.overdue_contacts(
            q.unit_id,  # type: ignore[arg-type]
            as_of=q.as_of,
            known_at=moment,
        ),
        OverdueContactsPublic,
        (*INTERVALS, "Assigned", "ContactLogged", "EventRetracted"),
    ),
    "orphaned-clients": Restated(
        ("unit_id",),
        lambda views, q, moment: views.reports.orphaned_clients(
            q.unit_id,  # type: ignore[arg-type]
            as_of=q.as_of,
            known_at=moment,
        ),
        OrphanedClientsPublic,
        (*INTERVALS, "Assigned", "Departed"),
    ),
    "manager-portfolio": Restated(
        ("staff_id", "start", "end"),
        _portfolio,
        ManagerPortfolioPublic,
        (*INTERVALS, "Assigned", "AssetsReported", "EventRetracted"),
        by_unit=False,
    ),
    "complaints": Restated(
        ("unit_id", "start", "end"),
        lambda views, q, moment: views.reports.complaints(q.unit_id, q.start, q.end, moment),  # type: ignore[arg-type]
        ComplaintsPublic,
        (*INTERVALS, "Assigned", "ContactLogged", "EventRetracted"),
        personal=True,
    ),
    "duties-overdue": Restated(
        ("unit_id",),
        lambda views, q, moment: every_row(
            partial(
                views.maintenance.duties_overdue,
                q.unit_id,  # type: ignore[arg-type]
                as_of=q.as_of,
                role=q.role,
                known_at=moment,
            )
        ),
        DutiesOverduePublic,
        (*TEAM, "ContactLogged", "EventRetracted", "HeadAppointed", "Departed"),
    ),
    "team-gaps": Restated(
        ("unit_id",),
        lambda views, q, moment: every_row(
            partial(views.maintenance.team_gaps, q.unit_id, as_of=q.as_of, known_at=moment)  # type: ignore[arg-type]
        ),
        TeamGapsPublic,
        TEAM,
    ),
    "leader-visits": Restated(
        ("unit_id", "start", "end"),
        lambda views, q, moment: every_row(
            partial(
                views.maintenance.leader_visits,
                q.unit_id,  # type: ignore[arg-type]
                q.start,  # type: ignore[arg-type]
                q.end,  # type: ignore[arg-type]
                min_assets=Decimal(q.min_assets),
                known_at=moment,
            )
        ),
        LeaderVisitsPublic,
        (*INTERVALS, "AssetsReported", "ContactLogged", "EventRetracted", "HeadAppointed"),
    ),
    "unacknowledged-assignments": Restated(
        ("unit_id",),
        lambda views, q, moment: every_row(
            partial(
                views.maintenance.unacknowledged_assignments,
                q.unit_id,  # type: ignore[arg-type]
                older_than_days=q.older_than_days,
                as_of=q.as_of,
                known_at=moment,
            )
        ),
        UnacknowledgedAssignmentsPublic,
        (*TEAM, "AssignmentAcknowledged"),
    ),
    "at-risk": Restated(
        ("unit_id",),
        lambda views, q, moment: every_row(
            partial(views.maintenance.at_risk, q.unit_id, as_of=q.as_of, known_at=moment)  # type: ignore[arg-type]
        ),
        AtRiskPublic,
        (*TEAM, "AssetsReported", "ContactLogged", "EventRetracted", "HeadAppointed", "Departed"),
    ),
    "referrals": Restated(
        ("unit_id", "start", "end"),
        lambda views, q, moment: views.maintenance.referrals(q.unit_id, q.start, q.end, moment),  # type: ignore[arg-type]
        ReferralsPublic,
        (*TEAM, "AssetsReported", "EventRetracted"),
    ),
    "segments": Restated(
        ("unit_id", "by"),
        lambda views, q, moment: views.maintenance.segments(
            q.unit_id,  # type: ignore[arg-type]
            q.by,  # type: ignore[arg-type]
            as_of=q.as_of,
            known_at=moment,
        ),
        SegmentsPublic,
        (*INTERVALS, "AssetsReported", "ProfileUpdated", "EventRetracted"),
    ),
    "funnel": Restated(
        ("unit_id", "start", "end"),
        lambda views, q, moment: views.reports.funnel(q.unit_id, q.start, q.end, moment),  # type: ignore[arg-type]
        FunnelPublic,
        ("Recorded", "Converted", "Dropped"),
    ),
}
Report = Literal[
    "churn-cases",
    "staff-record",
    "tier-growth",
    "completeness",
    "overdue-contacts",
    "orphaned-clients",
    "manager-portfolio",
    "complaints",
    "funnel",
    "duties-overdue",
    "team-gaps",
    "leader-visits",
    "unacknowledged-assignments",
    "at-risk",
    "referrals",
    "segments",
]
assert set(Report.__args__) == set(REPORTS)  # type: ignore[attr-defined]


def restated(
    report: str, views: ReadModels, ledger: Ledger, q: ReportParameters, moment: datetime
) -> BaseModel:
    """The report as the ledger knew it at `moment`."""
    how = REPORTS[report]
    q.needs(report, how.needs)
    if q.staff_id is not None and "staff_id" in how.needs:
        ledger.get_staff(q.staff_id)  # an unknown staff member: 404
    return how.model.model_validate(how.answer(views, q, moment))


@router.get("/restatements", summary="A report as known at two times, and what changed it")
def restatements(
    container: RestatedDep,
    ledger: LedgerDep,
    read: ReadRecorderDep,
    report: Report,
    known_at: Moment,
    compare_known_at: Moment,
    parameters: Annotated[ReportParameters, Depends()],
) -> dict[str, Any]:
    """`{report, known_at, compare_known_at, at_known_at, at_compare_known_at, changed,
    events}`: the report (any report that takes `known_at`, with its own parameters) as
    the ledger knew it at each time, and the events recorded between the two that changed
    it (none when both answers are the same)."""
    views, how = container.views, REPORTS[report]
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
        for type_name in how.moved_by:
            query = AuditQuery(
                type=type_name,
                unit_id=parameters.unit_id if how.by_unit else None,
                recorded_from=first,
                recorded_to=last,
            )
            events += with_data(ledger, views.audit.events(query, limit=MAX_LIMIT))["items"]
        events.sort(key=lambda e: e["position"])
    answers = [answer.model_dump(mode="json", by_alias=True) for answer in (before, after)]
    if how.personal:
        for client_id in {i["client_id"] for answer in answers for i in answer["items"]}:
            read(client_id)
    return {
        "report": report,
        "known_at": known_at,
        "compare_known_at": compare_known_at,
        "at_known_at": answers[0],
        "at_compare_known_at": answers[1],
        "changed": changed,
        "events": [AuditEventPublic.model_validate(e).model_dump(mode="json") for e in events],
    }
