from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.exceptions import RequestValidationError

from ledger.api.deps import ContainerDep, DeterminerDep, UpdateWriterDep
from ledger.api.problems import problem_responses
from ledger.api.schemas import DeterminationCreate, WritePublic

router = APIRouter(
    prefix="/v1/accountability",
    tags=["accountability"],
    responses=problem_responses(401, 403, 404, 409, 413, 422, 500),
)

CaseIdPath = Annotated[str, Path(min_length=1, max_length=64)]


@router.post(
    "/churn-cases/{case_id}/determinations",
    status_code=201,
    summary="Record compliance's determination on a churn case",
)
def determine(
    case_id: CaseIdPath,
    body: DeterminationCreate,
    container: ContainerDep,
    _: DeterminerDep,
    write: UpdateWriterDep,
) -> WritePublic:
    client_id = body.client_id
    if client_id is None and container.churn_case_client is not None:
        client_id = container.churn_case_client(case_id)
    if client_id is None:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "client_id"),
                    "msg": "name the churned client (no churn-case index can resolve it)",
                    "type": "missing",
                }
            ]
        )
    return write(
        lambda version: write.ledger.determine(
            client_id=client_id,
            case_id=case_id,
            outcome=body.outcome,
            reason=body.reason,
            recorded_by=write.recorded_by,
            expected_version=version,
        )
    )
