"""A member of staff: joins a unit, transfers between units, leaves the bank."""

from __future__ import annotations

from datetime import datetime

from ledger.domain.base import LedgerAggregate, timeline_at, timeline_insert
from ledger.domain.errors import RuleViolation
from ledger.domain.values import (
    ACTIVE,
    DEPARTED,
    MAX_NAME,
    STAFF_ROLES,
    aggregate_uuid,
    check_choice,
    check_identifier,
    check_text,
)


class Staff(LedgerAggregate):
    class Joined(LedgerAggregate.Created, LedgerAggregate.Event):
        staff_id: str
        name: str
        unit_id: str
        role: str

    class Transferred(LedgerAggregate.Event):
        unit_id: str
        previous_unit_id: str

        def apply(self, staff: Staff) -> None:
            timeline_insert(staff.units, [self.effective_at, self.unit_id])

    class Departed(LedgerAggregate.Event):
        reason: str

        def apply(self, staff: Staff) -> None:
            staff.departed_at = self.effective_at

    def __init__(
        self,
        staff_id: str,
        name: str,
        unit_id: str,
        role: str,
        recorded_by: str,
        effective_at: datetime,
    ) -> None:
        self.staff_id = staff_id
        self.name = name
        self.role = role
        self.joined_at = effective_at
        self.units: list[list[object]] = [[effective_at, unit_id]]
        self.departed_at: datetime | None = None

    @staticmethod
    def id_for(staff_id: str) -> object:
        return aggregate_uuid("staff", staff_id)

    @classmethod
    def join(
        cls,
        *,
        staff_id: str,
        name: str,
        unit_id: str,
        role: str,
        recorded_by: str,
        effective_at: datetime,
    ) -> Staff:
        check_identifier("staff_id", staff_id)
        check_text("name", name, limit=MAX_NAME)
        check_choice("role", role, STAFF_ROLES)
        return cls._create(
            cls.Joined,
            id=cls.id_for(staff_id),
            staff_id=staff_id,
            name=name,
            unit_id=unit_id,
            role=role,
            recorded_by=recorded_by,
            effective_at=effective_at,
        )

    @property
    def unit_id(self) -> str:
        return str(self.units[-1][1])

    @property
    def status(self) -> str:
        return DEPARTED if self.departed_at is not None else ACTIVE

    def unit_at(self, at: datetime) -> str | None:
        entry = timeline_at(self.units, at)
        return str(entry[1]) if entry else None

    def is_active_at(self, at: datetime) -> bool:
        return self.joined_at <= at and (self.departed_at is None or at < self.departed_at)

    def check_active_at(self, at: datetime, *, doing: str) -> None:
        if self.departed_at is not None and at >= self.departed_at:
            raise RuleViolation(
                "staff_departed",
                f"staff {self.staff_id} departed on {self.departed_at.isoformat()} "
                f"and cannot {doing}",
            )
        if at < self.joined_at:
            raise RuleViolation(
                "staff_not_yet_joined",
                f"staff {self.staff_id} joined on {self.joined_at.isoformat()}, "
                f"after the time given; cannot {doing}",
            )

    def transfer(self, *, unit_id: str, recorded_by: str, effective_at: datetime) -> None:
        self.check_active_at(effective_at, doing="be transferred")
        previous = self.unit_at(effective_at)
        if previous == unit_id:
            raise RuleViolation(
                "transfer_to_same_unit", f"staff {self.staff_id} is already in unit {unit_id}"
            )
        self.trigger_event(
            self.Transferred,
            unit_id=unit_id,
            previous_unit_id=previous,
            recorded_by=recorded_by,
            effective_at=effective_at,
        )

    def depart(self, *, reason: str, recorded_by: str, effective_at: datetime) -> None:
        check_text("reason", reason)
        if self.departed_at is not None:
            raise RuleViolation("staff_departed", f"staff {self.staff_id} has already departed")
        if effective_at < self.units[-1][0]:  # type: ignore[operator]
            raise RuleViolation(
                "effective_time_order",
                "a departure cannot take effect before the staff member's last join or transfer",
            )
        self.trigger_event(
            self.Departed, reason=reason, recorded_by=recorded_by, effective_at=effective_at
        )
