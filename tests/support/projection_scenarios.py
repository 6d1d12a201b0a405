"""Builders shared by the projection tests: an organisation, clients written in bulk, a
dump of every view's rows, and the case a test class per store derives from."""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger.application import Ledger
from ledger.bootstrap import Container, build
from ledger.config import Settings
from ledger.domain import Client, LedgerError
from ledger.domain.values import TIERS
from ledger.projections.kit import BatchView, utc_text
from ledger.projections.runner import ProjectionRunner

BY = "test"


class ProjectionCase:
    """Abstract: subclasses give `database_url`."""

    @pytest.fixture
    def container(self, database_url: str) -> Iterator[Container]:
        container = build(Settings(database_url=database_url))
        container.start_projections(follow=False)
        yield container
        container.close()

    @pytest.fixture
    def projections(self, container: Container) -> ProjectionRunner:
        return container.runner


LAST_YEAR = datetime.now(UTC).year - 1


def day(month: int, dom: int, year: int = LAST_YEAR) -> datetime:
    return datetime(year, month, dom, tzinfo=UTC)


def build_org(app: Ledger, since: datetime) -> None:
    """Branch B > department D > sub-branches S (outlets O1, O2) and S2 (outlet O3);
    managers M1..M3, heads H1 (O1) and H2."""
    for unit_id, kind, parent in (
        ("B", "branch", None),
        ("D", "department", "B"),
        ("S", "sub_branch", "D"),
        ("S2", "sub_branch", "D"),
        ("O1", "outlet", "S"),
        ("O2", "outlet", "S"),
        ("O3", "outlet", "S2"),
    ):
        app.create_unit(unit_id=unit_id, name=unit_id, kind=kind, parent_id=parent, recorded_by=BY)
    for staff_id, role in (
        ("M1", "client_manager"),
        ("M2", "client_manager"),
        ("M3", "client_manager"),
        ("H1", "outlet_director"),
        ("H2", "outlet_director"),
    ):
        app.join_staff(
            staff_id=staff_id,
            name=staff_id,
            unit_id="O1",
            role=role,
            effective_at=since,
            recorded_by=BY,
        )
    app.appoint_head(unit_id="O1", staff_id="H1", effective_at=since, recorded_by=BY)


def bulk_clients(
    app: Ledger,
    specs: Iterable[tuple[str, str, str, datetime]],
    *,
    per_save: int = 500,
) -> None:
    """Register (client_id, unit_id, tier, at) clients, many aggregates per transaction."""
    batch: list[Client] = []
    for client_id, unit_id, tier, at in specs:
        batch.append(
            Client.register(
                client_id=client_id,
                name=client_id,
                unit_id=unit_id,
                tier=tier,
                recorded_by=BY,
                effective_at=at,
            )
        )
        if len(batch) >= per_save:
            app.save(*batch)
            batch = []
    if batch:
        app.save(*batch)


def dump(views: dict[str, BatchView]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every view table, in a stable order."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    for view in views.values():
        for table in view.view_tables():
            found = view.query(f"SELECT * FROM {table}")
            rows[table] = sorted(tuple(str(v) for v in r.values()) for r in found)
    return rows


def random_tier_history(
    app: Ledger,
    rng: random.Random,
    *,
    clients: int,
    since: datetime,
    steps: int,
    prefix: str = "R",
    earlier: Iterable[str] = (),
) -> list[str]:
    """Registrations, tier changes, churns, reactivations and reassignments at random
    effective times from `since` to now, many of them backdated behind what the log
    already holds, several on one day and some on month and day boundaries. Commands the
    rules refuse are skipped: the log holds only what the ledger accepted. Steps pick
    among the new clients and the `earlier` ones; returns them all."""
    span = int((datetime.now(UTC) - since).total_seconds()) - 3600
    outlets = ("O1", "O2", "O3")

    def moment() -> datetime:
        at = since + timedelta(seconds=rng.randrange(span))
        if rng.random() < 0.2:  # on a month's or a day's first instant
            at = at.replace(day=1 if rng.random() < 0.5 else at.day, hour=0, minute=0, second=0)
        return at

    new = [f"{prefix}{n:03}" for n in range(clients)]
    ids = [*earlier, *new]
    for client_id in new:
        app.register_client(
            client_id=client_id,
            name=client_id,
            unit_id=rng.choice(outlets),
            tier=rng.choice(TIERS),
            occurred_at=since + timedelta(seconds=rng.randrange(span // 4)),
            recorded_by=BY,
        )
    for _ in range(steps):
        client_id, at, what = rng.choice(ids), moment(), rng.random()
        try:
            if what < 0.5:
                app.change_tier(
                    client_id=client_id,
                    tier=rng.choice(TIERS),
                    reason="r",
                    effective_at=at,
                    recorded_by=BY,
                )
            elif what < 0.65:
                app.churn(
                    client_id=client_id,
                    kind=rng.choice(("normal", "abnormal")),
                    reason="r",
                    effective_at=at,
                    recorded_by=BY,
                )
            elif what < 0.8:
                app.reactivate(client_id=client_id, reason="r", effective_at=at, recorded_by=BY)
            else:
                app.assign(
                    client_id=client_id,
                    staff_id=rng.choice(("M1", "M2", "M3")),
                    reason="r",
                    effective_at=at,
                    recorded_by=BY,
                )
        except LedgerError:
            continue
    return ids


def count_checkpoints(rows: Iterable[dict[str, Any]], rng: random.Random) -> list[datetime]:
    """Moments worth checking counts at: every interval boundary, a microsecond either side,
    the first instant of its day and month, and a few random ones."""
    moments: set[datetime] = set()
    for row in rows:
        for text in (row["valid_from"], row["valid_to"]):
            if text is None:
                continue
            at = datetime.fromisoformat(text).replace(tzinfo=UTC)
            tick = timedelta(microseconds=1)
            day_start = at.replace(hour=0, minute=0, second=0, microsecond=0)
            moments.update((at, at - tick, at + tick, day_start, day_start.replace(day=1)))
    picked = sorted(moments)
    return [*rng.sample(picked, min(len(picked), 150)), datetime.now(UTC)]


def counted_from_intervals(
    view: BatchView, unit_id: str, at: datetime, *, just_before: bool = False
) -> dict[str, int]:
    """The reference for the roster's tier counts: active clients per tier of the unit's
    subtree at `at` (or just before it), counted client by client from the intervals."""
    start, end = ("<", ">=") if just_before else ("<=", ">")
    moment = utc_text(at)
    rows = view.query(
        "SELECT i.tier AS tier, COUNT(*) AS n FROM roster_intervals i "
        "JOIN roster_clients c ON c.aid = i.aid "
        "JOIN roster_unit_paths u ON u.unit_id = c.unit_id AND u.ancestor_id = ? "
        f"WHERE i.valid_from {start} ? AND (i.valid_to IS NULL OR i.valid_to {end} ?) "
        "AND i.status = 'active' GROUP BY i.tier",
        (unit_id, moment, moment),
    )
    counts = dict.fromkeys(TIERS, 0)
    counts.update({row["tier"]: int(row["n"]) for row in rows})
    return counts


def assert_tier_counts_match_intervals(
    view: Any, units: Sequence[str], rng: random.Random, *, samples: int = 150
) -> int:
    """Compare the view's tier counts with `counted_from_intervals` at `samples` of the
    `count_checkpoints`, at and just before each; returns how many comparisons passed."""
    rows = view.query("SELECT valid_from, valid_to FROM roster_intervals")
    checked = 0
    for at in count_checkpoints(rows, rng)[:samples]:
        for just_before in (False, True):
            fast = view.tier_counts_of(units, at, just_before=just_before)
            for unit in units:
                slow = counted_from_intervals(view, unit, at, just_before=just_before)
                assert fast[unit] == slow, (unit, at, just_before)
                checked += 1
    return checked
