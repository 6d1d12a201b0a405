"""API keys: issuing one (its token shown once), and listing them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from ledger.api.schemas.answers import WritePublic
from ledger.api.schemas.types import Body, Identifier, KeyRole, Moment, Name


class ApiKeyCreate(Body):
    role: KeyRole
    staff_id: Identifier | None = Field(
        default=None, description="required for a manager: the staff member it acts as"
    )
    label: Name
    expires_at: Moment | None = Field(default=None, description="refused with 401 from then on")


class ApiKeyIssued(WritePublic):
    key_id: str
    token: str = Field(description="shown once; send it as `Authorization: Bearer <token>`")
    role: KeyRole
    staff_id: str | None
    label: str
    expires_at: datetime | None = None


class ApiKeyPublic(BaseModel):
    key_id: str
    role: KeyRole
    staff_id: str | None
    label: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(
        description="to the minute, the latest use any process recorded (kept across restarts)"
    )


class ApiKeysPublic(BaseModel):
    items: list[ApiKeyPublic]
