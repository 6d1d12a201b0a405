"""The roster view's tier counts against a count of the intervals themselves, over random
histories full of backdated events (in memory; the same check runs on SQLite and
PostgreSQL in tests/integration/test_projections.py)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from ledger.bootstrap import build
from ledger.config import Settings
from ledger.domain.values import TIERS
from ledger.projections.kit.tier_counts import interval_changes
from support.projection_scenarios import (
    assert_tier_counts_match_intervals,
    build_org,
    dump,
    random_tier_history,
)

UNITS = ["B", "D", "S", "S2", "O1", "O2", "O3"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_counts_equal_a_count_of_the_intervals_through_backdated_histories(seed: int) -> None:
    rng = random.Random(seed)
    since = datetime.now(UTC) - timedelta(days=500)
    container = build(Settings(database_url="memory://"))
    try:
        projections = container.start_projections(follow=False)
        build_org(container.ledger, since)
        # Three rounds, caught up after each: later rounds backdate into counted intervals.
        ids: list[str] = []
        for round_ in "abc":
            ids = random_tier_history(
                container.ledger, rng, clients=15, since=since, steps=60, prefix=round_, earlier=ids
            )
            projections.catch_up()
        view = container.views["roster"]
        assert assert_tier_counts_match_intervals(view, UNITS, rng) > 1000
        # A rebuild from the whole log gives exactly the same count rows.
        before = dump({"roster": container.views["roster"]})
        assert any(before["roster_tier_moments"])
        projections.rebuild(["roster"])
        assert dump({"roster": container.views["roster"]}) == before
    finally:
        container.close()


def test_a_view_without_counts_gets_them_from_its_intervals_at_start() -> None:
    since = datetime.now(UTC) - timedelta(days=300)
    container = build(Settings(database_url="memory://"))
    try:
        projections = container.start_projections(follow=False)
        build_org(container.ledger, since)
        random_tier_history(container.ledger, random.Random(9), clients=20, since=since, steps=80)
        projections.catch_up()
        view = container.views["roster"]
        kept = dump({"roster": view})
        with view.transaction() as c:
            for table in ("tier_moments", "tier_days", "tier_months"):
                c.execute(f"DELETE FROM roster_{table}")
        assert view.tier_counts("B", datetime.now(UTC)) == dict.fromkeys(TIERS, 0)
        view.upgrade()
        assert dump({"roster": view}) == kept
        view.upgrade()  # a second start changes nothing
        assert dump({"roster": view}) == kept
    finally:
        container.close()


def test_interval_changes_net_out_where_one_active_interval_follows_another() -> None:
    rows = [
        ("O1", "2025-01-01T00:00:00.000000", "2025-02-01T00:00:00.000000", "gold", "active"),
        ("O1", "2025-02-01T00:00:00.000000", "2025-03-01T00:00:00.000000", "gold", "active"),
        ("O1", "2025-03-01T00:00:00.000000", None, "gold", "churned"),
    ]
    net = {k: n for k, n in interval_changes(rows, 1).items() if n}
    assert net == {
        ("O1", "2025-01-01T00:00:00.000000", "gold"): 1,
        ("O1", "2025-03-01T00:00:00.000000", "gold"): -1,
    }
    assert {k: -n for k, n in interval_changes(rows, -1).items() if n} == net
