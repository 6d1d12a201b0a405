"""Builders shared by the projection tests: an organisation, clients written in bulk, and
a dump of every view's rows."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from ledger.application import Ledger
from ledger.domain import Client
from ledger.projections.base import SQLView

BY = "test"
LAST_YEAR = datetime.now(UTC).year - 1


def day(month: int, dom: int, year: int = LAST_YEAR) -> datetime:
    return datetime(year, month, dom, tzinfo=UTC)


def build_org(app: Ledger, since: datetime) -> None:
    """Branch B > department D > sub-branches S (outlets O1, O2) and S2 (outlet O3);
    managers M1..M3, heads H1 (O1) and H2."""
    for unit_id, kind, parent in (
        ("B", "branch", None),
        ("D", "department", "B"),
        ("S", "sub_branch", "D"),
        ("S2", "sub_branch", "D"),
        ("O1", "outlet", "S"),
        ("O2", "outlet", "S"),
        ("O3", "outlet", "S2"),
    ):
        app.create_unit(unit_id=unit_id, name=unit_id, kind=kind, parent_id=parent, recorded_by=BY)
    for staff_id, role in (
        ("M1", "client_manager"),
        ("M2", "client_manager"),
        ("M3", "client_manager"),
        ("H1", "outlet_director"),
        ("H2", "outlet_director"),
    ):
        app.join_staff(
            staff_id=staff_id,
            name=staff_id,
            unit_id="O1",
            role=role,
            effective_at=since,
            recorded_by=BY,
        )
    app.appoint_head(unit_id="O1", staff_id="H1", effective_at=since, recorded_by=BY)


def bulk_clients(
    app: Ledger,
    specs: Iterable[tuple[str, str, str, datetime]],
    *,
    per_save: int = 500,
) -> None:
    """Register (client_id, unit_id, tier, at) clients, many aggregates per transaction."""
    batch: list[Client] = []
    for client_id, unit_id, tier, at in specs:
        batch.append(
            Client.register(
                client_id=client_id,
                name=client_id,
                unit_id=unit_id,
                tier=tier,
                recorded_by=BY,
                effective_at=at,
            )
        )
        if len(batch) >= per_save:
            app.save(*batch)
            batch = []
    if batch:
        app.save(*batch)


def dump(views: dict[str, SQLView]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every view table, in a stable order."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    for view in views.values():
        for table in view.view_tables():
            found = view._query(f"SELECT * FROM {table}")
            rows[table] = sorted(tuple(str(v) for v in r.values()) for r in found)
    return rows
