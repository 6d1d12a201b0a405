"""The console: server-rendered pages for managers, auditors and compliance, served by
`ledger serve` at `/` beside the API (see README, "The console")."""

from __future__ import annotations

from fastapi import APIRouter

from ledger.console.pages import audit, audit_log, clients, compliance, home, maintenance, reports

router = APIRouter(include_in_schema=False)
# The new pages' paths come before the catch-alls (`/clients/{id}/{action}`, `/reports/{name}`).
for _module in (home, maintenance, audit_log, clients, audit, compliance, reports):
    router.include_router(_module.router)

__all__ = ["router"]
