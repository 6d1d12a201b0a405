"""Reads waiting with `after=` against writes, on a real `ledger serve` (API.md 1.1, "Health
and waiting": with 100 waiting reads, a write still answers within 200 ms).

    python -m bench.waiting_reads [--waiting 100] [--writes 20]

The server runs with `--no-projections` and no `ledger project`: its read models never catch
up, so every read with `after=<the log's end>` waits its full 5 s. While `--waiting` of them
wait, `--writes` units are created one after another; prints their latency (p50, max), how
long the waiting reads took, and how fast a read beyond the end of the log is answered.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

ADMIN = {"Authorization": "Bearer bench-admin-token"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=100)
    parser.add_argument("--writes", type=int, default=20)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as folder:
        port = free_port()
        env = {
            **os.environ,
            "LEDGER_DATABASE_URL": f"sqlite:///{Path(folder) / 'ledger.db'}",
            "LEDGER_ADMIN_TOKEN": ADMIN["Authorization"].split()[1],
        }
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ledger.cli",
                "serve",
                "--port",
                str(port),
                "--no-projections",
                "--no-access-log",
            ],
            env=env,
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            asyncio.run(run(f"http://127.0.0.1:{port}", options.waiting, options.writes))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=20)


async def run(url: str, waiting: int, writes: int) -> None:
    limits = httpx.Limits(max_connections=waiting + 10)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        for _ in range(300):
            try:
                if (await client.get("/v1/health")).status_code == 200:
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.1)
        await create_unit(client)
        end = (await client.get("/v1/health")).json()["position"]
        await client.get("/v1/rosters", params={"unit_id": "U"}, headers=ADMIN)  # warm up
        started = time.perf_counter()
        beyond = await client.get(
            "/v1/rosters", params={"unit_id": "U", "after": end + 10**6}, headers=ADMIN
        )
        beyond_ms = (time.perf_counter() - started) * 1000
        params = {"unit_id": "U", "after": end}
        started = time.perf_counter()
        reads = [
            asyncio.create_task(client.get("/v1/rosters", params=params, headers=ADMIN))
            for _ in range(waiting)
        ]
        await asyncio.sleep(1.0)  # every read is in and waiting
        latencies = []
        for _ in range(writes):
            took = time.perf_counter()
            await create_unit(client)
            latencies.append((time.perf_counter() - took) * 1000)
        pending = sum(not read.done() for read in reads)
        answers = await asyncio.gather(*reads)
        waited = time.perf_counter() - started
    statuses = sorted({answer.status_code for answer in answers})
    print(f"read beyond the log's end: {beyond.status_code} in {beyond_ms:.1f} ms")
    print(
        f"{waiting} reads waiting (statuses {statuses}, all done after {waited:.1f} s); "
        f"{pending} still waiting after the writes"
    )
    print(
        f"{writes} writes meanwhile: p50 {statistics.median(latencies):.1f} ms, "
        f"max {max(latencies):.1f} ms"
    )


async def create_unit(client: httpx.AsyncClient) -> None:
    body = {"unit_id": f"U{uuid.uuid4().hex[:10]}", "name": "bench", "kind": "branch"}
    answer = await client.post("/v1/units", json=body, headers=ADMIN)
    answer.raise_for_status()


if __name__ == "__main__":
    main()
