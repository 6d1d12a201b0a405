from __future__ import annotations

from fastapi import APIRouter

from ledger.api.deps import AuditorDep, ContainerDep
from ledger.api.problems import problem_responses
from ledger.api.routing import OneHopRoute
from ledger.api.schemas import DigestCheck, DigestPublic, VerificationPublic
from ledger.integrity import Digest

router = APIRouter(
    prefix="/v1/integrity",
    tags=["integrity"],
    responses=problem_responses(401, 403, 413, 422, 500),
    route_class=OneHopRoute,
)


@router.get("/digest", summary="The latest position of the log and its chain hash")
def digest(container: ContainerDep, _: AuditorDep) -> DigestPublic:
    return DigestPublic.model_validate(container.integrity.digest().as_dict())


@router.post("/verify", summary="Recompute the hash chain from the stored events")
def verify(body: DigestCheck, container: ContainerDep, _: AuditorDep) -> VerificationPublic:
    expected = Digest(body.position, body.hash.lower(), None)
    return VerificationPublic.model_validate(container.integrity.verify(expected).as_dict())
