"""Bulk writes: a name list imported, and `ledger demo` through the same bulk path.

    .venv/bin/python -m bench.imports --clients 20000 [--store sqlite|postgres|both] [--demo N]

Each run gets a fresh store with the demo's organisation (units and staff, written one
command at a time), then imports a CSV name list of `--clients` rows (four events a row:
registered, designated manager, profile, assets). Printed: events/s (wall) and CPU per
event (this process and its writer process, if the batch has one), beside the library's
own bulk append of the same stored events into a plain eventsourcing recorder (no hash
chain, no Merkle tree), and the load average. `--in-process`: no writer process.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import resource
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager

from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment

from bench.common import postgres_url, sqlite_url
from ledger.application import imports
from ledger.application.imports import COLUMNS
from ledger.bootstrap import build
from ledger.config import Settings
from ledger.demo import RECORDED_BY, load_demo, loading, plan_demo
from ledger.name_lists import read_name_list
from ledger.store import library_environment


def name_list(clients: int, seed: int = 11) -> bytes:
    org, _ = plan_demo(seed=7, clients=0)
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for index in range(clients):
        outlet = rng.choice(org.outlets)
        manager = rng.choice([m for m in org.managers[outlet] if m not in org.departures])
        writer.writerow(
            [
                f"N{index:07d}",
                f"Client {index}",
                outlet,
                rng.choice(["standard", "gold", "platinum", "diamond"]),
                manager,
                "2024-03-01",
                f"13{rng.randrange(10**8, 10**9)}",
                f"{rng.randrange(1, 999)} Nanjing Road",
                "own firm",
                f"{rng.randrange(10_000, 5_000_000)}.00",
                "2024-06-30",
                rng.choice(["media", "organisation", "personal_network", ""]),
                "",
            ]
        )
    return out.getvalue().encode()


def cpu() -> float:
    """This process's CPU and that of the writer processes it waited for (a pipelined
    batch's: `ledger.application.batch_process`)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def run_import(url: str, clients: int) -> None:
    container = build(Settings(database_url=url))
    load_demo(container.ledger, clients=0)  # the organisation only
    data = name_list(clients)
    rows = read_name_list(data)
    load = os.getloadavg()[0]
    started, spent = time.perf_counter(), cpu()
    report = container.ledger.import_clients(rows, recorded_by=RECORDED_BY)
    wall, used = time.perf_counter() - started, cpu() - spent
    assert not report.errors, report.errors[:3]
    print(
        f"import {clients} rows: {report.events} events in {wall:.1f} s = "
        f"{report.events / wall:,.0f} events/s; CPU {used / report.events * 1e6:.0f} µs/event "
        f"({report.events / used:,.0f} events per CPU second); load {load:.1f} -> "
        f"{os.getloadavg()[0]:.1f}",
        flush=True,
    )
    started = time.perf_counter()
    again = container.ledger.import_clients(rows, recorded_by=RECORDED_BY)
    print(
        f"  again: {again.imported} imported, {again.skipped} skipped in "
        f"{time.perf_counter() - started:.1f} s"
    )
    stored = list(_stored_events(container.ledger))
    container.close()
    _library_append(url, stored)


def _stored_events(ledger: object) -> Iterator[object]:
    recorder = ledger.recorder  # type: ignore[attr-defined]
    start = 1
    while True:
        page = recorder.select_notifications(start=start, limit=5000)
        if not page:
            return
        yield from page
        start = page[-1].id + 1


def _library_append(url: str, notifications: list) -> None:
    """The same events through the library's plain recorder, 5,000 per insert."""
    from eventsourcing.persistence import StoredEvent

    env = library_environment(url)
    if "SQLITE_DBNAME" in env:
        env["SQLITE_DBNAME"] = env["SQLITE_DBNAME"] + ".plain.db"
    else:
        # The library's own recorder, in its own table beside the ledger's.
        env["PERSISTENCE_MODULE"] = "eventsourcing.postgres"
    if "SQLITE_DBNAME" in env:
        env["PERSISTENCE_MODULE"] = "eventsourcing.sqlite"
    factory = InfrastructureFactory.construct(Environment("PLAIN", env))
    recorder = factory.application_recorder()
    if hasattr(recorder, "events_table_name") and "SQLITE_DBNAME" not in env:
        recorder = type(recorder)(recorder.datastore, events_table_name="plain_events")
    recorder.create_table()
    events = [
        StoredEvent(n.originator_id, n.originator_version, n.topic, n.state) for n in notifications
    ]
    started, spent = time.perf_counter(), cpu()
    for start in range(0, len(events), 5000):
        recorder.insert_events(events[start : start + 5000])
    wall, used = time.perf_counter() - started, cpu() - spent
    print(
        f"  library's own bulk append of the same {len(events)} events: "
        f"{len(events) / wall:,.0f} events/s, CPU {used / len(events) * 1e6:.0f} µs/event"
    )
    factory.close()


def run_demo(url: str, clients: int) -> None:
    container = build(Settings(database_url=url))
    load = os.getloadavg()[0]
    started, spent = time.perf_counter(), cpu()
    stats = load_demo(container.ledger, clients=clients)
    wall, used = time.perf_counter() - started, cpu() - spent
    container.close()
    print(
        f"demo {clients} clients: {stats.events} events in {wall:.1f} s = "
        f"{stats.events / wall:,.0f} events/s; CPU {used:.1f} s, {used / stats.events * 1e6:.0f} "
        f"µs/event; load {load:.1f} -> {os.getloadavg()[0]:.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=20_000)
    parser.add_argument("--demo", type=int, default=0, help="also `ledger demo` at this size")
    parser.add_argument("--store", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--in-process", action="store_true", help="no writer process")
    args = parser.parse_args()
    if args.in_process:
        imports.PIPELINED_ROWS = loading.PIPELINED_CLIENTS = 10**12
    stores: list[tuple[str, AbstractContextManager[str]]] = []
    if args.store in ("sqlite", "both"):
        stores.append(("SQLite", sqlite_url()))
    if args.store in ("postgres", "both"):
        stores.append(("PostgreSQL", postgres_url()))
    for name, store in stores:
        with store as url:
            print(f"== {name}", flush=True)
            run_import(url, args.clients)
        if args.demo:
            with sqlite_url() if name == "SQLite" else postgres_url() as url:
                run_demo(url, args.demo)


if __name__ == "__main__":
    main()
