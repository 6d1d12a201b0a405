from __future__ import annotations

from ledger.api.deps import IdPath, LedgerDep, ReaderDep
from ledger.api.routing import WRITE_PROBLEMS, resource_router
from ledger.api.schemas import HeadAppointment, UnitCreate, UnitPublic, WritePublic
from ledger.api.writers import AdminCreateWriterDep, AdminUpdateWriterDep

router = resource_router("/v1/units", tag="organisation", problems=WRITE_PROBLEMS)


@router.post("", status_code=201, summary="Register a unit")
def create_unit(body: UnitCreate, write: AdminCreateWriterDep) -> WritePublic:
    return write(write.ledger.create_unit, **body.model_dump())


@router.post("/{unit_id}/head", status_code=201, summary="Appoint the unit head")
def appoint_head(
    unit_id: IdPath, body: HeadAppointment, write: AdminUpdateWriterDep
) -> WritePublic:
    return write(write.ledger.appoint_head, unit_id=unit_id, **body.model_dump())


@router.get("/{unit_id}", summary="Read a unit")
def get_unit(unit_id: IdPath, ledger: LedgerDep, _: ReaderDep) -> UnitPublic:
    return UnitPublic.model_validate(ledger.get_unit(unit_id), from_attributes=True)
