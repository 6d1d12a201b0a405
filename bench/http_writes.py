"""Writes over HTTP: contacts posted by concurrent clients to a real `ledger serve`,
against the same commands called in-process on the application service (the ceiling).

    python -m bench.http_writes [--seconds 30] [--threads 8] [--clients 1000]
                                [--store sqlite|postgres|both] [--auth manager|admin]
                                [--idempotency] [--pg-workers 2] [--statements N]

Each store gets one outlet, one manager per thread (each with a manager API key, as a
bank's managers would hold) and `--clients` registered clients. Two workloads run for
`--seconds` each, first in process and then over HTTP on the same store:
`spread` (each call on a random client of the outlet) and `hot` (every call on one client,
so writers collide and the service retries). Prints writes/s, p50/p95/p99 latency, errors
and the HTTP/in-process ratio; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.common import postgres_url, sqlite_url
from ledger.application import Ledger
from ledger.domain import Client
from ledger.privacy.master_key import POSTGRES_MASTER_KEY_FILE
from ledger.store import library_environment

ADMIN_TOKEN = "bench-admin-token"


@dataclass
class World:
    managers: list[str]
    tokens: list[str]
    clients: list[str]
    hot: str


@dataclass
class Run:
    label: str
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    # CPU seconds the serving side spent (this process in-process, the server tree over
    # HTTP): on a shared machine a steadier figure than the rate.
    cpu_seconds: float = 0.0
    # CPU seconds of this process when it only drives HTTP (the load generator's share).
    driver_cpu_seconds: float | None = None

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, p: float) -> float:
        if len(self.latencies) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1] * 1000

    def line(self) -> str:
        errors = ", ".join(f"{k}={v}" for k, v in sorted(self.errors.items())) or "none"
        return (
            f"  {self.label:<26} {self.rate:7.0f} writes/s   p50 {self.percentile(50):6.1f} ms"
            f"  p95 {self.percentile(95):6.1f} ms  p99 {self.percentile(99):6.1f} ms"
            f"  CPU {self.cpu_seconds * 1000 / max(len(self.latencies), 1):5.2f} ms/write"
            + (
                f" (load generator {self.driver_cpu_seconds * 1000 / max(len(self.latencies), 1):.2f})"  # noqa: E501
                if self.driver_cpu_seconds is not None
                else ""
            )
            + f"  ({len(self.latencies)} writes, errors: {errors})"
        )


def build_world(ledger: Ledger, threads: int, clients: int, statements: int = 0) -> World:
    """A fresh outlet under a fresh branch, one manager per thread with a manager key, and
    the clients: each run starts from the same state, whatever ran before on the store.
    `statements`: each client's daily asset statements from its registration on (a wealth
    manager's book on a daily feed)."""
    run = f"{time.time_ns():x}"
    founded = datetime.now(UTC) - timedelta(days=60 + statements)
    parent = None
    for kind in ("branch", "department", "sub_branch", "outlet"):
        unit_id = f"{kind}-{run}"
        ledger.create_unit(
            unit_id=unit_id, name=kind, kind=kind, parent_id=parent, recorded_by="bench"
        )
        parent = unit_id
    outlet = parent
    assert outlet is not None
    managers, tokens = [], []
    for n in range(threads):
        staff_id = f"m{n}-{run}"
        ledger.join_staff(
            staff_id=staff_id,
            name=f"Manager {n}",
            unit_id=outlet,
            role="client_manager",
            effective_at=founded,
            recorded_by="bench",
        )
        _, token = ledger.issue_api_key(
            role="manager", staff_id=staff_id, label=f"bench {n}", recorded_by="bench"
        )
        managers.append(staff_id)
        tokens.append(token)
    registered = founded + timedelta(days=1)
    client_ids = []
    for n in range(clients):
        client_id = f"c{n}-{run}"
        ledger.register_client(
            client_id=client_id,
            name=f"Client {n}",
            unit_id=outlet,
            occurred_at=registered,
            recorded_by="bench",
        )
        client_ids.append(client_id)
        if statements:
            _statements(ledger, client_id, registered, statements)
    return World(managers, tokens, client_ids, hot=client_ids[0])


def _statements(ledger: Ledger, client_id: str, registered: datetime, count: int) -> None:
    """`count` daily statements from the day after `registered`, saved a hundred at a time
    (the snapshot interval)."""
    key = Client.id_for(client_id)
    for first in range(0, count, 100):
        client = ledger.repository.get(key)
        for day in range(first, min(count, first + 100)):
            amount = f"{1_000_000 + (day * 7919) % 400_000}.00"
            as_of = (registered + timedelta(days=day + 1)).date()
            client.report_assets(amount=amount, as_of=as_of, recorded_by="bench")
        ledger.save(client)


def tree_cpu_seconds(pid: int) -> float:
    """User plus system CPU of a process and all its descendants (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / ticks
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        total += times.get(current, 0.0)
        stack.extend(children.get(current, []))
    return total


def drive(
    label: str,
    threads: int,
    seconds: float,
    call: Callable[[int], Callable[[], str | None]],
    cpu: Callable[[], float] = time.process_time,
) -> Run:
    """Run `threads` loops for `seconds`; each loop's function answers an error or None."""
    result = Run(label, seconds)
    lock = threading.Lock()
    start = threading.Barrier(threads + 1)
    deadline = [0.0]

    def loop(n: int) -> None:
        once = call(n)
        latencies: list[float] = []
        errors: Counter[str] = Counter()
        start.wait()
        while (began := time.perf_counter()) < deadline[0]:
            error = once()
            if error is None:
                latencies.append(time.perf_counter() - began)
            else:
                errors[error] += 1
        with lock:
            result.latencies.extend(latencies)
            result.errors.update(errors)

    workers = [threading.Thread(target=loop, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    deadline[0] = time.perf_counter() + seconds
    cpu_before, own_before = cpu(), time.process_time()
    start.wait()
    for worker in workers:
        worker.join()
    result.cpu_seconds = cpu() - cpu_before
    if cpu is not time.process_time:
        result.driver_cpu_seconds = time.process_time() - own_before
    return result


def _occurred_at() -> datetime:
    return datetime.now(UTC) - timedelta(seconds=1)


def in_process(ledger: Ledger, world: World, hot: bool) -> Callable[[int], Callable[[], None]]:
    def for_thread(n: int) -> Callable[[], None]:
        pick = random.Random(n).choice
        staff_id = world.managers[n]

        def once() -> None:
            ledger.log_contact(
                client_id=world.hot if hot else pick(world.clients),
                channel="phone",
                staff_id=staff_id,
                occurred_at=_occurred_at(),
                purpose="review",
                recorded_by="bench",
            )

        return once

    return for_thread


def over_http(
    base_url: str, world: World, hot: bool, auth: str, idempotency: bool
) -> Callable[[int], Callable[[], str | None]]:
    def for_thread(n: int) -> Callable[[], str | None]:
        pick = random.Random(n).choice
        staff_id = world.managers[n]
        token = ADMIN_TOKEN if auth == "admin" else world.tokens[n]
        http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        sequence = iter(range(10**12))

        def once() -> str | None:
            client_id = world.hot if hot else pick(world.clients)
            headers = {"Idempotency-Key": f"t{n}-{next(sequence)}"} if idempotency else None
            response = http.post(
                f"/v1/clients/{client_id}/contacts",
                json={
                    "channel": "phone",
                    "staff_id": staff_id,
                    "occurred_at": _occurred_at().isoformat(),
                    "purpose": "review",
                },
                headers=headers,
            )
            return None if response.status_code == 201 else str(response.status_code)

        return once

    return for_thread


@dataclass
class Server:
    base_url: str
    pids: list[int]

    def cpu_seconds(self) -> float:
        return sum(tree_cpu_seconds(pid) for pid in self.pids)


@contextmanager
def server(
    url: str,
    workers: int,
    projector: bool,
    profile: str | None = None,
    *,
    apart: bool = False,
    trace: str | None = None,
) -> Iterator[Server]:
    """`ledger serve` (and `ledger project` if asked; with `apart`, its projections in a
    child process of its own) as subprocesses on a free port; with `trace`, the server's
    garbage collections are written to that file (`bench.traced_serve`)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from support.pg import free_port  # type: ignore[import-not-found]

    port = free_port()
    env = {
        **os.environ,
        "LEDGER_DATABASE_URL": url,
        "LEDGER_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    if url.startswith("postgres") and "LEDGER_MASTER_KEY" not in env:
        # The server runs in a folder of its own: give it the master key the bench's
        # in-process ledger made the store with (PostgreSQL's default is relative to the
        # folder; SQLite's is beside the store for both).
        env.setdefault("LEDGER_MASTER_KEY_FILE", str(Path(POSTGRES_MASTER_KEY_FILE).resolve()))
    # Traced: the same commands, run by bench.traced_serve (importable from the checkout).
    module = "bench.traced_serve" if trace else "ledger.cli"
    if trace:
        env["LEDGER_BENCH_TRACE"] = trace
        env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    command = [sys.executable, "-m", module, "serve", "--port", str(port)]
    command += ["--workers", str(workers), "--no-access-log"]
    if projector:
        command.append("--no-projections")
    elif apart:
        command.append("--projections-apart")
    if profile:
        # py-spy samples the server (and its workers) into a collapsed-stack file.
        command = [
            "py-spy",
            "record",
            "--nonblocking",
            "-s",
            "-r",
            "100",
            "-f",
            "raw",
            "-o",
            profile,
            "--",
            *command,
        ]
    processes = []
    with tempfile.TemporaryDirectory(prefix="ledger-serve-") as cwd:
        log = open(Path(cwd) / "serve.log", "w")  # noqa: SIM115 - closed below
        processes.append(subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=log))
        if projector:
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "ledger.cli", "project"],
                    env=env,
                    cwd=cwd,
                    stdout=log,
                    stderr=log,
                )
            )
        base_url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base_url}/v1/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if processes[0].poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    raise RuntimeError(
                        "ledger serve did not start:\n" + (Path(cwd) / "serve.log").read_text()
                    )
                time.sleep(0.2)
            # The projections first catch up with the log the in-process run wrote (tens
            # of thousands of events): that is a catch-up, not the write path, so the
            # measurement starts once they are level with the log.
            while time.monotonic() < deadline + 240:
                health = httpx.get(f"{base_url}/v1/health", timeout=5).json()
                if all(p >= health["position"] for p in health["projections"].values()):
                    break
                time.sleep(0.5)
            yield Server(base_url, [process.pid for process in processes])
        finally:
            for process in reversed(processes):
                # SIGINT: uvicorn shuts down cleanly, and py-spy writes its profile.
                process.send_signal(signal.SIGINT)
            for process in reversed(processes):
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            log.close()


def projections_exist() -> bool:
    from ledger.cli import app

    # A command registered without a name is named after its function.
    return any(
        (command.name or getattr(command.callback, "__name__", None)) == "project"
        for command in app.registered_commands
    )


def run(store: str, url: str, args: argparse.Namespace) -> None:
    workers = args.pg_workers if store == "postgres" else args.sqlite_workers
    projector = store == "postgres" and projections_exist()
    serving = f"ledger serve --workers {workers}" + (" + ledger project" if projector else "")
    print(
        f"{store}: {args.threads} threads, a fresh outlet of {args.clients} clients per run; "
        f"HTTP: {serving}, auth={args.auth}, "
        f"idempotency={'on' if args.idempotency else 'off'}",
        flush=True,
    )
    workloads = {"spread": (False,), "hot": (True,), "both": (False, True)}[args.workload]
    ledger = Ledger(library_environment(url))
    pairs = []
    for hot in workloads:
        workload = "hot client" if hot else f"spread over {args.clients}"
        world = build_world(ledger, args.threads, args.clients, args.statements)
        call = in_process(ledger, world, hot)
        inproc = drive(f"in-process, {workload}", args.threads, args.seconds, call)
        print(inproc.line(), flush=True)
        fresh = build_world(ledger, args.threads, args.clients, args.statements)
        pairs.append((hot, workload, inproc, fresh))
    ledger.close()
    with server(url, workers, projector, args.profile) as serving_:
        for hot, workload, inproc, world in pairs:
            call = over_http(serving_.base_url, world, hot, args.auth, args.idempotency)
            http = drive(
                f"HTTP, {workload}", args.threads, args.seconds, call, serving_.cpu_seconds
            )
            print(http.line(), flush=True)
            print(
                f"  ratio HTTP/in-process, {workload}: {http.rate / max(inproc.rate, 1e-9):.2f}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--auth", choices=["manager", "admin"], default="manager")
    parser.add_argument("--idempotency", action="store_true", help="send Idempotency-Key")
    parser.add_argument("--sqlite-workers", type=int, default=1)
    parser.add_argument("--pg-workers", type=int, default=2)
    parser.add_argument("--workload", choices=["spread", "hot", "both"], default="both")
    parser.add_argument(
        "--statements", type=int, default=0, help="each client's daily asset statements"
    )
    parser.add_argument("--profile", help="record the server with py-spy into this file")
    args = parser.parse_args()
    if args.store in ("sqlite", "both"):
        with sqlite_url() as url:
            run("sqlite", url, args)
    if args.store in ("postgres", "both"):
        with postgres_url() as url:
            run("postgres", url, args)


if __name__ == "__main__":
    main()
