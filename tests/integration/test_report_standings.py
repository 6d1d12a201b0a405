"""Completeness, overdue contacts, orphaned clients and complaints read kept standings (and
complaints kept per unit) where they can; they must answer exactly as folding every client
of the subtree does (how they answered before standings were kept), at times before, at and
after the latest events, as known now and at past times, after backdated, future-dated and
retracting events and a departure, on SQLite and PostgreSQL; a view built before standings
were kept works them out at its next start; a rebuild keeps the rows following kept."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger.bootstrap import Container, build
from ledger.config import Settings
from ledger.projections import report_pages
from ledger.projections.reports import SQLReportsView
from support.demo_per_class import PostgresDemoPerClass, SQLiteDemoPerClass, demo_container
from support.projection_scenarios import dump

TABLES = (
    "reports_standing",
    "reports_completeness",
    "reports_overdue",
    "reports_orphans",
    "reports_unit_complaints",
)
BY = "test"


def every_page(read: Callable[[str | None], dict[str, Any]]) -> list[Any]:
    items, cursor = [], None
    while True:
        page = read(cursor)
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def answers(view: SQLReportsView, at: datetime, known_at: datetime | None) -> dict[str, Any]:
    """The three reports of the branch and of a sub-branch, every page (of 2 or 7 items:
    pages of 2 end inside a day of overdue contacts)."""
    found: dict[str, Any] = {}
    for unit in ("BR", "BR-D1-S2"):
        found[f"{unit} completeness"] = view.completeness(unit, as_of=at, known_at=known_at)
        found[f"{unit} overdue"] = every_page(
            lambda c, u=unit: view.overdue_contacts(
                u, as_of=at, known_at=known_at, limit=2, cursor=c
            )
        )
        found[f"{unit} overdue unpaged"] = view.overdue_contacts(unit, as_of=at, known_at=known_at)[
            "items"
        ]
        for days in (30, 365):
            found[f"{unit} complaints {days}"] = view.complaints(
                unit, at - timedelta(days=days), at, known_at
            )
        found[f"{unit} orphaned"] = every_page(
            lambda c, u=unit: view.orphaned_clients(
                u, as_of=at, known_at=known_at, limit=7, cursor=c
            )
        )
    return found


def folded(view: SQLReportsView, at: datetime, known_at: datetime | None) -> dict[str, Any]:
    """`answers` folding every client of the subtree, whatever its standing."""
    view.standings.kept = lambda: False  # type: ignore[method-assign]
    try:
        return answers(view, at, known_at)
    finally:
        del view.standings.kept


def current(view: SQLReportsView) -> list[dict[str, Any]]:
    """Active clients with their designated manager and tier, as the view holds them now."""
    return view.query(
        "SELECT c.client_id AS client_id, i.tier AS tier, i.manager AS manager, "
        "c.unit_id AS unit_id FROM reports_intervals i JOIN reports_clients c ON c.aid = i.aid "
        "WHERE i.valid_to IS NULL AND i.status = 'active' AND i.manager IS NOT NULL "
        "ORDER BY c.client_id"
    )


def change_things(container: Container) -> dict[str, datetime]:
    """Backdated, future-dated and retracting events and a departure, after the demo; the
    times before and between them."""
    app, view = container.ledger, container.views.reports
    now = datetime.now(UTC)
    clients = current(view)
    vip = [c for c in clients if c["tier"] != "standard"]
    times = {"before": datetime.now(UTC)}
    time.sleep(0.01)
    first, second, third, fourth = vip[:4]
    contact = app.log_contact(
        client_id=first["client_id"],
        channel="phone",
        staff_id=first["manager"],
        occurred_at=now - timedelta(days=3),
        recorded_by=BY,
    )
    app.change_tier(
        client_id=second["client_id"],
        tier="diamond",
        reason="backdated",
        effective_at=now - timedelta(days=50),
        recorded_by=BY,
    )
    app.update_profile(
        client_id=fourth["client_id"],
        changes={"address": "1 Road", "phone": "123", "employer": "Co"},
        effective_at=now - timedelta(days=40),
        recorded_by=BY,
    )
    # Five clients of one tier contacted within the same day, the later the lower their
    # id: a report 120 days on finds them as many days overdue, and falling due in the
    # opposite order to the one it lists them in.
    tier = max(("gold", "platinum", "diamond"), key=lambda t: sum(c["tier"] == t for c in vip))
    same = [c for c in vip[4:] if c["tier"] == tier][:5]
    assert len(same) == 5
    for hours, client in enumerate(same, start=1):
        app.log_contact(
            client_id=client["client_id"],
            channel="phone",
            staff_id=client["manager"],
            occurred_at=now - timedelta(hours=hours),
            recorded_by=BY,
        )
    app.log_contact(
        client_id=fourth["client_id"],
        channel="visit",
        staff_id=fourth["manager"],
        occurred_at=now - timedelta(days=30),
        summary="slow answers",
        complaint=True,
        recorded_by=BY,
    )
    container.start_projections(follow=False).catch_up()
    time.sleep(0.01)
    times["between"] = datetime.now(UTC)
    # A reassignment dated before the complaint: it was the new manager's client then.
    app.assign(
        client_id=fourth["client_id"],
        staff_id=first["manager"],
        reason="backdated",
        effective_at=now - timedelta(days=45),
        recorded_by=BY,
    )
    time.sleep(0.01)
    app.retract(
        client_id=first["client_id"],
        event_id=str(contact.event_id),
        reason="wrong client",
        recorded_by=BY,
    )
    app.log_contact(
        client_id=third["client_id"],
        channel="visit",
        staff_id=third["manager"],
        occurred_at=now + timedelta(minutes=4),  # dated ahead: folded until then
        recorded_by=BY,
    )
    held = [c for c in clients if c["manager"] == clients[-1]["manager"]]
    assert held
    app.depart_staff(
        staff_id=clients[-1]["manager"],
        reason="left",
        effective_at=now - timedelta(days=20),
        recorded_by=BY,
    )
    app.depart_staff(
        staff_id=clients[len(clients) // 2]["manager"],
        reason="leaving",
        effective_at=now + timedelta(minutes=4),
        recorded_by=BY,
    )
    container.start_projections(follow=False).catch_up()
    return times


class StandingsContract:
    """One demo per class (it takes seconds to build): the tests that change it come last,
    and each leaves the view answering as before."""

    @pytest.fixture(scope="class")
    @classmethod
    def demo(cls, database_url: str) -> Iterator[tuple[Container, dict[str, datetime]]]:
        with demo_container(database_url) as container:
            yield container, change_things(container)

    def test_the_kept_standings_answer_as_folding_every_client(
        self, demo: tuple[Container, dict[str, datetime]]
    ) -> None:
        container, times = demo
        view = container.views.reports
        now = datetime.now(UTC)
        for known_at in (None, times["before"], times["between"]):
            for at in (
                now,
                now - timedelta(days=30),
                now - timedelta(days=200),
                now + timedelta(days=60),
                now + timedelta(days=120),
            ):
                kept = answers(view, at, known_at)
                assert kept == folded(view, at, known_at), (at, known_at)
                assert kept["BR completeness"]["vip_active"] > 0
                assert kept["BR overdue"] and kept["BR overdue"] == kept["BR overdue unpaged"]
                assert kept["BR complaints 365"]["items"]
        assert answers(view, now, None)["BR orphaned"]
        assert (
            answers(view, now + timedelta(days=60), None)["BR orphaned"]
            != (answers(view, now, None)["BR orphaned"])
        )

    def test_past_a_few_thousand_changed_clients_the_whole_subtree_is_folded(
        self, demo: tuple[Container, dict[str, datetime]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        container, times = demo
        view, at = container.views.reports, datetime.now(UTC) - timedelta(days=200)
        monkeypatch.setattr(report_pages, "FOLD_ALL", 5)
        assert view._unsettled("BR", at, None) is None
        assert answers(view, at, times["before"]) == folded(view, at, times["before"])

    def test_a_rebuild_keeps_the_rows_following_kept(
        self, demo: tuple[Container, dict[str, datetime]]
    ) -> None:
        container, _ = demo
        view = container.views.reports
        followed = dump({"reports": view})
        assert all(followed[table] for table in TABLES)
        container.runner.rebuild(["reports"])
        assert dump({"reports": view}) == followed

    def test_a_view_built_before_standings_works_them_out_at_start(
        self, demo: tuple[Container, dict[str, datetime]], database_url: str
    ) -> None:
        container, _ = demo
        view = container.views.reports
        at = datetime.now(UTC)
        before, rows = answers(view, at, None), dump({"reports": view})
        with view.transaction() as c:
            for table in TABLES:
                c.execute(f"DELETE FROM {table}")
        assert answers(view, at, None) != before
        with view.transaction() as c:
            c.execute("DROP TABLE reports_report_standings_kept")
        again = build(Settings(database_url=database_url))
        try:
            restarted = again.views.reports
            assert answers(restarted, at, None) == before
            assert dump({"reports": restarted}) == rows
        finally:
            again.close()


class TestStandingsOnSQLite(SQLiteDemoPerClass, StandingsContract):
    pass


class TestStandingsOnPostgres(PostgresDemoPerClass, StandingsContract):
    pass
