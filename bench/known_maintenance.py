"""The maintenance reports as known at a past time (`known_at`, API.md 1.1, Audit), asked of
the view in process: CPU time per answer (a report's first page, limit 100) for a unit at
each of a few recorded times.

    python -m bench.known_maintenance --db /tmp/copy/demo-100000.db [--units BR,BR-D1-S1]
                                      [--samples 3] [--at-positions 377000,700000,755000]

The maintenance view next to the store is caught up first. Known-at times are the recorded
times of the given log positions. Prints figures and the load average; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ledger.bootstrap import build
from ledger.config import Settings


def reports(view: Any, unit: str, now: datetime) -> dict[str, Callable[[datetime], Any]]:
    start, end = now - timedelta(days=120), now - timedelta(days=30)
    page = {"limit": 100}
    return {
        "duties overdue": lambda k: view.duties_overdue(unit, known_at=k, **page),
        "team gaps": lambda k: view.team_gaps(unit, known_at=k, **page),
        "at-risk": lambda k: view.at_risk(unit, known_at=k, **page),
        "leader visits": lambda k: view.leader_visits(
            unit, start, end, min_assets=Decimal(5_000_000), known_at=k, **page
        ),
        "unacknowledged": lambda k: view.unacknowledged_assignments(
            unit, older_than_days=7, known_at=k, **page
        ),
        "referrals": lambda k: view.referrals(unit, start, end, k),
        "segments": lambda k: view.segments(unit, "risk_appetite", known_at=k),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--units", default="BR,BR-D1-S1")
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--at-positions", default="377000,700000,755000")
    args = parser.parse_args(argv)
    container = build(Settings(database_url=f"sqlite:///{args.db}"))
    try:
        runner = container.start_projections(follow=False)
        started = time.process_time()
        runner.catch_up(["maintenance"])
        print(f"caught up the maintenance view: {time.process_time() - started:.1f} s CPU")
        ledger, view = container.ledger, container.views.maintenance
        moments = [ledger.recorded_at(int(p)) for p in args.at_positions.split(",")]
        now = datetime.now(UTC)
        for unit in args.units.split(","):
            for moment in moments:
                assert moment is not None
                print(f"{unit} known at {moment.isoformat()} (load {_load()})", flush=True)
                for name, ask in reports(view, unit, now).items():
                    ask(moment)  # warm
                    started = time.process_time()
                    for _ in range(args.samples):
                        ask(moment)
                    cpu = (time.process_time() - started) / args.samples * 1000
                    print(f"  {name:<16} {cpu:9.1f} ms CPU", flush=True)
    finally:
        container.close()


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


if __name__ == "__main__":
    main()
