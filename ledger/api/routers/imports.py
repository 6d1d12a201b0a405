from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from ledger.api.deps import AdminDep, LedgerDep
from ledger.api.problems import IMPORTS_PATH, problem_response
from ledger.api.routing import resource_router
from ledger.api.schemas import ImportPublic
from ledger.application import ImportReport
from ledger.name_lists import read_name_list

router = resource_router(IMPORTS_PATH, tag="clients", problems=(401, 403, 413, 422, 500))

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.post(
    "",
    status_code=201,
    response_model=ImportPublic,
    summary="Import a name list (CSV or XLSX), all or nothing",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                XLSX: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def import_names(request: Request, ledger: LedgerDep, principal: AdminDep) -> Any:
    """Every row is checked first; if any is bad, the answer is a 422 listing each bad row
    (`line`, `field`, `message`) and nothing is written. Clients the ledger already holds
    are skipped, so importing the same file again writes nothing new."""
    data = await request.body()

    def run() -> ImportReport:
        rows = read_name_list(data)
        return ledger.import_clients(rows, recorded_by=principal.name)

    report = await run_in_threadpool(run)
    if report.errors:
        return problem_response(
            422,
            f"{len(report.errors)} problem(s) in {report.rows} rows; nothing was written",
            slug="invalid-input",
            errors=[
                {"line": error.line, "field": error.field, "message": error.message}
                for error in report.errors
            ],
        )
    return ImportPublic.model_validate({**asdict(report), "position": ledger.position})
