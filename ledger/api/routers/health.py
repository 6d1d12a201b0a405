from __future__ import annotations

from fastapi import APIRouter

from ledger.api.deps import ContainerDep
from ledger.api.problems import problem_responses
from ledger.api.routing import OneHopRoute
from ledger.api.schemas import HealthPublic

router = APIRouter(
    prefix="/v1/health",
    tags=["health"],
    responses=problem_responses(500),
    route_class=OneHopRoute,
)


@router.get("", summary="Liveness, store and log position (no token needed)")
def health(container: ContainerDep) -> HealthPublic:
    return HealthPublic(
        status="ok",
        store=container.settings.store,
        position=container.ledger.position,
        projections=container.runner.positions() if container.views_built else {},
    )
