"""The maintenance read model's answers (DOMAIN.md 1.1): layered duties, team gaps, leader
visits, unacknowledged assignments, the at-risk board, referrals and segments."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, Field

from ledger.api.schemas.types import Money, RiskReason, SegmentKey, TeamRole, Tier


class _Paged(BaseModel):
    next_cursor: str | None = Field(description="the next page's cursor; null on the last page")


class DutyOverdue(BaseModel):
    client_id: str
    tier: Tier
    role: TeamRole
    staff_id: str | None = Field(description="who holds the role; null: vacant")
    last_contact_at: AwareDatetime | None = Field(description="null: never, for this role")
    days_overdue: int


class DutiesOverduePublic(_Paged):
    items: list[DutyOverdue]


class TeamGap(BaseModel):
    client_id: str
    tier: Tier
    missing: list[TeamRole]


class TeamGapsPublic(_Paged):
    items: list[TeamGap]


class LeaderVisit(BaseModel):
    client_id: str
    assets: Money
    visited_by_leader: bool
    last_leader_visit_at: AwareDatetime | None


class LeaderVisitsPublic(_Paged):
    items: list[LeaderVisit]


class UnacknowledgedAssignment(BaseModel):
    client_id: str
    staff_id: str
    event_id: str
    effective_at: AwareDatetime


class UnacknowledgedAssignmentsPublic(_Paged):
    items: list[UnacknowledgedAssignment]


class Accountable(BaseModel):
    designated_manager: str | None
    unit_head: str | None
    prior_holders: list[str]


class AtRiskClient(BaseModel):
    client_id: str
    tier: Tier
    reasons: list[RiskReason]
    accountable: Accountable


class AtRiskPublic(_Paged):
    items: list[AtRiskClient]


class ReferralNode(BaseModel):
    client_id: str
    referred: list[ReferralNode]


class ReferralManager(BaseModel):
    staff_id: str | None = Field(description="the referrer's designated manager; null: none")
    clients: int
    assets: Money


class ReferralTotal(BaseModel):
    clients: int
    assets: Money


class ReferralsPublic(BaseModel):
    by_manager: list[ReferralManager]
    total: ReferralTotal


class Segment(BaseModel):
    clients: int
    assets: Money


class SegmentsPublic(BaseModel):
    by: SegmentKey
    segments: dict[str, Segment]
