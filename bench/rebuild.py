"""Rebuild benchmark: events per second to rebuild every read model on SQLite, next to the
raw rate at which the same events are only read and deserialised.

    .venv/bin/python bench/rebuild.py --events 1000000 [--db PATH]

Events are generated fast by saving many pre-built client aggregates per transaction;
each client has nine events (registration, assignment, profile, assets, four contacts,
a tier change), the mix a branch's log mostly holds.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ledger.bootstrap import build
from ledger.config import Settings
from ledger.domain import Client

EVENTS_PER_CLIENT = 9
BY = "bench"


def generate(container, events: int, per_save: int = 300) -> None:  # type: ignore[no-untyped-def]
    app = container.ledger
    start = datetime.now(UTC) - timedelta(days=720)
    app.create_unit(unit_id="B", name="b", kind="branch", parent_id=None, recorded_by=BY)
    app.create_unit(unit_id="S", name="s", kind="sub_branch", parent_id="B", recorded_by=BY)
    outlets = [f"O{n}" for n in range(10)]
    for outlet in outlets:
        app.create_unit(unit_id=outlet, name=outlet, kind="outlet", parent_id="S", recorded_by=BY)
    managers = [f"M{n}" for n in range(50)]
    for n, staff_id in enumerate(managers):
        app.join_staff(
            staff_id=staff_id,
            name=staff_id,
            unit_id=outlets[n % len(outlets)],
            role="client_manager",
            effective_at=start,
            recorded_by=BY,
        )
    clients = max(1, (events - app.position) // EVENTS_PER_CLIENT)
    batch = []
    for n in range(clients):
        at = start + timedelta(minutes=n % 100_000)
        client = Client.register(
            client_id=f"C{n:08}",
            name=f"client {n}",
            unit_id=outlets[n % len(outlets)],
            tier=("standard", "gold", "gold", "platinum")[n % 4],
            recorded_by=BY,
            effective_at=at,
        )
        client.assign(
            staff_id=managers[n % len(managers)],
            role="client_manager",
            reason="name list",
            recorded_by=BY,
            effective_at=at,
        )
        client.update_profile(
            changes={"address": "road 1", "phone": "555", "employer": "acme"},
            recorded_by=BY,
            effective_at=at + timedelta(days=1),
        )
        client.report_assets(
            amount="500000.00", as_of=(at + timedelta(days=2)).date(), recorded_by=BY
        )
        for k in range(4):
            client.log_contact(
                channel="visit",
                staff_id=managers[n % len(managers)],
                purpose="review",
                summary=None,
                recorded_by=BY,
                effective_at=at + timedelta(days=30 * (k + 1)),
            )
        client.change_tier(
            tier="diamond", reason="growth", recorded_by=BY, effective_at=at + timedelta(days=200)
        )
        batch.append(client)
        if len(batch) >= per_save:
            app.save(*batch)
            batch = []
    if batch:
        app.save(*batch)


def raw_rate(container) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    app = container.ledger
    started = time.perf_counter()
    count, last = 0, 0
    while True:
        notifications = app.recorder.select_notifications(
            start=last, limit=1000, inclusive_of_start=False
        )
        if not notifications:
            break
        for notification in notifications:
            app.mapper.to_domain_event(notification)
        count += len(notifications)
        last = notifications[-1].id
    return count, time.perf_counter() - started


class ChildPeak:
    """The peak RSS of each of this process's children while in use, read from /proc
    (sampled every 0.1 s). RUSAGE_CHILDREN's ru_maxrss is no good here: a spawned child is
    forked from this process first, and counts this process's size as its own peak."""

    def __init__(self) -> None:
        self.peaks: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> ChildPeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        me = str(os.getpid())
        while not self._stop.wait(0.1):
            for status in Path("/proc").glob("[0-9]*/status"):
                try:
                    fields = dict(
                        line.split(":", 1)
                        for line in status.read_text().splitlines()
                        if ":" in line
                    )
                except OSError:
                    continue
                if fields.get("PPid", "").strip() == me and "VmHWM" in fields:
                    self.peaks[status.parent.name] = int(fields["VmHWM"].split()[0]) / 1024

    @property
    def largest(self) -> float:
        return max(self.peaks.values(), default=0.0)

    @property
    def total(self) -> float:
        """An upper bound of the children's footprint: their peaks added up."""
        return sum(self.peaks.values())


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (default: a temp dir)")
    args = parser.parse_args()
    directory = None
    if args.db is None:
        directory = tempfile.TemporaryDirectory()
        args.db = Path(directory.name) / "bench.db"
    container = build(Settings(database_url=f"sqlite:///{args.db.resolve()}"))
    try:
        if container.ledger.position < args.events:
            started = time.perf_counter()
            generate(container, args.events)
            print(
                f"generated {container.ledger.position:,} events in "
                f"{time.perf_counter() - started:.1f}s"
            )
        projections = container.start_projections(follow=False)

        def measure_raw() -> float:
            # Measured again before each rebuild: on a shared machine the speed drifts by a
            # tenth or more within minutes, and a rebuild is compared with the raw rate of
            # its own minute.
            count, seconds = raw_rate(container)
            print(
                f"raw read + deserialise: {count:,} events in {seconds:.1f}s = "
                f"{count / seconds:,.0f} events/s; load average {os.getloadavg()[0]:.1f}"
            )
            return count / seconds

        def report(label: str, raw: float, end: int, seconds: float, cpu: float, rss: str) -> None:
            rate = end / seconds
            print(
                f"rebuild {label}: {end:,} events in {seconds:.1f}s = {rate:,.0f} events/s "
                f"({rate / raw:.0%} of raw); CPU {cpu:.1f}s; {rss}; "
                f"load average {os.getloadavg()[0]:.1f}"
            )

        # Each read model alone (every one the container builds), then all in one pass.
        for names in [*([name] for name in projections.views), None]:
            raw = measure_raw()
            started, cpu = time.perf_counter(), time.process_time()
            end = projections.rebuild(names)
            label = ", ".join(names) if names else "all (one pass, a thread per view)"
            # ru_maxrss is in KiB on Linux: this process's peak so far, earlier runs included.
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            report(label, raw, end, seconds, cpu, f"peak RSS so far {rss:,.0f} MiB")
        raw = measure_raw()
        started, cpu = time.perf_counter(), _children_cpu()
        with ChildPeak() as peak:
            ends = container.rebuild_in_processes()
        report(
            "all (`ledger rebuild`: a process per core, views shared out)",
            raw,
            min(ends.values()),
            time.perf_counter() - started,
            _children_cpu() - cpu,
            f"peak RSS of the largest process {peak.largest:,.0f} MiB, of all "
            f"{len(peak.peaks)} children added up {peak.total:,.0f} MiB",
        )
    finally:
        container.close()
        if directory is not None:
            directory.cleanup()


if __name__ == "__main__":
    main()
