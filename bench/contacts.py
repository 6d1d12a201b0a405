"""Time 10,000 contacts on one client through the service, one command each, then a load.

    python -m bench.contacts [DATABASE_URL] [COUNT]

Prints figures; asserts nothing. DATABASE_URL defaults to a fresh temporary SQLite file.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta

from bench.common import sqlite_url
from ledger.application import Ledger
from ledger.domain import Client
from ledger.store import library_environment


def main(database_url: str, count: int) -> None:
    ledger = Ledger(library_environment(database_url))
    run = f"{time.time_ns():x}"
    units = [("branch", None), ("department", "branch"), ("sub_branch", "department")]
    for kind, parent in [*units, ("outlet", "sub_branch")]:
        ledger.create_unit(
            unit_id=f"{kind}-{run}",
            name=kind,
            kind=kind,
            parent_id=f"{parent}-{run}" if parent else None,
            recorded_by="bench",
        )
    start = datetime.now(UTC) - timedelta(days=400)
    staff_id, client_id = f"staff-{run}", f"client-{run}"
    ledger.join_staff(
        staff_id=staff_id,
        name="Bench",
        unit_id=f"outlet-{run}",
        role="client_manager",
        effective_at=start,
        recorded_by="bench",
    )
    ledger.register_client(
        client_id=client_id,
        name="Bench",
        unit_id=f"outlet-{run}",
        occurred_at=start,
        recorded_by="bench",
    )
    started = lap = time.perf_counter()
    for i in range(count):
        ledger.log_contact(
            client_id=client_id,
            channel="phone",
            staff_id=staff_id,
            occurred_at=start + timedelta(minutes=i + 1),
            recorded_by="bench",
        )
        if (i + 1) % 1000 == 0:
            now = time.perf_counter()
            print(f"{i + 1:>6} contacts  {now - started:6.1f} s  (last 1000: {now - lap:.1f} s)")
            lap = now
    total = time.perf_counter() - started
    print(
        f"{count} log_contact calls on {database_url.split(':')[0]}: {total:.1f} s "
        f"({total / count * 1000:.2f} ms each)"
    )
    loaded = time.perf_counter()
    state = ledger.get_client(client_id)
    print(f"get_client at version {state.version}: {(time.perf_counter() - loaded) * 1000:.1f} ms")
    replayed = time.perf_counter()
    events = sum(1 for _ in ledger.events.get(Client.id_for(client_id)))
    print(
        f"reading all {events} events (a replay without snapshot): "
        f"{(time.perf_counter() - replayed) * 1000:.0f} ms"
    )
    ledger.close()


if __name__ == "__main__":
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    if len(sys.argv) > 1 and sys.argv[1]:
        main(sys.argv[1], count)
    else:
        with sqlite_url() as url:  # a temporary store, removed afterwards
            main(url, count)
