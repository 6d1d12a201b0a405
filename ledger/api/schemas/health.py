"""`GET /v1/health`: the store, the read models' positions, their errors and warnings."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ProjectorPublic(BaseModel):
    """The child process `ledger serve` runs the projections in (ledger.projections.projector)."""

    pid: int | None = Field(description="its process id; null while it is down")
    restarts: int = Field(description="how often it was started again after exiting")
    last_exit: str | None = Field(description="how it last exited, if it ever did")


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
    projector: ProjectorPublic | None = Field(
        default=None,
        description="when the projections run in a child process of the server: that "
        "process (while it is down, `errors.projector` says so and `status` is `degraded`)",
    )
