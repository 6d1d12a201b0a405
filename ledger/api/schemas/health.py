"""`GET /v1/health`: the store, the read models' positions, their errors and warnings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class HealthPublic(BaseModel):
    status: Literal["ok", "degraded"]
    store: str
    position: int
    projections: dict[str, int]
    errors: dict[str, str] = Field(
        default_factory=dict,
        description="per read model stopped on an event: the position and the error "
        "(it is retried with backoff; `status` is then `degraded`, answered with 503)",
    )
    warnings: dict[str, str] = Field(
        default_factory=dict,
        description="`chain`: the first position the hash chain does not cover (a store "
        "from before the chain, until `ledger chain backfill`); `status` stays `ok`",
    )
