"""Personal data (PIPL): erasure of a client's, and who may be erased."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from ledger.api.deps import IdPath, LedgerDep, RosterDep, role_in
from ledger.api.routing import resource_router
from ledger.api.schemas import ErasablePublic, ErasureCreate, WritePublic
from ledger.api.writers import writer_dependencies
from ledger.application import Principal

router = resource_router(tag="privacy", problems=(401, 403, 404, 409, 422, 500))

EraserDep = Annotated[Principal, Depends(role_in("admin", doing="erase personal data"))]
_, EraserWriterDep = writer_dependencies(EraserDep)


@router.post(
    "/v1/clients/{client_id}/erasure",
    status_code=201,
    summary="Erase a client's personal data for good (after the retention period)",
)
def erase_client(client_id: IdPath, body: ErasureCreate, write: EraserWriterDep) -> WritePublic:
    write.updates = False  # an erasure is never conditional on a version
    return write(write.ledger.erase_client, client_id=client_id, **body.model_dump())


@router.get("/v1/privacy/erasable", summary="Churned clients whose retention period has passed")
def erasable(
    unit_id: Annotated[str, Query(min_length=1, max_length=64)],
    ledger: LedgerDep,
    view: RosterDep,
    _: EraserDep,
) -> ErasablePublic:
    found = ledger.erasable_of(lambda moment: view.churned_before(unit_id, moment))
    return ErasablePublic.model_validate({"unit_id": unit_id, "items": found})
