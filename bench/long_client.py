"""A long-lived client: load a client with 10,000 contacts, with and without snapshots.

python -m bench.long_client [--contacts 10000] [--store sqlite|postgres|both]
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from time import process_time, sleep
from urllib.parse import quote

from bench.common import best_of, postgres_url, sqlite_url, timed
from ledger.application import Ledger
from ledger.domain import Client, Staff, Unit
from ledger.store import library_environment

BATCH = 500


class LedgerWithoutSnapshots(Ledger):
    """The same store read by replaying every event, as a ledger without snapshots would."""

    name = "Ledger"  # the same tables: PostgreSQL names them after the application
    snapshotting_intervals = {}


def fill(ledger: Ledger, contacts: int) -> str:
    start = datetime.now(UTC) - timedelta(days=3650)
    branch = Unit.create(
        unit_id="B",
        name="Branch",
        kind="branch",
        parent=None,
        recorded_by="bench",
        effective_at=start,
    )
    ledger.save(branch)
    staff = Staff.join(
        staff_id="M",
        name="Manager",
        unit_id="B",
        role="client_manager",
        recorded_by="bench",
        effective_at=start,
    )
    ledger.save(staff)
    client = Client.register(
        client_id="LONG",
        name="Long-lived",
        unit_id="B",
        tier="diamond",
        recorded_by="bench",
        effective_at=start,
    )
    ledger.save(client)
    for done in range(0, contacts, BATCH):
        client = ledger.repository.get(client.id)
        for n in range(done, min(done + BATCH, contacts)):
            client.log_contact(
                channel="phone",
                staff_id="M",
                purpose="review",
                summary=f"call {n}",
                recorded_by="bench",
                effective_at=start + timedelta(minutes=n + 1),
            )
        ledger.save(client)
    return "LONG"


def run(store: str, url: str, contacts: int) -> None:
    env = library_environment(url)
    with_snapshots = Ledger(env)
    _, fill_seconds = timed(lambda: fill(with_snapshots, contacts))
    without = LedgerWithoutSnapshots({**env, "IS_SNAPSHOTTING_ENABLED": "n"})
    client_uuid = Client.id_for("LONG")
    assert with_snapshots.repository.get(client_uuid).version == contacts + 1
    snap = best_of(5, lambda: with_snapshots.repository.get(client_uuid))
    replay = best_of(3, lambda: without.repository.get(client_uuid))
    state = best_of(5, lambda: with_snapshots.get_client("LONG"))
    print(
        f"{store:<9} contacts={contacts} fill={fill_seconds:.1f}s  "
        f"load with snapshots={snap * 1000:.1f} ms  replay without={replay * 1000:.1f} ms  "
        f"ratio={replay / snap:.1f}x  get_client={state * 1000:.1f} ms"
    )
    _over_http(url, contacts)
    with_snapshots.close()
    without.close()


def _over_http(url: str, contacts: int) -> None:
    """The long client's reads over HTTP (in process): CPU per request, best of 5; a
    history page first and from the middle (issue 17)."""
    from fastapi.testclient import TestClient

    from ledger.api.app import create_app
    from ledger.bootstrap import build
    from ledger.config import Settings

    token = "bench-" + "t" * 32
    # The contacts are a minute apart from ten years ago (`fill`): a year ago is after
    # every one (the kept latest answers), mid-way half are later (the times are scanned).
    year_ago = quote((datetime.now(UTC) - timedelta(days=365)).isoformat())
    now = datetime.now(UTC).isoformat()
    start = datetime.now(UTC) - timedelta(days=3650)
    mid_way = quote((start + timedelta(minutes=contacts // 2)).isoformat())
    container = build(Settings(database_url=url, admin_token=token))
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(container)) as api:
        # The read models catch up on the fill first: their CPU is not the reads'.
        while True:
            health = api.get("/v1/health").json()
            if min(health["projections"].values()) >= health["position"]:
                break
            sleep(0.2)
        middle = str(contacts // 2)
        for name, path in (
            ("client", "/v1/clients/LONG"),
            ("client as of a year ago", f"/v1/clients/LONG?as_of={year_ago}"),
            ("client as of mid-way", f"/v1/clients/LONG?as_of={mid_way}"),
            ("client known at now", f"/v1/clients/LONG?known_at={quote(now)}"),
            ("history", "/v1/clients/LONG/history"),
            ("history page 100, first", "/v1/clients/LONG/history?limit=100"),
            ("history page 100, mid", f"/v1/clients/LONG/history?limit=100&cursor={middle}"),
            ("history page 1000, mid", f"/v1/clients/LONG/history?limit=1000&cursor={middle}"),
            ("intervals", "/v1/accountability/clients/LONG"),
        ):
            answer = api.get(path, headers=headers)
            if answer.status_code != 200:  # a ledger before history pages (issue 17)
                print(f"  GET {name:<24} answered {answer.status_code}")
                continue
            cpu = []
            for _ in range(5):
                started = process_time()
                api.get(path, headers=headers)
                cpu.append(process_time() - started)
            print(f"  GET {name:<24} {min(cpu) * 1000:8.1f} ms CPU  {len(answer.content):,} bytes")
    container.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    args = parser.parse_args()
    if args.store in ("sqlite", "both"):
        with sqlite_url() as url:
            run("sqlite", url, args.contacts)
    if args.store in ("postgres", "both"):
        with postgres_url() as url:
            run("postgres", url, args.contacts)


if __name__ == "__main__":
    main()
