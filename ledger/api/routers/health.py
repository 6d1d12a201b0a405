from __future__ import annotations

from fastapi import Response
from fastapi.responses import JSONResponse

from ledger.api.deps import ContainerDep
from ledger.api.routing import resource_router
from ledger.api.schemas import HealthPublic
from ledger.api.schemas.health import ProjectorPublic
from ledger.projections.recovery import failure_text

router = resource_router("/v1/health", tag="health", problems=(500,))


@router.get(
    "",
    summary="Liveness, store and log position (no token needed)",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic, "description": "a read model stopped on an event"}},
)
def health(container: ContainerDep) -> HealthPublic | Response:
    runner = container.runner if container.views_built else None
    errors = dict(runner.failures) if runner is not None else {}
    if runner is not None and runner.error is not None:
        errors["projections"] = failure_text(runner.error)
    projector = container.projector
    if projector is not None and (problem := projector.problem()) is not None:
        errors["projector"] = problem
    warnings = {}
    unhashed = container.integrity.unhashed()
    if unhashed is not None:
        warnings["chain"] = (
            f"events from position {unhashed} are not in the hash chain yet: "
            "run `ledger chain backfill`"
        )
    answer = HealthPublic(
        status="degraded" if errors else "ok",
        store=container.settings.store,
        position=container.ledger.position,
        projections=runner.positions() if runner is not None else {},
        errors=errors,
        warnings=warnings,
        projector=(
            ProjectorPublic(
                pid=projector.pid, restarts=projector.restarts, last_exit=projector.last_exit
            )
            if projector is not None
            else None
        ),
    )
    if errors:
        return JSONResponse(answer.model_dump(mode="json"), status_code=503)
    return answer
