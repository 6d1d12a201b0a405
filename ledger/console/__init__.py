"""The console: server-rendered pages for managers, auditors and compliance, served by
`ledger serve` at `/` beside the API (see README, "The console")."""

from __future__ import annotations

from fastapi import APIRouter

from ledger.console.pages import audit, clients, compliance, home, reports

router = APIRouter(include_in_schema=False)
for _module in (home, clients, audit, compliance, reports):
    router.include_router(_module.router)

__all__ = ["router"]
