"""The whole demo: its year, its plan, and loading it through the application service
(the organisation one command at a time, the clients in bulk, then the campaigns)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ledger.application import Ledger
from ledger.application.batch_process import WRITER_SEALS
from ledger.demo.clients import LOCAL, Step, plan_client
from ledger.demo.organisation import Org, plan_org

RECORDED_BY = "demo"
# Guests of one outlet's client day (a campaign names at most 1,000).
CAMPAIGN_SIZE = 60
# Clients gathered in memory between two bulk writes.
CLIENTS_PER_WRITE = 1000
# From this many clients their events are sealed and written by a process of their own
# while the next clients' commands run (ledger.application.batch_process).
PIPELINED_CLIENTS = 2000


@dataclass
class DemoStats:
    units: int = 0
    staff: int = 0
    clients: int = 0
    commands: int = 0
    events: int = 0
    churns: int = 0
    seconds: float = 0.0
    by_type: dict[str, int] = field(default_factory=dict)


def demo_window(end: date | None) -> tuple[datetime, datetime]:
    end_at = datetime.combine(end or datetime.now(UTC).date(), datetime.min.time(), tzinfo=UTC)
    return end_at - timedelta(days=365), end_at


def plan_demo(
    *, seed: int = 7, clients: int = 20_000, end: date | None = None
) -> tuple[Org, Iterator[list[Step]]]:
    start, end_at = demo_window(end)
    rng = random.Random(seed)
    org = plan_org(rng, start)
    return org, (plan_client(rng, org, i, start, end_at) for i in range(clients))


def load_demo(
    ledger: Ledger,
    *,
    seed: int = 7,
    clients: int = 20_000,
    end: date | None = None,
    progress: Callable[[DemoStats], None] | None = None,
) -> DemoStats:
    started = time.perf_counter()
    start, _ = demo_window(end)
    org, plans = plan_demo(seed=seed, clients=clients, end=end)
    stats = DemoStats()
    first_position = ledger.position

    # The latest designated-manager assignment of each client, for its acknowledgement.
    assignments: dict[str, str] = {}
    # Per outlet, the VIP clients that never churn and when they were registered: the
    # guests of its client day.
    guests: dict[str, list[tuple[datetime, str]]] = {}

    def write(method: str, **fields: Any) -> None:
        if method == "acknowledge_assignment":
            fields.update(event_id=assignments[fields["client_id"]], acting_staff_id=None)
        result = getattr(ledger, method)(**fields, recorded_by=RECORDED_BY)
        if method == "assign" and fields.get("role") == "client_manager":
            assignments[fields["client_id"]] = result.event_id
        stats.commands += 1
        stats.by_type[result.type] = stats.by_type.get(result.type, 0) + 1

    founded = start - timedelta(days=30)
    for unit_id, name, kind, parent in org.units:
        write("create_unit", unit_id=unit_id, name=name, kind=kind, parent_id=parent)
        stats.units += 1
    for staff_id, name, unit_id, role in org.staff:
        write(
            "join_staff",
            staff_id=staff_id,
            name=name,
            unit_id=unit_id,
            role=role,
            effective_at=founded,
        )
        stats.staff += 1
    for unit_id, staff_id in org.heads.items():
        write("appoint_head", unit_id=unit_id, staff_id=staff_id, effective_at=founded)
    for staff_id, left in sorted(org.departures.items()):
        write("depart_staff", staff_id=staff_id, reason="resigned", effective_at=left)
    # The clients go through the bulk path: the same use cases, written many clients per
    # transaction (613 s for 100,000 clients one command at a time).
    writer = WRITER_SEALS if clients >= PIPELINED_CLIENTS else None
    with ledger.batched(writer=writer) as batch:
        for steps in plans:
            for _, method, fields in steps:
                write(method, **fields)
                stats.churns += method == "churn"
            _note_guest(steps, guests)
            stats.clients += 1
            if stats.clients % CLIENTS_PER_WRITE == 0:
                batch.write(wait=False)  # written by the batch's own process meanwhile
            if progress is not None and stats.clients % 1000 == 0:
                stats.events = ledger.position - first_position
                stats.seconds = time.perf_counter() - started
                progress(stats)
        batch.write()
    # A campaign is saved with the clients it names, so after the batch: one command each.
    _, end_at = demo_window(end)
    day = (end_at - timedelta(days=45)).astimezone(LOCAL).replace(hour=15, minute=0)
    for outlet, invited in sorted(guests.items()):
        attending = [client for registered, client in invited if registered < day][:CAMPAIGN_SIZE]
        if attending:
            write(
                "hold_campaign",
                campaign_id=f"K-{outlet}",
                name="Mid-autumn client day",
                channel="event",
                staff_id=org.heads[outlet],
                client_ids=attending,
                occurred_at=day,
            )
    stats.events = ledger.position - first_position
    stats.seconds = time.perf_counter() - started
    return stats


def _note_guest(steps: list[Step], guests: dict[str, list[tuple[datetime, str]]]) -> None:
    """A VIP client registered in the plan and never churned is a guest of its outlet's
    client day."""
    first = next(
        fields for _, method, fields in steps if "tier" in fields and "client_id" in fields
    )
    if any(method == "churn" for _, method, _ in steps) or first.get("tier") == "standard":
        return
    unit = first.get("unit_id") or next(
        fields["unit_id"] for _, method, fields in steps if method == "record_prospect"
    )
    guests.setdefault(unit, []).append((first["occurred_at"], first["client_id"]))
