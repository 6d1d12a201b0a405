"""What sealing personal data costs (issue 15): write CPU per contact, and a rebuild of
every read model, each with personal fields sealed and without (the library's own mapper,
names kept plain in the views), back to back on SQLite.

    .venv/bin/python -m bench.privacy [--contacts 3000] [--events 200000] [--rounds 3]
        [--keep DIR]

`--contacts 0` or `--events 0` leaves that half out.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper

from bench.rebuild import generate
from ledger.application import Ledger
from ledger.bootstrap import Container, ledger_environment
from ledger.config import Settings
from ledger.privacy import MasterKey

BY = "bench"
# A store kept between runs needs its key again: LEDGER_BENCH_MASTER_KEY, else a fresh one.
MASTER_KEY = os.environ.get("LEDGER_BENCH_MASTER_KEY") or MasterKey.generate_text()


class PlainLedger(Ledger):
    """The ledger as it was before issue 15: the library's mapper, nothing sealed."""

    def construct_mapper(self) -> Mapper[UUID]:
        super().construct_mapper()  # the key ring the application expects
        return self.factory.mapper(transcoder=self.construct_transcoder())


def container(path: Path, *, sealed: bool) -> Container:
    settings = Settings(database_url=f"sqlite:///{path}", master_key=MASTER_KEY)
    cls = Ledger if sealed else PlainLedger
    built = Container(settings=settings, ledger=cls(ledger_environment(settings)))
    built.ledger.churn_cases = built
    if not sealed:
        for view in built.views.by_name.values():
            view.keyring = None
    return built


def contacts_cpu(path: Path, *, sealed: bool, count: int) -> float:
    """CPU seconds per contact (purpose and summary filled), over 20 clients."""
    built = container(path, sealed=sealed)
    ledger = built.ledger
    try:
        start = datetime.now(UTC) - timedelta(days=30)
        ledger.create_unit(unit_id="B", name="b", kind="branch", parent_id=None, recorded_by=BY)
        ledger.create_unit(unit_id="O", name="o", kind="outlet", parent_id="B", recorded_by=BY)
        manager = {"staff_id": "M", "name": "m", "unit_id": "O", "role": "client_manager"}
        ledger.join_staff(**manager, effective_at=start, recorded_by=BY)
        clients = [f"C{n}" for n in range(20)]
        for client_id in clients:
            ledger.register_client(
                client_id=client_id,
                name=f"Name {client_id}",
                unit_id="O",
                occurred_at=start,
                recorded_by=BY,
            )
        began = time.process_time()
        for n in range(count):
            ledger.log_contact(
                client_id=clients[n % len(clients)],
                channel="visit",
                staff_id="M",
                purpose="annual review of the portfolio",
                summary="talked through the bond ladder and a gift for her daughter",
                occurred_at=start + timedelta(minutes=n),
                recorded_by=BY,
            )
        return (time.process_time() - began) / count
    finally:
        built.close()


def rebuild_seconds(path: Path, *, sealed: bool, events: int) -> tuple[float, float, int]:
    """(wall, CPU) seconds to rebuild every read model in this process, and the events."""
    built = container(path, sealed=sealed)
    try:
        if not built.ledger.position:
            generate(built, events)
        runner = built.start_projections(follow=False)
        wall, cpu = time.perf_counter(), time.process_time()
        end = runner.rebuild()
        return time.perf_counter() - wall, time.process_time() - cpu, end
    finally:
        built.close()


def contacts(base: Path, count: int, rounds: int) -> None:
    per: dict[bool, list[float]] = {True: [], False: []}
    for round_ in range(rounds):
        # Each way round in turn: the machine's speed drifts within minutes.
        for sealed in (False, True) if round_ % 2 == 0 else (True, False):
            path = base / f"contacts-{sealed}-{round_}.db"
            per[sealed].append(contacts_cpu(path, sealed=sealed, count=count))
    plain, sealed_cpu = min(per[False]), min(per[True])
    print(
        f"write CPU per contact: plain {plain * 1e6:,.0f} us, sealed {sealed_cpu * 1e6:,.0f} us"
        f" ({sealed_cpu / plain - 1:+.1%}); best of {rounds} x {count:,}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=3000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--keep",
        type=Path,
        help="keep the rebuild's two stores in this folder, generated once and rebuilt again "
        "by a later run (give the same LEDGER_BENCH_MASTER_KEY to both runs)",
    )
    args = parser.parse_args()
    if args.keep and not os.environ.get("LEDGER_BENCH_MASTER_KEY"):
        parser.error("--keep needs LEDGER_BENCH_MASTER_KEY: a kept sealed store needs its key")
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        if args.contacts:
            contacts(base, args.contacts, args.rounds)
        if not args.events:
            return
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
        base = args.keep or base
        figures: dict[bool, Any] = {}
        for sealed in (False, True):
            figures[sealed] = rebuild_seconds(
                base / f"rebuild-{sealed}-{args.events}.db", sealed=sealed, events=args.events
            )
            wall, cpu, end = figures[sealed]
            print(
                f"rebuild {'sealed' if sealed else 'plain '}: {end:,} events in {wall:.1f}s "
                f"(CPU {cpu:.1f}s); load average {os.getloadavg()[0]:.1f}"
            )
        # Again, the other way round: the machine's speed drifts within minutes.
        for sealed in (True, False):
            wall, cpu, end = rebuild_seconds(
                base / f"rebuild-{sealed}-{args.events}.db", sealed=sealed, events=args.events
            )
            before = figures[sealed]
            figures[sealed] = (min(wall, before[0]), min(cpu, before[1]), end)
        (pw, pc, _), (sw, sc, _) = figures[False], figures[True]
        print(f"rebuild, best of 2: wall {sw / pw - 1:+.1%}, CPU {sc / pc - 1:+.1%}")


if __name__ == "__main__":
    main()
