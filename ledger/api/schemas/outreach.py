"""Before and around the clients: prospects (found, converted, dropped) and campaigns."""

from __future__ import annotations

from pydantic import Field

from ledger.api.schemas.types import Body, Channel, Identifier, Moment, Name, Source, Text, Tier
from ledger.domain.campaign import MAX_ATTENDEES


class ProspectCreate(Body):
    prospect_id: Identifier
    name: Name
    unit_id: Identifier = Field(description="the outlet the prospect would be a client of")
    source: Source
    owner_staff_id: Identifier
    occurred_at: Moment | None = Field(default=None, description="defaults to now")


class ProspectConversion(Body):
    client_id: Identifier
    tier: Tier = "standard"
    occurred_at: Moment | None = Field(default=None, description="defaults to now")


class ProspectDrop(Body):
    reason: Text
    effective_at: Moment | None = Field(default=None, description="defaults to now")


class CampaignCreate(Body):
    campaign_id: Identifier
    name: Name
    channel: Channel
    staff_id: Identifier = Field(description="the staff member who ran it")
    occurred_at: Moment | None = Field(default=None, description="defaults to now")
    client_ids: list[Identifier] = Field(
        min_length=1, max_length=MAX_ATTENDEES, description="the attending clients"
    )
