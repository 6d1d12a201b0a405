"""The reports read model's answers: growth, completeness, overdue contacts, orphaned
clients, the prospect funnel, complaints and a manager's portfolio."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, Field

from ledger.api.schemas.rosters import TierCounts
from ledger.api.schemas.types import FromTo, Money, NextCursor, Source, Tier


class GrowthPublic(BaseModel):
    start: int
    end: int
    change: int
    growth_rate: float | None = Field(description="change / start, e.g. 0.1478; null if start is 0")


class SiblingRank(BaseModel):
    unit_id: str
    vip_growth_rate: float | None


class TierGrowthPublic(FromTo):
    unit_id: str
    start: AwareDatetime = Field(alias="from")
    end: AwareDatetime = Field(alias="to")
    tiers: dict[str, GrowthPublic]
    vip: GrowthPublic
    share_of_parent: dict[str, float | None]
    sibling_ranking: list[SiblingRank]


class CompletenessByUnit(BaseModel):
    unit_id: str
    vip_active: int
    complete: int
    rate: float | None


class CompletenessPublic(BaseModel):
    unit_id: str
    vip_active: int
    complete: int
    rate: float | None
    target: float
    meets_target: bool
    by_unit: list[CompletenessByUnit]


class OverdueContact(BaseModel):
    client_id: str
    tier: Tier
    last_contact_at: AwareDatetime | None = Field(description="null: never contacted")
    days_overdue: int
    designated_manager: str | None


class OverdueContactsPublic(BaseModel):
    items: list[OverdueContact]
    next_cursor: NextCursor


class OrphanedClient(BaseModel):
    client_id: str
    tier: Tier
    former_manager: str
    since: AwareDatetime = Field(description="the designated manager's departure")


class OrphanedClientsPublic(BaseModel):
    items: list[OrphanedClient]
    next_cursor: NextCursor


class FunnelStage(BaseModel):
    prospects: int
    converted: int
    dropped: int
    conversion_rate: float | None = Field(description="converted / prospects; null: none")


class FunnelPublic(FromTo):
    unit_id: str
    start: AwareDatetime = Field(alias="from")
    end: AwareDatetime = Field(alias="to")
    by_source: dict[Source, FunnelStage]


class Complaint(BaseModel):
    client_id: str
    staff_id: str = Field(description="who took the contact")
    designated_manager: str | None = Field(description="the client's manager at the time")
    occurred_at: AwareDatetime
    summary: str | None = Field(description="what was said; null once the client is erased")


class ComplaintsPublic(BaseModel):
    items: list[Complaint]
    by_manager: dict[str, int] = Field(description="complaints per designated manager")


class ManagerPortfolioPublic(FromTo):
    staff_id: str
    start: AwareDatetime = Field(alias="from")
    end: AwareDatetime = Field(alias="to")
    clients: TierCounts = Field(description="active clients held as designated manager at `to`")
    assets_change: Money
