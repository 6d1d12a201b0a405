"""Merkle proofs at scale: latency of inclusion and consistency proofs, the cost of
building the tree, and what keeping it costs a write.

    python -m bench.proofs [--events 1000000] [--url URL] [--proofs 1000] [--writes 3000]

1. Fills a SQLite ledger with N events as bench.verify does (a file with enough events is
   reused), the tree kept by every write.
2. Rebuilds the tree from scratch with `ledger chain backfill` (tree tables emptied first),
   and prints its time and the rows it holds.
3. Times `--proofs` inclusion proofs of random events at the full tree size, and as many
   consistency proofs between random sizes, through the service and over HTTP (the real
   app in process): p50, p99, max.
4. The write cost: single-event saves (one client registered per save) on two fresh
   stores, one keeping the tree and one the chain alone, in alternating rounds.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

ADMIN = "bench-admin-token"


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * len(ordered)) - 1)]
    return (
        f"p50 {statistics.median(ordered) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, "
        f"max {ordered[-1] * 1000:.2f} ms ({len(ordered)} proofs)"
    )


def timed(calls: list[Callable[[], Any]]) -> list[float]:
    samples = []
    for call in calls:
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def rebuild_tree(url: str) -> None:
    from ledger.bootstrap import build
    from ledger.config import Settings

    container = build(Settings(database_url=url))
    recorder: Any = container.ledger.recorder
    with recorder.datastore.transaction(commit=True) as c:
        c.execute(f"DELETE FROM {recorder.leaves_table_name}")
        c.execute(f"DELETE FROM {recorder.nodes_table_name}")
    start = time.perf_counter()
    done = container.integrity.backfill()
    elapsed = time.perf_counter() - start
    print(
        f"tree rebuilt by `ledger chain backfill`: {done.leaves:,} leaves in {elapsed:.1f} s "
        f"({done.leaves / elapsed:,.0f} events/s, each checked against its link)"
    )
    with recorder.datastore.transaction(commit=False) as c:
        counts = {}
        for table in (recorder.leaves_table_name, recorder.nodes_table_name):
            c.execute(f"SELECT count(*) AS n FROM {table}")
            row = c.fetchone()
            counts[table] = row["n"] if isinstance(row, dict) else row[0]
    print(f"tree rows: {counts}")
    container.close()


def proofs(url: str, count: int) -> None:
    from fastapi.testclient import TestClient

    from ledger.api.app import create_app
    from ledger.bootstrap import build
    from ledger.config import Settings

    container = build(Settings(database_url=url, admin_token=SecretStr(ADMIN)))
    integrity = container.integrity
    digest = integrity.digest()
    size = digest.tree_size or 0
    print(f"tree head: {size:,} leaves, root {digest.root_hash}")
    rng = random.Random(9162)
    positions = [n.id for n in _sample_positions(container, rng, count)]
    pairs = []
    for _ in range(count):
        second = rng.randint(1, size)
        pairs.append((rng.randint(1, second), second))
    path_lengths = [len(integrity.inclusion(p, size).audit_path) for p in positions[:50]]
    print(f"audit path lengths: {min(path_lengths)}..{max(path_lengths)} nodes")
    inclusion = timed([lambda p=p: integrity.inclusion(p, size) for p in positions])
    print(f"inclusion proof (service):   {percentiles(inclusion)}")
    consistency = timed([lambda m=m, n=n: integrity.consistency(m, n) for m, n in pairs])
    print(f"consistency proof (service): {percentiles(consistency)}")
    app = create_app(container, follow=False)
    headers = {"Authorization": f"Bearer {ADMIN}"}
    with TestClient(app) as api:

        def get(path: str, **params: int) -> None:
            answer = api.get(path, params=params, headers=headers)
            assert answer.status_code == 200, answer.text

        over_http = timed(
            [lambda p=p: get(f"/v1/integrity/proofs/events/{p}", tree_size=size) for p in positions]
        )
        print(f"inclusion proof (HTTP):      {percentiles(over_http)}")
        over_http = timed(
            [lambda m=m, n=n: get("/v1/integrity/consistency", first=m, second=n) for m, n in pairs]
        )
        print(f"consistency proof (HTTP):    {percentiles(over_http)}")
        digests = timed([lambda: get("/v1/integrity/digest") for _ in range(200)])
        print(f"digest (HTTP):               {percentiles(digests)}")
    container.close()


def _sample_positions(container: Any, rng: random.Random, count: int) -> list[Any]:
    top = container.ledger.position
    found: list[Any] = []
    while len(found) < count:
        start = rng.randint(1, top)
        found.extend(container.ledger.recorder.select_notifications(start=start, limit=1))
    return found


@contextmanager
def chain_only() -> Iterator[None]:
    """The write path as it was before the tree: link the events, nothing more."""
    import ledger.integrity.append as append

    kept = append.extend_tree
    append.extend_tree = lambda tables, last, previous, events: 0  # type: ignore[assignment]
    try:
        yield
    finally:
        append.extend_tree = kept


def write_cost(url: str | None, writes: int, rounds: int = 10) -> None:
    """Two fresh stores side by side, one keeping the tree and one the chain alone,
    written in alternating rounds so both see the same machine."""
    from ledger.application import Ledger
    from ledger.store import library_environment

    with tempfile.TemporaryDirectory() as directory:
        run = f"{time.time_ns():x}"
        ledgers, units = {}, {}
        for mode in ("tree", "chain only"):
            store = url or f"sqlite:///{directory}/{mode.replace(' ', '-')}.db"
            ledger = Ledger(library_environment(store))
            branch, outlet = f"b-{run}-{len(ledgers)}", f"o-{run}-{len(ledgers)}"
            ledger.create_unit(unit_id=branch, name="b", kind="branch", parent_id=None,
                               recorded_by="bench")  # fmt: skip
            ledger.create_unit(unit_id=outlet, name="o", kind="outlet", parent_id=branch,
                               recorded_by="bench")  # fmt: skip
            units[mode] = outlet
            ledgers[mode] = ledger
        registered = datetime(2020, 1, 1, tzinfo=UTC)
        per_round = writes // rounds
        figures: dict[str, list[float]] = {mode: [] for mode in ledgers}
        cpu: dict[str, list[float]] = {mode: [] for mode in ledgers}
        number = 0
        for _ in range(rounds):
            for mode, ledger in ledgers.items():
                start, started_cpu = time.perf_counter(), time.process_time()
                with chain_only() if mode == "chain only" else _nothing():
                    for _ in range(per_round):
                        number += 1
                        ledger.register_client(
                            client_id=f"w-{run}-{number}",
                            name="Write Bench",
                            unit_id=units[mode],
                            occurred_at=registered,
                            recorded_by="bench",
                        )
                figures[mode].append((time.perf_counter() - start) / per_round)
                cpu[mode].append((time.process_time() - started_cpu) / per_round)
        for label, measured in (("wall", figures), ("CPU", cpu)):
            for mode, samples in measured.items():
                rounds_ms = ", ".join(f"{s * 1000:.3f}" for s in samples)
                median = statistics.median(samples) * 1000
                print(
                    f"single-event save, {mode:>10}, {label:>4}: median {median:.3f} ms "
                    f"(rounds of {per_round}: {rounds_ms})"
                )
            tree, chain = (statistics.median(measured[m]) for m in ("tree", "chain only"))
            print(
                f"the tree adds {(tree - chain) * 1000:.3f} ms {label} per write "
                f"({tree / chain - 1:+.1%})"
            )
        for ledger in ledgers.values():
            ledger.close()


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def main() -> None:
    from bench.verify import generate

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--url", help="another LEDGER_DATABASE_URL, e.g. postgresql://...")
    parser.add_argument("--proofs", type=int, default=1000)
    parser.add_argument("--writes", type=int, default=3000)
    parser.add_argument("--skip-rebuild", action="store_true")
    parser.add_argument("--writes-only", action="store_true")
    args = parser.parse_args()
    db = Path("var") / f"bench-proofs-{args.events}.db"
    if not args.url:
        db.parent.mkdir(parents=True, exist_ok=True)
    url = args.url or f"sqlite:///{db.resolve()}"
    if args.writes_only:
        write_cost(args.url, args.writes)
        return
    generate(url, args.events)
    if not args.skip_rebuild:
        rebuild_tree(url)
    proofs(url, args.proofs)
    write_cost(None if not args.url else args.url, args.writes)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
