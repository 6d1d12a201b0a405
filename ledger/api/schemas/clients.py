"""A client's life: registration, profile, assets, tier, team, contacts, churn, history."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, Field, StrictBool, StrictInt

from ledger.api.schemas.types import (
    FREE_TEXT,
    ONE_LINE,
    Amount,
    Body,
    Channel,
    ChurnKind,
    Day,
    FreeText,
    Identifier,
    Moment,
    Money,
    Name,
    NextCursor,
    OneLine,
    OptionalText,
    RiskAppetite,
    Source,
    Status,
    TeamRole,
    Text,
    Tier,
)


class ClientCreate(Body):
    client_id: Identifier
    name: Name
    unit_id: Identifier = Field(description="the client's home unit, an outlet")
    tier: Tier = "standard"
    occurred_at: Moment | None = Field(default=None, description="defaults to now")
    source: Source | None = None
    referred_by: Identifier | None = Field(default=None, description="a referring client id")


class Acknowledgement(Body):
    """Empty: the assignment is in the path and the assignee is the caller."""


KeyInformation = Annotated[str, Field(max_length=500, description=ONE_LINE), OneLine] | None
ProfileNote = Annotated[str, Field(max_length=500, description=FREE_TEXT), FreeText] | None


class ClientProfileUpdate(Body):
    """Only the fields sent change; `null` clears a field."""

    address: KeyInformation = None
    phone: KeyInformation = None
    employer: KeyInformation = None
    risk_appetite: RiskAppetite | None = None
    business_interests: ProfileNote = None
    product_horizon: ProfileNote = None
    personality: ProfileNote = None
    hobbies: ProfileNote = None
    specialties: ProfileNote = None
    effective_at: Moment | None = Field(default=None, description="defaults to now")


class AssetsReport(Body):
    amount: Amount
    as_of: Day


class TierChange(Body):
    tier: Tier
    reason: Text
    effective_at: Moment


class Assignment(Body):
    staff_id: Identifier
    role: TeamRole = "client_manager"
    reason: Text
    effective_at: Moment


class ContactCreate(Body):
    channel: Channel
    staff_id: Identifier
    occurred_at: Moment
    purpose: Annotated[str, Field(max_length=500, description=FREE_TEXT), FreeText] | None = None
    summary: OptionalText | None = None
    satisfaction: (
        Annotated[
            StrictInt, Field(ge=1, le=5, description="the client's satisfaction, 1 (poor) to 5")
        ]
        | None
    ) = None
    complaint: Annotated[StrictBool, Field(description="the client complained")] = False


class ChurnCreate(Body):
    kind: ChurnKind
    reason: Text
    effective_at: Moment


class Reactivation(Body):
    reason: Text
    effective_at: Moment


class Retraction(Body):
    event_id: Annotated[str, Field(min_length=1, max_length=64), OneLine]
    reason: Text


class AssetsPublic(BaseModel):
    amount: Money
    as_of: date


class ClientPublic(BaseModel):
    client_id: str
    name: str | None = Field(description="null once erased, as every personal field")
    unit_id: str
    tier: Tier
    status: Status
    designated_manager: str | None
    team: dict[str, str] = Field(description="team role -> staff id")
    profile: dict[str, str] | None
    assets: AssetsPublic | None
    last_contact_at: AwareDatetime | None
    version: int
    source: str | None = None
    referred_by: str | None = None
    erased: bool = Field(default=False, description="the client's personal data was erased")


class HistoryEventPublic(BaseModel):
    event_id: str
    type: str
    version: int
    position: int | None
    occurred_at: AwareDatetime
    recorded_at: AwareDatetime
    recorded_by: str
    data: dict[str, Any]
    retracted_by: str | None


class ClientHistoryPublic(BaseModel):
    client_id: str
    events: list[HistoryEventPublic]
    # Asked without `limit` and `cursor`, the whole history: one page, the last.
    next_cursor: NextCursor = None
