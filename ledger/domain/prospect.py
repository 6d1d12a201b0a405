"""A prospect (潜在客户): someone the bank means to win, found through a source and owned by a
staff member, until converted into a registered client (the two linked) or dropped."""

from __future__ import annotations

from datetime import datetime

from ledger.domain.base import LedgerAggregate
from ledger.domain.errors import RuleViolation
from ledger.domain.values import (
    MAX_NAME,
    SOURCES,
    aggregate_uuid,
    check_choice,
    check_identifier,
    check_text,
)

OPEN = "open"
CONVERTED = "converted"
DROPPED = "dropped"


class Prospect(LedgerAggregate):
    class Recorded(LedgerAggregate.Created, LedgerAggregate.Event):
        prospect_id: str
        name: str
        unit_id: str
        source: str
        owner_staff_id: str

    class Converted(LedgerAggregate.Event):
        client_id: str

        def apply(self, prospect: Prospect) -> None:
            prospect.status = CONVERTED
            prospect.client_id = self.client_id
            prospect.closed_at = self.effective_at

    class Dropped(LedgerAggregate.Event):
        reason: str

        def apply(self, prospect: Prospect) -> None:
            prospect.status = DROPPED
            prospect.closed_at = self.effective_at

    def __init__(
        self,
        prospect_id: str,
        name: str,
        unit_id: str,
        source: str,
        owner_staff_id: str,
        recorded_by: str,
        effective_at: datetime,
    ) -> None:
        self.prospect_id = prospect_id
        self.name = name
        self.unit_id = unit_id
        self.source = source
        self.owner_staff_id = owner_staff_id
        self.recorded_at = effective_at
        self.status = OPEN
        self.client_id: str | None = None
        self.closed_at: datetime | None = None

    @staticmethod
    def id_for(prospect_id: str) -> object:
        return aggregate_uuid("prospect", prospect_id)

    @classmethod
    def record(
        cls,
        *,
        prospect_id: str,
        name: str,
        unit_id: str,
        source: str,
        owner_staff_id: str,
        recorded_by: str,
        effective_at: datetime,
    ) -> Prospect:
        check_identifier("prospect_id", prospect_id)
        check_text("name", name, limit=MAX_NAME)
        check_choice("source", source, SOURCES)
        return cls._create(
            cls.Recorded,
            id=cls.id_for(prospect_id),
            prospect_id=prospect_id,
            name=name,
            unit_id=unit_id,
            source=source,
            owner_staff_id=owner_staff_id,
            recorded_by=recorded_by,
            effective_at=effective_at,
        )

    def convert(self, *, client_id: str, recorded_by: str, effective_at: datetime) -> None:
        self.check_open(effective_at, doing="be converted")
        self.trigger_event(
            self.Converted, client_id=client_id, recorded_by=recorded_by, effective_at=effective_at
        )

    def drop(self, *, reason: str, recorded_by: str, effective_at: datetime) -> None:
        check_text("reason", reason)
        self.check_open(effective_at, doing="be dropped")
        self.trigger_event(
            self.Dropped, reason=reason, recorded_by=recorded_by, effective_at=effective_at
        )

    def check_open(self, at: datetime, *, doing: str) -> None:
        if self.status != OPEN:
            raise RuleViolation(
                f"prospect_{self.status}",
                f"prospect {self.prospect_id} is already {self.status} and cannot {doing}",
            )
        if at < self.recorded_at:
            raise RuleViolation(
                "effective_before_prospect",
                f"a prospect cannot {doing} before it was found ({self.recorded_at.isoformat()})",
            )
