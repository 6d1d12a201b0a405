"""Churn accountability: determinations (the write), responsibility over time, the churn
cases and each staff member's record."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, Field

from ledger.api.schemas.types import (
    Body,
    ChurnKind,
    FromTo,
    Identifier,
    NextCursor,
    Outcome,
    Party,
    TeamRole,
    Text,
    Tier,
)


class DeterminationCreate(Body):
    outcome: Outcome
    reason: Text
    party: Party | None = Field(
        default=None,
        description="the party the determination is on (pursued separately); none: the whole case",
    )
    client_id: Identifier | None = Field(
        default=None,
        description=(
            "not needed: the churn-case read model resolves the case to its client; if "
            "sent, it must name that client"
        ),
    )


class IntervalPublic(FromTo):
    role: TeamRole
    staff_id: str
    start: AwareDatetime = Field(alias="from")
    end: AwareDatetime | None = Field(alias="to", description="null while the role is held")


class ClientIntervalsPublic(BaseModel):
    client_id: str
    intervals: list[IntervalPublic]


class ResponsiblePublic(BaseModel):
    client_id: str
    at: AwareDatetime
    designated_manager: str | None
    team: dict[str, str] = Field(description="team role -> staff id at `at`")
    unit_head: str | None


class CaseFactsPublic(BaseModel):
    accountability_tier: Tier | None
    designated_manager: str | None
    unit_head: str | None
    prior_holders: list[str]


class DeterminationPublic(BaseModel):
    party: Party | None = Field(description="null: the whole case")
    outcome: Outcome
    reason: str
    event_id: str
    decided_at: AwareDatetime
    decided_by: str
    recorded_at: AwareDatetime
    recorded_by: str
    facts: CaseFactsPublic | None = Field(
        description="the case's facts it was made on (null for one made before 1.1)"
    )
    stale: bool = Field(description="the case's facts have changed since")


class LateChangePublic(BaseModel):
    event_id: str
    type: str
    effective_at: AwareDatetime
    recorded_at: AwareDatetime
    recorded_by: str


class ChurnCasePublic(BaseModel):
    case_id: str = Field(description="the churn event's event_id")
    client_id: str
    unit_id: str
    kind: ChurnKind
    effective_at: AwareDatetime
    fiscal_year: int
    accountability_tier: Tier | None = Field(
        description="the highest tier held in the fiscal year up to the churn"
    )
    in_scope: bool
    designated_manager: str | None
    unit_head: str | None
    prior_holders: list[str]
    determination: DeterminationPublic | None = Field(description="the latest, which stands")
    determinations: list[DeterminationPublic] = Field(
        description="the latest per party (party null: the whole case)"
    )
    determination_history: list[DeterminationPublic] = Field(
        description="all of them, oldest first"
    )
    pending: bool = Field(
        description="in scope, and no determination that is not stale covers every party"
    )
    late_changes: list[LateChangePublic] = Field(
        description="events that moved the case's facts, recorded after the churn or late"
    )


class ChurnCasesPublic(BaseModel):
    items: list[ChurnCasePublic]
    next_cursor: NextCursor = None


class PartyCounts(BaseModel):
    as_designated_manager: int
    as_unit_head: int


class StaffRecordPublic(BaseModel):
    staff_id: str
    fiscal_year: int
    as_designated_manager: int
    as_unit_head: int
    as_prior_holder: int
    confirmed: PartyCounts
    waived: PartyCounts
    pending: PartyCounts
    known_at: AwareDatetime | None = None
