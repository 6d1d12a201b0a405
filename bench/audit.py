"""The audit log at size: p50 and p99 of a page of `GET /v1/audit/events` filters over the
audit read model holding 1,000,000 events, and the cost of reading a page's data.

    python -m bench.audit [--events 1000000] [--store sqlite|postgres|both] [--samples 300]

The view's rows are written straight into its table (a log of synthetic events: 50,000
clients in 300 outlets under 10 sub-branches, 200 recorders, 2% of events entered late),
then its query indexes are built and the planner given statistics, as after a rebuild.
Each filter runs `--samples` times with random values drawn from the data, a page of 100.
The data of a page is read from the store (100 events, one lookup each by aggregate and
version): timed apart on a real ledger of a few thousand events, as its cost does not grow
with the log. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import postgres_url, sqlite_url
from bench.queries import measure
from ledger.bootstrap import build, construct_views
from ledger.config import Settings
from ledger.domain import Unit
from ledger.projections.audit import AuditQuery
from ledger.projections.kit.text import utc_text

TARGET_MS = 50
TYPES = (
    "ContactLogged",
    "ContactLogged",
    "ContactLogged",
    "ContactLogged",
    "AssetsReported",
    "ProfileUpdated",
    "TierChanged",
    "Assigned",
    "Churned",
    "Reactivated",
    "ChurnDetermined",
    "EventRetracted",
)
START = datetime(2023, 1, 1, tzinfo=UTC)


def units() -> list[tuple[str, str | None]]:
    tree: list[tuple[str, str | None]] = [("B", None)]
    for s in range(10):
        tree.append((f"S{s}", "B"))
        tree.extend((f"O{s}-{o}", f"S{s}") for o in range(30))
    return tree


def rows(events: int, seed: int = 7) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed)
    outlets = [u for u, parent in units() if parent and parent != "B"]
    clients = [(f"C{n}", str(uuid.UUID(int=n + 1)), rng.choice(outlets)) for n in range(50_000)]
    span = 3 * 365 * 86_400
    for position in range(1, events + 1):
        client_id, aid, unit_id = clients[rng.randrange(len(clients))]
        recorded = START + timedelta(seconds=span * position / events)
        late = rng.random() < 0.02
        effective = recorded - timedelta(
            days=rng.uniform(3, 200) if late else 0, seconds=rng.uniform(0, 3600)
        )
        yield (
            position,
            str(uuid.uuid4()),
            aid,
            client_id,
            "Client",
            rng.choice(TYPES),
            position,
            utc_text(effective),
            utc_text(recorded),
            f"key:K{rng.randrange(200)}",
            client_id,
            unit_id,
            int((recorded - effective).total_seconds()),
        )


def fill(view: Any, events: int) -> None:
    with view.transaction() as c:
        for unit_id, parent in units():
            view.execute(
                c,
                "INSERT INTO audit_units (unit_id, aid, parent_id, name, kind) "
                "VALUES (?, ?, ?, ?, ?)",
                (unit_id, str(Unit.id_for(unit_id)), parent, unit_id, "outlet"),
            )
            view.execute(
                c,
                "INSERT INTO audit_unit_paths (ancestor_id, unit_id) VALUES (?, ?)",
                (unit_id,) * 2,
            )
            if parent is not None:
                view.execute(
                    c,
                    "INSERT INTO audit_unit_paths (ancestor_id, unit_id) SELECT ancestor_id, ? "
                    "FROM audit_unit_paths WHERE unit_id = ?",
                    (unit_id, parent),
                )
        batch: list[tuple[Any, ...]] = []
        statement = (
            "INSERT INTO audit_events (position, event_id, aid, aggregate_id, aggregate_type, "
            "type, version, occurred_at, recorded_at, recorded_by, client_id, unit_id, "
            "late_seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        for row in rows(events):
            batch.append(row)
            if len(batch) == 20_000:
                view.execute_many(c, statement, batch)
                batch = []
        view.execute_many(c, statement, batch)
    view._create_query_indexes()
    view.refresh_statistics()


@contextmanager
def audit_view(database_url: str) -> Iterator[Any]:
    views = construct_views(Settings(database_url=database_url), ["audit"])
    try:
        yield views["audit"]
    finally:
        views["audit"].factory.close()


def filters(rng: random.Random) -> dict[str, Callable[[], dict[str, Any]]]:
    def moment() -> datetime:
        return START + timedelta(days=rng.uniform(0, 3 * 365))

    def week() -> dict[str, Any]:
        start = moment()
        return {"effective_from": start, "effective_to": start + timedelta(days=7)}

    def recorded_month() -> dict[str, Any]:
        start = moment()
        return {"recorded_from": start, "recorded_to": start + timedelta(days=30)}

    return {
        "no filter": dict,
        "recorded_by": lambda: {"recorded_by": f"key:K{rng.randrange(200)}"},
        "type": lambda: {"type": rng.choice(TYPES)},
        "client_id": lambda: {"client_id": f"C{rng.randrange(50_000)}"},
        "unit_id (outlet)": lambda: {"unit_id": f"O{rng.randrange(10)}-{rng.randrange(30)}"},
        "unit_id (sub-branch)": lambda: {"unit_id": f"S{rng.randrange(10)}"},
        "effective week": week,
        "recorded month": recorded_month,
        "late_by_days=30": lambda: {"late_by_days": 30},
        "recorder + type + late": lambda: {
            "recorded_by": f"key:K{rng.randrange(200)}",
            "type": "ContactLogged",
            "late_by_days": 2,
        },
    }


def time_filters(view: Any, samples: int) -> None:
    rng = random.Random(11)
    for name, make in filters(rng).items():
        p50, p99 = measure(samples, lambda make=make: view.events(AuditQuery(**make()), limit=100))
        mark = "ok" if p99 <= TARGET_MS else f"OVER {TARGET_MS} ms"
        print(f"  {name:<24} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  {mark}", flush=True)


def time_page_data(database_url: str, samples: int) -> None:
    """The data of a page of 100: one read by aggregate and version each."""
    container = build(Settings(database_url=database_url))
    try:
        ledger = container.ledger
        ledger.create_unit(unit_id="B", name="B", kind="branch", parent_id=None, recorded_by="b")
        ledger.create_unit(unit_id="O", name="O", kind="outlet", parent_id="B", recorded_by="b")
        for n in range(300):
            ledger.register_client(
                client_id=f"C{n}",
                name="Wang",
                unit_id="O",
                tier="gold",
                recorded_by="bench",
            )
        end = ledger.position
        rng = random.Random(3)
        for label, page in (
            ("in a row", lambda: range(rng.randrange(end - 100), end)),
            ("scattered", lambda: rng.sample(range(1, end + 1), 100)),
        ):
            p50, p99 = measure(samples, lambda page=page: ledger.events_data(page()))
            print(f"  data of 100 ({label:<9}) p50 {p50:7.2f} ms  p99 {p99:7.2f} ms", flush=True)
    finally:
        container.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--samples", type=int, default=300)
    args = parser.parse_args()
    stores = {"sqlite": [sqlite_url], "postgres": [postgres_url]}.get(
        args.store, [sqlite_url, postgres_url]
    )
    for make_url in stores:
        with make_url() as database_url:
            print(f"{database_url.split(':')[0]}: {args.events:,} events", flush=True)
            with audit_view(database_url) as view:
                fill(view, args.events)
                time_filters(view, args.samples)
            time_page_data(database_url, args.samples)


if __name__ == "__main__":
    main()
