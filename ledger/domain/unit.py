"""A node of the bank's tree: branch > department > sub-branch > outlet."""

from __future__ import annotations

from datetime import datetime

from ledger.domain.base import LedgerAggregate, timeline_at, timeline_insert
from ledger.domain.errors import InvalidInput, RuleViolation
from ledger.domain.values import (
    MAX_NAME,
    UNIT_KIND_RANK,
    UNIT_KINDS,
    aggregate_uuid,
    check_choice,
    check_identifier,
    check_text,
)


class Unit(LedgerAggregate):
    class Created(LedgerAggregate.Created, LedgerAggregate.Event):
        unit_id: str
        name: str
        kind: str
        parent_id: str | None

    class HeadAppointed(LedgerAggregate.Event):
        staff_id: str
        previous_head: str | None

        def apply(self, unit: Unit) -> None:
            timeline_insert(unit.heads, [self.effective_at, self.staff_id])

    class HeadVacated(LedgerAggregate.Event):
        """The head left (transferred out or departed): nobody heads the unit from then
        until the next appointment (API.md 1.1, "Organisation")."""

        staff_id: str

        def apply(self, unit: Unit) -> None:
            timeline_insert(unit.heads, [self.effective_at, None])

    class ChildAttached(LedgerAggregate.Event):
        child_id: str

        def apply(self, unit: Unit) -> None:
            unit.children.append(self.child_id)

    def __init__(
        self,
        unit_id: str,
        name: str,
        kind: str,
        parent_id: str | None,
        recorded_by: str,
        effective_at: datetime,
    ) -> None:
        self.unit_id = unit_id
        self.name = name
        self.kind = kind
        self.parent_id = parent_id
        self.created_at = effective_at
        self.heads: list[list[object]] = []
        self.children: list[str] = []

    @staticmethod
    def id_for(unit_id: str) -> object:
        return aggregate_uuid("unit", unit_id)

    @classmethod
    def create(
        cls,
        *,
        unit_id: str,
        name: str,
        kind: str,
        parent: Unit | None,
        recorded_by: str,
        effective_at: datetime,
    ) -> Unit:
        check_identifier("unit_id", unit_id)
        check_text("name", name, limit=MAX_NAME)
        check_choice("kind", kind, UNIT_KINDS)
        if parent is None and kind != "branch":
            raise InvalidInput("parent_id", f"a {kind} must have a parent unit")
        if parent is not None and UNIT_KIND_RANK[parent.kind] >= UNIT_KIND_RANK[kind]:
            raise RuleViolation(
                "unit_hierarchy",
                f"a {kind} cannot sit under a {parent.kind}: "
                "branch > department > sub_branch > outlet",
            )
        return cls._create(
            cls.Created,
            id=cls.id_for(unit_id),
            unit_id=unit_id,
            name=name,
            kind=kind,
            parent_id=parent.unit_id if parent else None,
            recorded_by=recorded_by,
            effective_at=effective_at,
        )

    def attach_child(self, *, child_id: str, recorded_by: str, effective_at: datetime) -> None:
        self.trigger_event(
            self.ChildAttached,
            child_id=child_id,
            recorded_by=recorded_by,
            effective_at=effective_at,
        )

    def head_at(self, at: datetime) -> str | None:
        entry = timeline_at(self.heads, at)
        return str(entry[1]) if entry and entry[1] is not None else None

    def vacate_head(self, *, staff_id: str, recorded_by: str, effective_at: datetime) -> bool:
        """`staff_id` stops heading this unit at `effective_at`, if it heads it then."""
        if self.head_at(effective_at) != staff_id:
            return False
        self.trigger_event(
            self.HeadVacated, staff_id=staff_id, recorded_by=recorded_by, effective_at=effective_at
        )
        return True

    def appoint_head(self, *, staff_id: str, recorded_by: str, effective_at: datetime) -> None:
        previous = self.head_at(effective_at)
        if previous == staff_id:
            raise RuleViolation(
                "head_unchanged", f"{staff_id} already heads unit {self.unit_id} at that time"
            )
        self.trigger_event(
            self.HeadAppointed,
            staff_id=staff_id,
            previous_head=previous,
            recorded_by=recorded_by,
            effective_at=effective_at,
        )
