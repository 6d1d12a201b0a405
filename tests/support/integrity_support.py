"""Helpers for the integrity tests: a ledger with a known number of events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from ledger.application import Ledger


def rid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def populate(ledger: Ledger, clients: int) -> list[str]:
    """An outlet in a branch (3 events) and `clients` registered clients (1 event each)."""
    branch, outlet = rid("B"), rid("O")
    ledger.create_unit(unit_id=branch, name="Branch", kind="branch", parent_id=None,
                       recorded_by="admin")  # fmt: skip
    ledger.create_unit(unit_id=outlet, name="Outlet", kind="outlet", parent_id=branch,
                       recorded_by="admin")  # fmt: skip
    return [register(ledger, outlet) for _ in range(clients)]


def register(ledger: Ledger, outlet: str) -> str:
    client_id = rid("C")
    ledger.register_client(
        client_id=client_id,
        name="A Client",
        unit_id=outlet,
        occurred_at=datetime.now(UTC) - timedelta(days=1),
        recorded_by="admin",
    )
    return client_id


def outlet_of(ledger: Ledger, client_id: str) -> str:
    return ledger.client_unit(client_id)
