"""Queries at size: p50 and p99 of the read models' queries over a large demo ledger.

    python -m bench.queries [--clients 100000] [--db var/bench-demo-100000.db]
                            [--store sqlite|postgres|both] [--samples 300]

The SQLite store is the demo generator's ledger (`ledger demo`, built once and reused; the
generator writes through the application service, so it takes a while), its projections
caught up before timing. PostgreSQL gets a copy of the same stored events (the rows as
stored, in order, the hash chain recomputed on insert), then its own catch-up.

Each query runs `--samples` times with random parameters drawn from the data. Beside each,
its reference: the same answer from the event-sourced aggregates where the application can
give it (responsible-at from `get_client(as_of=)`, the roster summary from every client of
the outlet), and the query over HTTP when the API serves it. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import postgres_url
from ledger.bootstrap import Container, build
from ledger.config import Settings

COPY_BATCH = 5000
TARGETS_MS = {
    "roster summary": 20,
    "responsible-at": 20,
    "roster page": 50,
    "churn cases": 50,
    "tier growth": 50,
}


def percentiles(latencies: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


def measure(samples: int, call: Callable[[], object]) -> tuple[float, float]:
    call()  # warm: the first call opens connections and fills statement caches
    latencies = []
    for _ in range(samples):
        started = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - started)
    return percentiles(latencies)


def ensure_demo(url: str, clients: int) -> None:
    from ledger.demo import load_demo

    container = build(Settings(database_url=url))
    try:
        if container.ledger.position:
            return
        print(f"building the demo ledger at {clients} clients (once; reused after)", flush=True)
        stats = load_demo(
            container.ledger,
            clients=clients,
            progress=lambda s: (
                print(f"  {s.clients} clients, {s.events} events, {s.seconds:.0f}s")
                if s.clients % 10_000 == 0
                else None
            ),
        )
        print(f"  {stats.events} events in {stats.seconds:.0f}s", flush=True)
    finally:
        container.close()


def copy_events(source_url: str, target_url: str) -> int:
    """The stored events of one store inserted into another, in log order."""
    source = build(Settings(database_url=source_url))
    target = build(Settings(database_url=target_url))
    try:
        recorder = source.ledger.recorder
        copied, after = 0, 0
        while True:
            notifications = recorder.select_notifications(start=after + 1, limit=COPY_BATCH)
            if not notifications:
                return copied
            target.ledger.recorder.insert_events(notifications)  # notifications are stored events
            copied += len(notifications)
            after = notifications[-1].id
    finally:
        source.close()
        target.close()


def catch_up(container: Container) -> Any:
    projections = container.start_projections(follow=False)
    started = time.perf_counter()
    before = projections.positions()
    end = projections.catch_up()
    seconds = time.perf_counter() - started
    done = end - min(before.values() or [0])
    if done > 0:
        print(f"  caught up {done:,} events in {seconds:.0f}s ({done / seconds:,.0f} events/s)")
    return projections


def parameters(container: Container, projections: Any, seed: int) -> dict[str, Any]:
    """Units, clients and moments to ask about, drawn from the data."""
    rows = _clients_and_units(projections)
    rng = random.Random(seed)
    outlets = sorted({unit for _, unit in rows})
    units = [*outlets, *_ancestors(container, outlets)]
    clients = [client for client, _ in rows]
    now = datetime.now(UTC)
    return {
        "rng": rng,
        "outlets": outlets,
        "units": units,
        "clients": clients,
        "by_outlet": Counter(unit for _, unit in rows),
        "rows": rows,
        "now": now,
        "year": now.year,
    }


def _clients_and_units(projections: Any) -> list[tuple[str, str]]:
    view = projections.views["roster"]
    with view.read_transaction() as c:  # a benchmark may read the view's table directly
        c.execute(f"SELECT client_id, unit_id FROM {view.view_name}_clients")
        return [(row["client_id"], row["unit_id"]) for row in c.fetchall()]


def _ancestors(container: Container, outlets: list[str]) -> list[str]:
    found: set[str] = set()
    for outlet in outlets:
        found.update(container.ledger.unit_ancestry(outlet)[1:])
    return sorted(found)


def run(label: str, url: str, samples: int, http: bool) -> None:
    container = build(Settings(database_url=url))
    try:
        projections = catch_up(container)
        p = parameters(container, projections, seed=7)
        rng, now = p["rng"], p["now"]
        year_start = datetime(p["year"], 1, 1, tzinfo=UTC)

        def some_moment() -> datetime:
            return now - timedelta(seconds=rng.uniform(0, 365 * 86400))

        queries: dict[str, Callable[[], object]] = {
            "roster summary": lambda: container.views.roster.roster_summary(
                rng.choice(p["outlets"])
            ),
            "roster page": lambda: container.views.roster.roster(
                rng.choice(p["outlets"]), limit=50
            ),
            "responsible-at": lambda: container.views.accountability.responsible(
                rng.choice(p["clients"]), some_moment()
            ),
            "churn cases": lambda: container.views.accountability.churn_cases(
                unit_id=rng.choice(p["units"]), fiscal_year=p["year"]
            ),
            "tier growth": lambda: container.views.roster.tier_growth(
                rng.choice(p["units"]), year_start, now
            ),
        }
        references: dict[str, tuple[str, int, Callable[[], object]]] = {
            "responsible-at": (
                "get_client(as_of=) on the aggregate",
                samples,
                lambda: container.ledger.get_client(rng.choice(p["clients"]), as_of=some_moment()),
            ),
            "roster summary": (
                "every client of an outlet folded from its aggregate",
                3,
                lambda: _summary_from_aggregates(container, p, rng.choice(p["outlets"])),
            ),
        }
        print(
            f"{label}: {len(p['clients']):,} clients in {len(p['outlets'])} outlets "
            f"(~{len(p['clients']) // max(len(p['outlets']), 1):,} each), log position "
            f"{container.ledger.position:,}; {samples} samples each",
            flush=True,
        )
        for name, call in queries.items():
            p50, p99 = measure(samples, call)
            target = TARGETS_MS[name]
            verdict = "meets" if p99 < target else "MISSES"
            line = (
                f"  {name:<15} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  ({verdict} p99 < {target} ms)"
            )
            if name in references:
                what, count, reference = references[name]
                r50, r99 = measure(count, reference)
                line += f"\n  {'':<15} reference ({what}, {count} samples): p50 {r50:8.2f} ms"
                line += f"  p99 {r99:8.2f} ms  ratio p50 {r50 / max(p50, 1e-9):,.0f}x"
            print(line, flush=True)
        if http:
            _over_http(url, p, samples)
    finally:
        container.close()


def _summary_from_aggregates(container: Container, p: dict[str, Any], outlet: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for client_id, unit_id in p["rows"]:
        if unit_id == outlet:
            state = container.ledger.get_client(client_id)
            if state.status == "active":
                counts[state.tier] += 1
    return counts


def _over_http(url: str, p: dict[str, Any], samples: int) -> None:
    """The same queries through `ledger serve`, when the API has their routes."""
    import httpx

    from bench.http_writes import ADMIN_TOKEN, server

    rng, now = p["rng"], p["now"]
    paths: dict[str, Callable[[], tuple[str, dict[str, Any]]]] = {
        "roster summary": lambda: ("/v1/rosters/summary", {"unit_id": rng.choice(p["outlets"])}),
        "roster page": lambda: ("/v1/rosters", {"unit_id": rng.choice(p["outlets"]), "limit": 50}),
        "responsible-at": lambda: (
            "/v1/accountability/responsible",
            {
                "client_id": rng.choice(p["clients"]),
                "at": (now - timedelta(seconds=rng.uniform(0, 365 * 86400))).isoformat(),
            },
        ),
        "churn cases": lambda: (
            "/v1/accountability/churn-cases",
            {"unit_id": rng.choice(p["units"]), "fiscal_year": p["year"]},
        ),
        "tier growth": lambda: (
            "/v1/reports/tier-growth",
            {
                "unit_id": rng.choice(p["units"]),
                "from": datetime(p["year"], 1, 1, tzinfo=UTC).isoformat(),
                "to": now.isoformat(),
            },
        ),
    }
    with server(url, workers=1, projector=False) as serving:
        client = httpx.Client(
            base_url=serving.base_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        print("  over HTTP (ledger serve, one client at a time):")
        for name, make in paths.items():
            path, params = make()
            if client.get(path, params=params).status_code == 404 and not _route_exists(
                client, path
            ):
                print(f"  {name:<15} (no route {path} yet)")
                continue
            statuses: Counter[int] = Counter()

            def call(
                make: Callable[[], tuple[str, dict[str, Any]]] = make,
                statuses: Counter[int] = statuses,
            ) -> None:
                path, params = make()
                statuses[client.get(path, params=params).status_code] += 1

            p50, p99 = measure(samples, call)
            print(f"  {name:<15} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  statuses {dict(statuses)}")


def _route_exists(client: Any, path: str) -> bool:
    paths = client.get("/openapi.json").json().get("paths", {})
    return path in paths


@contextmanager
def sqlite_store(db: Path) -> Iterator[str]:
    db.parent.mkdir(parents=True, exist_ok=True)
    yield f"sqlite:///{db.resolve()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=100_000)
    parser.add_argument("--db", type=Path, help="the demo SQLite file (default under var/)")
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--no-http", action="store_true", help="skip the queries over HTTP")
    args = parser.parse_args()
    db = args.db or Path("var") / f"bench-demo-{args.clients}.db"
    with sqlite_store(db) as url:
        ensure_demo(url, args.clients)
        if args.store in ("sqlite", "both"):
            run("sqlite", url, args.samples, http=not args.no_http)
        if args.store in ("postgres", "both"):
            with postgres_url() as pg:
                started = time.perf_counter()
                copied = copy_events(url, pg)
                print(
                    f"postgres: copied {copied:,} stored events in "
                    f"{time.perf_counter() - started:.0f}s",
                    flush=True,
                )
                run("postgres", pg, args.samples, http=not args.no_http)


if __name__ == "__main__":
    main()
