"""What every route may answer: a problem (RFC 9457), a write's receipt, an import's count."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, Field


class FieldError(BaseModel):
    field: str
    message: str
    line: int | None = Field(default=None, description="the line of an imported file")


class Problem(BaseModel):
    """RFC 9457 problem details, served as application/problem+json."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None
    rule: str | None = Field(default=None, description="the domain rule a 409 violates")


class ImportPublic(BaseModel):
    """A name list written: how many rows, clients written, clients already held."""

    rows: int
    imported: int
    skipped: int
    events: int
    position: int = Field(description="the log's position after the import (for `after=`)")


class WritePublic(BaseModel):
    id: str = Field(description="the aggregate's business id (client, staff, unit or key id)")
    event_id: str
    type: str = Field(description="the event's past-tense name, e.g. TierChanged")
    version: int = Field(description="the aggregate's version after the write")
    position: int = Field(description="the event's place in the global log")
    recorded_at: AwareDatetime
    recorded_by: str
