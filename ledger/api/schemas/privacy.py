"""Erasing a churned client's personal data, and the clients that may be erased."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel

from ledger.api.schemas.types import Body, Text


class ErasureCreate(Body):
    reason: Text
    legal_basis: Text


class ErasableClient(BaseModel):
    client_id: str
    churned_at: AwareDatetime
    retained_until: AwareDatetime


class ErasablePublic(BaseModel):
    unit_id: str
    items: list[ErasableClient]
