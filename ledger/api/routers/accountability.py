from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import Path, Query, Response

from ledger.api.deps import (
    AccountabilityDep,
    DeterminerDep,
    ScopedClient,
    ScopedClientQuery,
    ScopedStaff,
    ScopedUnitOrNone,
)
from ledger.api.exports import EXPORT_RESPONSES, ExportFormat, Listing
from ledger.api.problems import problem_responses
from ledger.api.routing import READ_PROBLEMS, resource_router
from ledger.api.schemas import (
    ChurnCasePublic,
    ChurnCasesPublic,
    ChurnKind,
    ClientIntervalsPublic,
    DeterminationCreate,
    Moment,
    ResponsiblePublic,
    StaffRecordPublic,
    WritePublic,
)
from ledger.api.writers import writer_dependencies
from ledger.domain.values import DEFAULT_LIMIT, MAX_LIMIT

_, DeterminerWriterDep = writer_dependencies(DeterminerDep)

router = resource_router("/v1/accountability", tag="accountability", problems=READ_PROBLEMS)

CaseIdPath = Annotated[str, Path(min_length=1, max_length=64)]
FiscalYear = Annotated[int, Query(ge=1900, le=9999, description="named by the year it starts in")]


@router.get("/clients/{client_id}", summary="Every team role's [from, to) intervals of a client")
def client_intervals(client_id: ScopedClient, view: AccountabilityDep) -> ClientIntervalsPublic:
    return ClientIntervalsPublic.model_validate(view.client_intervals(client_id))


@router.get("/responsible", summary="Who was responsible for a client at a time")
def responsible(
    client_id: ScopedClientQuery,
    at: Moment,
    view: AccountabilityDep,
) -> ResponsiblePublic:
    return ResponsiblePublic.model_validate(view.responsible(client_id, at))


@router.get(
    "/churn-cases",
    summary="Churn cases with their accountability facts",
    response_model=ChurnCasesPublic,
    responses=EXPORT_RESPONSES,
)
def churn_cases(
    view: AccountabilityDep,
    unit_id: ScopedUnitOrNone,
    fiscal_year: Annotated[int | None, Query(ge=1900, le=9999)] = None,
    in_scope: bool | None = None,
    kind: ChurnKind | None = None,
    pending: Annotated[
        bool | None, Query(description="in scope and without a standing determination")
    ] = None,
    known_at: Annotated[
        Moment | None, Query(description="the cases as the ledger knew them then")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=200, description="the previous page's next_cursor")
    ] = None,
    fmt: ExportFormat = None,
) -> ChurnCasesPublic | Response:
    filters = {
        "unit_id": unit_id,
        "fiscal_year": fiscal_year,
        "in_scope": in_scope,
        "kind": kind,
        "pending": pending,
        "known_at": known_at,
    }
    return Listing(limit, cursor, fmt, MAX_LIMIT).answer(
        partial(view.churn_cases, **filters), ChurnCasesPublic, ChurnCasePublic, "churn-cases"
    )


@router.get("/staff/{staff_id}", summary="A staff member's in-scope cases in a fiscal year")
def staff_record(
    staff_id: ScopedStaff,
    fiscal_year: FiscalYear,
    view: AccountabilityDep,
    known_at: Moment | None = None,
) -> StaffRecordPublic:
    return StaffRecordPublic.model_validate(view.staff_record(staff_id, fiscal_year, known_at))


@router.post(
    "/churn-cases/{case_id}/determinations",
    status_code=201,
    summary="Record compliance's determination on a churn case",
    responses=problem_responses(409, 413),
)
def determine(
    case_id: CaseIdPath,
    body: DeterminationCreate,
    _caught_up: AccountabilityDep,  # the `after=` wait
    write: DeterminerWriterDep,
) -> WritePublic:
    return write(write.ledger.determine_case, case_id=case_id, **body.model_dump())
