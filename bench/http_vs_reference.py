"""The ledger's writes over HTTP against a naive reference app (bench/reference_app.py),
back to back under the same load generator, rounds alternating A/B.

    python -m bench.http_vs_reference [--seconds 15] [--rounds 3] [--clients 200]

8 connections (one thread each), each posting contacts on a random client of 200 with its
manager key; the ledger is `ledger serve` on SQLite (its projections in the serving process,
as API.md has it; `--projections-apart`: in a child process of the server), the
reference FastAPI + pydantic + one SQLite insert per request. Printed per run: writes/s,
client-side p50/p99, the serving process tree's CPU per write, and for the ledger the
server-side figures read from its /metrics (requests, mean, p99 bucket). Load average
before each run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.common import sqlite_url
from bench.http_writes import Run, Server, build_world, drive, over_http, server
from ledger.application import Ledger
from ledger.store import library_environment

CONTACTS = "/v1/clients/{client_id}/contacts"


@contextmanager
def reference_server() -> Iterator[Server]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from support.pg import free_port  # type: ignore[import-not-found]

    port = free_port()
    with tempfile.TemporaryDirectory(prefix="reference-") as folder:
        command = [sys.executable, "-m", "bench.reference_app", "--port", str(port)]
        command += ["--database", f"{folder}/reference.db"]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base_url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base_url}/v1/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            yield Server(base_url, [process.pid])
        finally:
            process.terminate()
            process.wait(timeout=20)


def server_figures(base_url: str) -> tuple[float, float, dict[float, float]]:
    """(requests, seconds summed, cumulative count by bucket bound) of 201 contact posts,
    from the ledger's /metrics (read over loopback)."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    count = total = 0.0
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "ledger_http_request_duration_seconds":
            continue
        for sample in family.samples:
            labels = sample.labels
            if labels.get("route") != CONTACTS or labels.get("status") != "201":
                continue
            if sample.name.endswith("_count"):
                count = sample.value
            elif sample.name.endswith("_sum"):
                total = sample.value
            elif sample.name.endswith("_bucket"):
                buckets[float(labels["le"])] = sample.value
    return count, total, buckets


def server_line(before: tuple, after: tuple) -> str:
    count = after[0] - before[0]
    if not count:
        return "  server (/metrics): no requests"
    mean = (after[1] - before[1]) / count * 1000
    p99 = next(
        bound
        for bound in sorted(after[2])
        if after[2][bound] - before[2].get(bound, 0) >= 0.99 * count
    )
    return (
        f"  server (/metrics): {count:.0f} contacts, mean {mean:.1f} ms, "
        f"p99 <= {p99 * 1000:.0f} ms (bucket)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument(
        "--statements",
        type=int,
        default=0,
        help="each client's daily asset statements, written before the rounds",
    )
    parser.add_argument(
        "--project-apart",
        action="store_true",
        help="serve --no-projections beside a `ledger project` process",
    )
    parser.add_argument(
        "--projections-apart",
        action="store_true",
        help="serve --projections-apart: the projections in a child process of the server",
    )
    args = parser.parse_args()
    with sqlite_url() as url:
        ledger = Ledger(library_environment(url))
        world = build_world(ledger, args.threads, args.clients, args.statements)
        ledger.close()
        with (
            server(url, 1, args.project_apart, apart=args.projections_apart) as led,
            reference_server() as ref,
        ):
            for number in range(1, args.rounds + 1):
                runs: list[tuple[str, Run]] = []
                for name, serving in (("reference", ref), ("ledger", led)):
                    load = os.getloadavg()[0]
                    before = server_figures(led.base_url)
                    call = over_http(serving.base_url, world, False, "manager", False)
                    result = drive(
                        f"{name} r{number} (load {load:.1f})",
                        args.threads,
                        args.seconds,
                        call,
                        serving.cpu_seconds,
                    )
                    print(result.line(), flush=True)
                    if name == "ledger":
                        print(server_line(before, server_figures(led.base_url)), flush=True)
                    runs.append((name, result))
                ratio = runs[1][1].rate / max(runs[0][1].rate, 1e-9)
                print(f"  round {number}: ledger/reference {ratio:.2f}", flush=True)


if __name__ == "__main__":
    main()
