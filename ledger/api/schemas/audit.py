"""The audit trail: the global log a page at a time, and who read which client."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, Field

from ledger.api.schemas.types import KeyRole, NextCursor


class AuditEventPublic(BaseModel):
    position: int
    event_id: str
    aggregate_id: str = Field(description="the business id (client, unit, staff, key id)")
    aggregate_type: str
    type: str
    version: int
    occurred_at: AwareDatetime = Field(description="the effective time")
    recorded_at: AwareDatetime
    recorded_by: str
    data: dict[str, Any]


class AuditEventsPage(BaseModel):
    items: list[AuditEventPublic]
    next_cursor: NextCursor


class ReadPublic(BaseModel):
    at: AwareDatetime
    principal: str
    role: KeyRole
    path: str
    client_id: str


class ReadsPage(BaseModel):
    items: list[ReadPublic]
    next_cursor: NextCursor
