"""The roster's pages of a large subtree read its members in client id order and stop at
the page's end (no sort of the whole subtree), in a view that kept them as it went, in one
rebuilt, and in one built before they were kept."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ledger.bootstrap import Container, build
from ledger.config import Settings
from support.projection_scenarios import BY, build_org

NOW = datetime.now(UTC)
# Ids not in registration order, over three outlets of two sub-branches.
CLIENTS = [(f"C{(n * 7919) % 100:03d}", ("O1", "O2", "O3")[n % 3]) for n in range(60)]


def _ledger(url: str) -> Container:
    container = build(Settings(database_url=url))
    app = container.ledger
    build_org(app, NOW - timedelta(days=400))
    for client_id, unit in CLIENTS:
        app.register_client(
            client_id=client_id,
            name=client_id.lower(),
            unit_id=unit,
            tier="gold",
            occurred_at=NOW - timedelta(days=100),
            recorded_by=BY,
        )
    app.churn(
        client_id=CLIENTS[0][0],
        kind="normal",
        reason="moved",
        effective_at=NOW - timedelta(days=5),
        recorded_by=BY,
    )
    return container


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/ledger.db"


def _every_page(container: Container, unit: str, **filters: Any) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = container.views.roster.roster(unit, limit=7, cursor=cursor, **filters)
        ids += [row["client_id"] for row in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


def _expected(units: set[str], *, active_only: bool = False) -> list[str]:
    return sorted(c for c, u in CLIENTS if u in units and not (active_only and c == CLIENTS[0][0]))


def _check_roster(container: Container) -> None:
    assert _every_page(container, "B") == _expected({"O1", "O2", "O3"})
    assert _every_page(container, "S") == _expected({"O1", "O2"})
    assert _every_page(container, "O3") == _expected({"O3"})
    assert _every_page(container, "B", status="active") == _expected(
        {"O1", "O2", "O3"}, active_only=True
    )
    past = container.views.roster.roster("B", as_of=NOW - timedelta(days=200))
    assert past["items"] == []


def test_a_branch_page_reads_members_in_order_without_sorting_the_subtree(url: str) -> None:
    container = _ledger(url)
    try:
        container.start_projections(follow=False).catch_up()
        _check_roster(container)
        view = container.views.roster
        plan = view.query(
            "EXPLAIN QUERY PLAN SELECT c.client_id "
            f"{view.intervals.members_join()}WHERE m.ancestor_id = ? AND "
            f"{view.intervals.in_force()} ORDER BY m.client_id LIMIT 51",
            ("B", NOW.isoformat(), NOW.isoformat()),
        )
        steps = " | ".join(str(row["detail"]) for row in plan)
        assert "TEMP B-TREE" not in steps, steps
        assert "roster_members" in steps, steps
    finally:
        container.close()


def test_a_rebuilt_view_and_one_built_before_members_were_kept_answer_the_same(
    url: str,
) -> None:
    container = _ledger(url)
    try:
        runner = container.start_projections(follow=False)
        runner.rebuild(["roster"])
        _check_roster(container)
        with container.views.roster.transaction() as c:
            c.execute("DROP TABLE roster_members")
    finally:
        container.close()
    again = build(Settings(database_url=url))  # starts on the older view: upgrades it
    try:
        again.start_projections(follow=False).catch_up()
        _check_roster(again)
    finally:
        again.close()
