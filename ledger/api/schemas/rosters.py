"""The roster read model's answers: clients of a unit's subtree, and its tier counts."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, Field

from ledger.api.schemas.types import NextCursor, Status, Tier


class TierCounts(BaseModel):
    standard: int
    gold: int
    platinum: int
    diamond: int


class RosterItem(BaseModel):
    client_id: str
    name: str | None = Field(description="null once the client's personal data is erased")
    unit_id: str
    tier: Tier
    status: Status
    designated_manager: str | None


class RosterPage(BaseModel):
    items: list[RosterItem]
    next_cursor: NextCursor


class RosterSummaryPublic(BaseModel):
    unit_id: str
    as_of: AwareDatetime
    known_at: AwareDatetime | None = Field(
        default=None, description="the recorded time the counts were read as of (null: now)"
    )
    counts: TierCounts = Field(description="active clients of the unit's subtree per tier")
    vip: int = Field(description="gold, platinum and diamond together")
