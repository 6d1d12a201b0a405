from __future__ import annotations

from ledger.api.deps import IdPath, LedgerDep, ReaderDep
from ledger.api.routing import WRITE_PROBLEMS, resource_router
from ledger.api.schemas import StaffCreate, StaffDeparture, StaffPublic, StaffTransfer, WritePublic
from ledger.api.writers import AdminCreateWriterDep, AdminUpdateWriterDep

router = resource_router("/v1/staff", tag="organisation", problems=WRITE_PROBLEMS)


@router.post("", status_code=201, summary="A staff member joins a unit")
def join_staff(body: StaffCreate, write: AdminCreateWriterDep) -> WritePublic:
    return write(write.ledger.join_staff, **body.model_dump())


@router.post("/{staff_id}/transfers", status_code=201, summary="Transfer to another unit")
def transfer_staff(
    staff_id: IdPath, body: StaffTransfer, write: AdminUpdateWriterDep
) -> WritePublic:
    return write(write.ledger.transfer_staff, staff_id=staff_id, **body.model_dump())


@router.post("/{staff_id}/departure", status_code=201, summary="The staff member leaves")
def depart_staff(
    staff_id: IdPath, body: StaffDeparture, write: AdminUpdateWriterDep
) -> WritePublic:
    return write(write.ledger.depart_staff, staff_id=staff_id, **body.model_dump())


@router.get("/{staff_id}", summary="Read a staff member")
def get_staff(staff_id: IdPath, ledger: LedgerDep, _: ReaderDep) -> StaffPublic:
    return StaffPublic.model_validate(ledger.get_staff(staff_id), from_attributes=True)
