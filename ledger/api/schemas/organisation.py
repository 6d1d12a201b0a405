"""Units and staff: their bodies and answers."""

from __future__ import annotations

from pydantic import BaseModel

from ledger.api.schemas.types import (
    Body,
    Identifier,
    Moment,
    Name,
    StaffRole,
    StaffStatus,
    Text,
    UnitKind,
)


class UnitCreate(Body):
    unit_id: Identifier
    name: Name
    kind: UnitKind
    parent_id: Identifier | None = None


class HeadAppointment(Body):
    staff_id: Identifier
    effective_at: Moment


class UnitPublic(BaseModel):
    unit_id: str
    name: str
    kind: UnitKind
    parent_id: str | None
    head_staff_id: str | None
    children: list[str]
    version: int


class StaffCreate(Body):
    staff_id: Identifier
    name: Name
    unit_id: Identifier
    role: StaffRole
    effective_at: Moment | None = None


class StaffTransfer(Body):
    unit_id: Identifier
    effective_at: Moment


class StaffDeparture(Body):
    effective_at: Moment
    reason: Text


class StaffPublic(BaseModel):
    staff_id: str
    name: str
    unit_id: str
    role: StaffRole
    status: StaffStatus
    version: int
