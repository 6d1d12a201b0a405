"""A long-lived client: load a client with 10,000 contacts, with and without snapshots.

python -m bench.long_client [--contacts 10000] [--store sqlite|postgres|both] [--served N]

With `--served N`, its history is also asked N times a page (a quarter as often whole)
through `ledger serve`: wall p50 / p99 and the server's CPU per request.
"""

from __future__ import annotations

import argparse
import gc
from datetime import UTC, datetime, timedelta
from time import perf_counter, process_time, sleep
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


def run(store: str, url: str, contacts: int, served: int = 0) -> None:
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
    if served:
        _served(url, contacts, served)


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


def _served(url: str, contacts: int, samples: int) -> None:
    """The history through `ledger serve` (issue 17): a page of 100 and of 1,000 from the
    middle, and the whole; this process collects no garbage while it times."""
    import httpx

    from bench.http_writes import ADMIN_TOKEN, server
    from bench.queries import percentiles

    middle = str(contacts // 2)
    asked = (
        ("history page 100, mid", {"limit": 100, "cursor": middle}, samples),
        ("history page 1000, mid", {"limit": 1000, "cursor": middle}, samples),
        ("history", {}, max(5, samples // 4)),
    )
    with server(url, workers=1, projector=False) as serving:
        client = httpx.Client(
            base_url=serving.base_url,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=60,
        )
        for name, params, times in asked:
            for _ in range(3):
                client.get("/v1/clients/LONG/history", params=params)
            latencies = []
            gc.collect()
            gc.disable()
            cpu = serving.cpu_seconds()
            try:
                for _ in range(times):
                    started = perf_counter()
                    answer = client.get("/v1/clients/LONG/history", params=params)
                    latencies.append(perf_counter() - started)
                    assert answer.status_code == 200, answer.text
            finally:
                gc.enable()
            cpu_ms = (serving.cpu_seconds() - cpu) / times * 1000
            p50, p99 = percentiles(latencies)
            print(
                f"  served {name:<24} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  "
                f"server CPU {cpu_ms:6.2f} ms/request  ({times} samples)",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--served", type=int, default=0, help="samples through ledger serve")
    args = parser.parse_args()
    if args.store in ("sqlite", "both"):
        with sqlite_url() as url:
            run("sqlite", url, args.contacts, args.served)
    if args.store in ("postgres", "both"):
        with postgres_url() as url:
            run("postgres", url, args.contacts, args.served)


if __name__ == "__main__":
    main()
