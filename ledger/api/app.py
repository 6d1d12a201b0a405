"""The FastAPI app, built from a wired container."""

from __future__ import annotations

from typing import Literal

from fastapi import FastAPI
from pydantic import BaseModel

from ledger.bootstrap import Container


class HealthPublic(BaseModel):
    status: Literal["ok"]
    store: str
    position: int
    projections: dict[str, int]


def create_app(container: Container) -> FastAPI:
    app = FastAPI(title="Client relationship ledger", version="1")
    app.state.container = container

    @app.get("/v1/health", tags=["health"])
    def health() -> HealthPublic:
        return HealthPublic(
            status="ok",
            store=container.settings.store,
            position=container.ledger.position,
            projections={},
        )

    return app
