"""Hash-chain verification on SQLite: events per second and peak memory.

    python bench/verify.py [--events 1000000] [--db PATH | --url URL] [--page-size 2000]

Fills a SQLite ledger with N events (clients registered and re-tiered, a thousand
aggregates saved per transaction; an existing file with enough events is reused), then
verifies the whole chain in a fresh process so its memory figures are verification's
own. Memory is the process's peak resident set (ru_maxrss) before and after verifying,
and, in a second pass, tracemalloc's peak of Python allocations during verification.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

EVENTS_PER_CLIENT = 5
CLIENTS_PER_SAVE = 1000
TIERS = ("gold", "platinum", "diamond", "gold")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def generate(url: str, events: int) -> None:
    from ledger.bootstrap import build
    from ledger.config import Settings
    from ledger.domain import Client

    container = build(Settings(database_url=url))
    ledger = container.ledger
    have = ledger.position
    start = time.perf_counter()
    registered = datetime(2020, 1, 1, tzinfo=UTC)
    number = have // EVENTS_PER_CLIENT
    while ledger.position < events:
        batch = []
        room = (events - ledger.position) // EVENTS_PER_CLIENT or 1
        for _ in range(min(CLIENTS_PER_SAVE, room)):
            number += 1
            client = Client.register(
                client_id=f"bench-{number}",
                name=f"Client {number}",
                unit_id="bench-outlet",
                recorded_by="bench",
                effective_at=registered,
            )
            for step, tier in enumerate(TIERS, start=1):
                client.change_tier(
                    tier=tier,
                    reason="bench",
                    recorded_by="bench",
                    effective_at=registered + timedelta(days=step),
                )
            batch.append(client)
        ledger.save(*batch)
    made = ledger.position - have
    elapsed = time.perf_counter() - start
    if made:
        print(f"generated {made:,} events in {elapsed:.1f}s ({made / elapsed:,.0f} events/s)")
    container.close()


def verify(url: str, page_size: int, trace: bool) -> dict[str, object]:
    from ledger.bootstrap import build
    from ledger.config import Settings

    container = build(Settings(database_url=url))
    container.integrity.page_size = page_size
    rss_before = peak_rss_mib()
    if trace:
        tracemalloc.start()
    start = time.perf_counter()
    result = container.integrity.verify()
    elapsed = time.perf_counter() - start
    figures: dict[str, object] = {
        "result": result.as_dict(),
        "seconds": round(elapsed, 2),
        "events_per_second": round(result.checked / elapsed),
        "peak_rss_mib_before": round(rss_before, 1),
        "peak_rss_mib_after": round(peak_rss_mib(), 1),
    }
    if trace:
        figures["tracemalloc_peak_mib"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 2)
        tracemalloc.stop()
    container.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (default: var/)")
    parser.add_argument("--url", help="another LEDGER_DATABASE_URL, e.g. postgresql://...")
    parser.add_argument("--page-size", type=int, default=2000)
    parser.add_argument("--child", choices=["verify", "trace"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    db = args.db or Path("var") / f"bench-verify-{args.events}.db"
    url = args.url or f"sqlite:///{db.resolve()}"
    if args.child:
        print(json.dumps(verify(url, args.page_size, trace=args.child == "trace")))
        return
    if not args.url:
        db.parent.mkdir(parents=True, exist_ok=True)
    generate(url, args.events)
    for mode in ("verify", "trace"):
        child = subprocess.run(
            [sys.executable, __file__, "--events", str(args.events), "--url", url,
             "--page-size", str(args.page_size), "--child", mode],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        label = "verify" if mode == "verify" else "verify under tracemalloc"
        print(f"{label}: {json.dumps(figures)}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
