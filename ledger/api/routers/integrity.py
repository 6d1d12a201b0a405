from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from ledger.api.deps import AuditorDep, ContainerDep
from ledger.api.problems import problem_responses
from ledger.api.routing import resource_router
from ledger.api.schemas import (
    ConsistencyProofPublic,
    DigestCheck,
    DigestPublic,
    InclusionProofPublic,
    VerificationPublic,
)
from ledger.integrity import Digest

router = resource_router("/v1/integrity", tag="integrity", problems=(401, 403, 413, 422, 500))


@router.get("/digest", summary="The latest position of the log and its chain hash")
def digest(container: ContainerDep, _: AuditorDep) -> DigestPublic:
    return DigestPublic.model_validate(container.integrity.digest().as_dict())


@router.post("/verify", summary="Recompute the hash chain from the stored events")
def verify(body: DigestCheck, container: ContainerDep, _: AuditorDep) -> VerificationPublic:
    root = body.root_hash.lower() if body.root_hash else None
    expected = Digest(body.position, body.hash.lower(), None, body.tree_size, root)
    return VerificationPublic.model_validate(container.integrity.verify(expected).as_dict())


TreeSize = Annotated[int, Query(ge=1, le=2**62)]


@router.get(
    "/proofs/events/{position}",
    summary="An inclusion proof of the event at a position in the Merkle tree",
    responses=problem_responses(404),
)
def inclusion_proof(
    position: Annotated[int, Path(ge=1, le=2**62)],
    container: ContainerDep,
    _: AuditorDep,
    tree_size: TreeSize | None = None,
) -> InclusionProofPublic:
    proof = container.integrity.inclusion(position, tree_size)
    return InclusionProofPublic.model_validate(proof.as_dict())


@router.get("/consistency", summary="A consistency proof between two tree sizes")
def consistency_proof(
    first: TreeSize, second: TreeSize, container: ContainerDep, _: AuditorDep
) -> ConsistencyProofPublic:
    proof = container.integrity.consistency(first, second)
    return ConsistencyProofPublic.model_validate(proof.as_dict())
