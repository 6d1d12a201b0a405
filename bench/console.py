"""Console pages at size: p50 and p95 server time of the client page, a branch roster and
the compliance queue over a demo ledger.

    python -m bench.console [--clients 20000] [--db var/bench-demo-20000.db] [--samples 100]

The ledger is the demo generator's (`ledger demo`, built once and reused), its projections
caught up before timing. The pages are asked of the app in process (Starlette's TestClient:
no socket, no uvicorn), signed in as the role that uses each page, so the time is the
server's: session, scope checks, reads, template. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr

from bench.queries import _clients_and_units, catch_up, ensure_demo
from ledger.api.app import create_app
from ledger.bootstrap import build
from ledger.config import Settings
from ledger.console.sources import Sources

TARGET_MS = 150
ADMIN_TOKEN = "bench-console-admin"


def p50_p95(latencies: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000


def measure(
    samples: int, path: Callable[[], str], browser: TestClient
) -> tuple[float, float, float, float]:
    """Wall p50, p95 and CPU p50, p95 (ms). The CPU is the process's (every thread: the
    page runs in the app's thread pool, and nothing else runs, the projections being
    caught up and not followed), which a loaded machine does not inflate as it does wall."""
    browser.get(path())  # warm: statement caches, templates compiled
    latencies, cpu = [], []
    for _ in range(samples):
        url = path()
        started, started_cpu = time.perf_counter(), time.process_time()
        answer = browser.get(url)
        latencies.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        assert answer.status_code == 200, (url, answer.status_code, answer.text[:300])
    return (*p50_p95(latencies), *p50_p95(cpu))


def sign_in(app: object, token: str) -> TestClient:
    browser = TestClient(app)  # type: ignore[arg-type]
    page = browser.get("/signin").text
    signin_token = re.search(r'name="signin_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    answer = browser.post(
        "/signin", data={"token": token, "signin_token": signin_token}, follow_redirects=False
    )
    assert answer.status_code == 303
    return browser


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20_000)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--only", default="", help="only the pages whose name holds this")
    args = parser.parse_args()
    db = args.db or Path(f"var/bench-demo-{args.clients}.db")
    db.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{db.resolve()}"
    ensure_demo(url, args.clients)
    container = build(Settings(database_url=url, admin_token=SecretStr(ADMIN_TOKEN)))
    try:
        projections = catch_up(container)
        units = Sources(container).units()
        sub_branches = [u["unit_id"] for u in units if u["kind"] == "sub_branch"]
        branch = next(u["unit_id"] for u in units if u["kind"] == "branch")
        clients = [client for client, _ in _clients_and_units(projections)]
        rng = random.Random(args.seed)
        year = time.gmtime().tm_year
        app = create_app(container, follow=False)
        admin = sign_in(app, ADMIN_TOKEN)
        # The manager's first page, for the manager holding the most clients (a key issued
        # for the run: one event appended to the reused demo).
        busiest = container.views.roster.query(
            "SELECT manager, COUNT(*) AS n FROM roster_intervals WHERE valid_to IS NULL "
            "AND status = 'active' AND manager IS NOT NULL GROUP BY manager "
            "ORDER BY n DESC, manager LIMIT 1"
        )[0]
        _, token = container.ledger.issue_api_key(
            role="manager", staff_id=busiest["manager"], label="bench", recorded_by="bench"
        )
        manager = sign_in(app, token)
        pages: dict[str, Callable[[], str]] = {
            "client page": lambda: f"/clients/{rng.choice(clients)}",
            "sub-branch roster (first 100 rows)": lambda: (
                f"/roster?unit_id={rng.choice(sub_branches)}"
            ),
            "branch roster (first 100 rows)": lambda: f"/roster?unit_id={branch}",
            "compliance queue, sub-branch": lambda: (
                f"/cases?unit_id={rng.choice(sub_branches)}&fiscal_year={year}"
            ),
            "compliance queue, branch": lambda: f"/cases?unit_id={branch}&fiscal_year={year}",
        }
        position = container.ledger.position
        print(f"{len(clients):,} clients, position {position:,}; {args.samples} samples each")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(
            "| page | wall p50 ms | wall p95 ms | CPU p50 ms | CPU p95 ms | target p95 ms |\n"
            "| --- | ---: | ---: | ---: | ---: | ---: |"
        )
        day = f"manager's day ({busiest['n']} clients held)"
        for name, path in [*pages.items(), (day, lambda: "/")]:
            if args.only not in name:
                continue
            p50, p95, cpu50, cpu95 = measure(args.samples, path, manager if name == day else admin)
            print(
                f"| {name} | {p50:.1f} | {p95:.1f} | {cpu50:.1f} | {cpu95:.1f} | {TARGET_MS} |",
                flush=True,
            )
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        container.close()


if __name__ == "__main__":
    main()
