"""The bank's tree of units and its staff: who works where, and who heads what."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from ledger.application.caches import Memo
from ledger.application.writes import LedgerBase, WriteResult
from ledger.domain import Staff, Unit
from ledger.domain.base import recording_clock


@dataclass(frozen=True)
class UnitSummary:
    unit_id: str
    name: str
    kind: str
    parent_id: str | None
    head_staff_id: str | None
    children: list[str]
    version: int


@dataclass(frozen=True)
class StaffSummary:
    staff_id: str
    name: str
    unit_id: str
    role: str
    status: str
    version: int


def _staff_summary(staff: Staff) -> StaffSummary:
    return StaffSummary(
        staff_id=staff.staff_id,
        name=staff.name,
        unit_id=staff.unit_id,
        role=staff.role,
        status=staff.status,
        version=staff.version,
    )


def _unit_id_of(unit: Unit) -> str:
    return unit.unit_id


def _kind_of(unit: Unit) -> str:
    return unit.kind


class OrganisationUseCases(LedgerBase):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A unit's parent never changes once recorded, so no process can make it stale.
        self._unit_parents: Memo[str | None] = Memo()

    def create_unit(
        self, *, unit_id: str, name: str, kind: str, parent_id: str | None, recorded_by: str
    ) -> WriteResult:
        def attempt() -> WriteResult:
            parent = self.load(Unit, parent_id, field="parent_id") if parent_id else None
            with recording_clock(self.clock):
                unit = Unit.create(
                    unit_id=unit_id,
                    name=name,
                    kind=kind,
                    parent=parent,
                    recorded_by=recorded_by,
                    effective_at=self.clock(),
                )
                if parent is not None:
                    parent.attach_child(
                        child_id=unit_id, recorded_by=recorded_by, effective_at=self.clock()
                    )
            return self.save_new(unit, parent)

        # Another child attached to the parent first: attach to the parent's new state.
        return self.retrying("unit", str(parent_id), attempt)

    def appoint_head(
        self,
        *,
        unit_id: str,
        staff_id: str,
        effective_at: datetime,
        recorded_by: str,
        expected_version: int | None = None,
    ) -> WriteResult:
        effective_at = self.effective("effective_at", effective_at)
        self.check_staff_active(staff_id, effective_at, doing="be appointed unit head")
        return self.update(
            Unit,
            unit_id,
            expected_version,
            Unit.appoint_head,
            staff_id=staff_id,
            recorded_by=recorded_by,
            effective_at=effective_at,
        )

    def join_staff(
        self,
        *,
        staff_id: str,
        name: str,
        unit_id: str,
        role: str,
        effective_at: datetime | None,
        recorded_by: str,
    ) -> WriteResult:
        effective_at = self.effective("effective_at", effective_at)
        self.unit_kind(unit_id)  # the unit must exist
        return self.create(
            Staff.join,
            staff_id=staff_id,
            name=name,
            unit_id=unit_id,
            role=role,
            recorded_by=recorded_by,
            effective_at=effective_at,
        )

    def transfer_staff(
        self,
        *,
        staff_id: str,
        unit_id: str,
        effective_at: datetime,
        recorded_by: str,
        expected_version: int | None = None,
    ) -> WriteResult:
        effective_at = self.effective("effective_at", effective_at)
        self.unit_kind(unit_id)  # the unit must exist

        def transfer(staff: Staff, **arguments: Any) -> list[Unit]:
            staff.transfer(**arguments)
            return self._vacate_heads(staff_id, effective_at, recorded_by, staying=unit_id)

        return self.update(
            Staff,
            staff_id,
            expected_version,
            transfer,
            unit_id=unit_id,
            recorded_by=recorded_by,
            effective_at=effective_at,
        )

    def depart_staff(
        self,
        *,
        staff_id: str,
        reason: str,
        effective_at: datetime,
        recorded_by: str,
        expected_version: int | None = None,
    ) -> WriteResult:
        effective_at = self.effective("effective_at", effective_at)

        def depart(staff: Staff, **arguments: Any) -> list[Unit]:
            staff.depart(**arguments)
            return self._vacate_heads(staff_id, effective_at, recorded_by, staying=None)

        return self.update(
            Staff,
            staff_id,
            expected_version,
            depart,
            reason=reason,
            recorded_by=recorded_by,
            effective_at=effective_at,
        )

    def _vacate_heads(
        self, staff_id: str, effective_at: datetime, recorded_by: str, *, staying: str | None
    ) -> list[Unit]:
        """Every unit a leaving staff member heads at `effective_at`, its head vacated
        (saved with the move): the unit left and any other it was appointed to head, all
        but `staying` (a transfer into the unit it heads keeps it head)."""
        vacated = []
        for unit_id in self.unit_ids():
            if unit_id == staying:
                continue
            if self.read(Unit, unit_id, partial(Unit.head_at, at=effective_at)) != staff_id:
                continue
            unit = self.load(Unit, unit_id)
            unit.vacate_head(staff_id=staff_id, recorded_by=recorded_by, effective_at=effective_at)
            vacated.append(unit)
        return vacated

    def originators(self, created: type) -> Iterator[UUID]:
        """The id of every aggregate whose first event is of class `created`, oldest first."""
        topic = get_topic(created)
        start: int | None = None
        while True:
            page = self.recorder.select_notifications(
                start=start, limit=1000, topics=[topic], inclusive_of_start=start is None
            )
            for notification in page:
                yield notification.originator_id
            if len(page) < 1000:
                return
            start = page[-1].id

    def unit_ids(self) -> list[str]:
        """Every unit's id, in the order they were created (a few hundred in a branch)."""
        return [
            self._organisation.read(originator_id, _unit_id_of)
            for originator_id in self.originators(Unit.Created)
        ]

    # ---- reads ------------------------------------------------------------------------

    def get_unit(self, unit_id: str) -> UnitSummary:
        unit = self.load(Unit, unit_id)
        return UnitSummary(
            unit_id=unit.unit_id,
            name=unit.name,
            kind=unit.kind,
            parent_id=unit.parent_id,
            head_staff_id=unit.head_at(self.clock()),
            children=list(unit.children),
            version=unit.version,
        )

    def unit_kind(self, unit_id: str) -> str:
        return self.read(Unit, unit_id, _kind_of)

    def unit_ancestry(self, unit_id: str) -> list[str]:
        """The unit and its ancestors up to the root, nearest first."""
        chain = []
        current: str | None = unit_id
        while current is not None:
            chain.append(current)
            if current in self._unit_parents:
                current = self._unit_parents[current]
                continue
            unit = self.load(Unit, current)
            self._unit_parents.remember(current, unit.parent_id)
            current = unit.parent_id
        return chain

    def get_staff(self, staff_id: str) -> StaffSummary:
        return self.read(Staff, staff_id, _staff_summary)
