"""The audit read model in memory: every event class of every aggregate is kept, each
event under its client and unit (a staff member's unit follows a transfer), and pages
follow the log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ledger.bootstrap import Container
from ledger.domain import Client, Staff, Unit
from ledger.domain.base import LedgerAggregate
from ledger.projections import audit
from ledger.projections.audit import AGGREGATES, AuditQuery, AuditView, event_classes
from support.projection_scenarios import BY, build_org, dump

NOW = datetime.now(UTC)


def paged_positions(view: AuditView, query: AuditQuery, limit: int) -> list[int]:
    """The positions of every page of `query`, following the cursors."""
    positions: list[int] = []
    cursor = None
    while True:
        page = view.events(query, limit=limit, cursor=cursor)
        positions += [e["position"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return positions


def test_every_event_class_is_kept() -> None:
    kept = event_classes()
    assert {Client.ChurnDetermined, Staff.Transferred, Unit.HeadAppointed} <= set(kept)
    assert kept[Client.ContactLogged] is Client


def test_every_aggregate_of_the_ledger_is_kept() -> None:
    def subclasses(cls: type) -> set[type]:
        return {sub for direct in cls.__subclasses__() for sub in {direct, *subclasses(direct)}}

    assert subclasses(LedgerAggregate) <= set(AGGREGATES)


def test_a_prospects_events_are_kept_under_its_unit(container: Container) -> None:
    app = container.ledger
    build_org(app, NOW - timedelta(days=400))
    app.record_prospect(
        prospect_id="PR1",
        name="p",
        unit_id="O3",
        source="media",
        owner_staff_id="M2",
        occurred_at=NOW,
        recorded_by=BY,
    )
    converted = app.convert_prospect(
        prospect_id="PR1", client_id="PC1", occurred_at=NOW, recorded_by=BY
    )
    projections = container.start_projections()
    assert projections.wait(converted.position, timeout=10)
    page = container.views.audit.events(AuditQuery(unit_id="S2"), limit=1000)["items"]
    kept = [(e["aggregate_type"], e["aggregate_id"], e["type"]) for e in page]
    assert ("Prospect", "PR1", "Recorded") in kept
    assert ("Prospect", "PR1", "Converted") in kept


def test_events_are_kept_under_their_client_and_unit(container: Container) -> None:
    app = container.ledger
    build_org(app, NOW - timedelta(days=400))
    app.register_client(
        client_id="G", name="g", unit_id="O3", tier="gold", occurred_at=NOW, recorded_by=BY
    )
    moved = app.transfer_staff(
        staff_id="M2", unit_id="O3", effective_at=NOW - timedelta(days=1), recorded_by=BY
    )
    projections = container.start_projections()
    assert projections.wait(moved.position, timeout=10)
    view = container.views.audit

    def ids(query: AuditQuery) -> list[str]:
        return [e["aggregate_id"] for e in view.events(query, limit=1000)["items"]]

    assert ids(AuditQuery(client_id="G")) == ["G"]
    in_s2 = ids(AuditQuery(unit_id="S2"))
    assert in_s2.count("O3") == 1 and "G" in in_s2
    # A staff member's events are kept under its unit: M2's transfer under O3, its joining
    # under O1, outside S2.
    assert ids(AuditQuery(unit_id="S2", type="Transferred")) == ["M2"]
    assert "M2" not in ids(AuditQuery(unit_id="S2", type="Joined"))
    late = view.events(AuditQuery(late_by_days=300), limit=1000)["items"]
    assert {e["type"] for e in late} == {"Joined", "HeadAppointed"}


def test_pages_follow_the_log(container: Container) -> None:
    app = container.ledger
    build_org(app, NOW - timedelta(days=400))
    projections = container.start_projections()
    assert projections.wait(app.position, timeout=10)
    view = container.views.audit
    every = view.events(AuditQuery(), limit=1000)
    assert every["next_cursor"] is None
    positions = paged_positions(view, AuditQuery(), limit=3)
    assert positions == [e["position"] for e in every["items"]] == list(range(1, app.position + 1))


def test_a_time_ranges_pages_follow_the_log_late_entries_in_their_place(
    container: Container,
) -> None:
    app = container.ledger
    build_org(app, NOW - timedelta(days=400))
    week = NOW - timedelta(days=30)
    for n in range(7):
        app.register_client(
            client_id=f"W{n}",
            name="w",
            unit_id="O1",
            tier="gold",
            # Entered out of effective order: the range's index order is not the log's.
            occurred_at=week + timedelta(days=(n * 3) % 7, hours=1),
            recorded_by=BY,
        )
    app.register_client(
        client_id="OUT", name="o", unit_id="O1", tier="gold", occurred_at=NOW, recorded_by=BY
    )
    projections = container.start_projections()
    assert projections.wait(app.position, timeout=10)
    view = container.views.audit
    query = AuditQuery(effective_from=week, effective_to=week + timedelta(days=7))
    every = view.events(query, limit=1000)["items"]
    assert [e["aggregate_id"] for e in every] == [f"W{n}" for n in range(7)]
    positions = paged_positions(view, query, limit=2)
    assert positions == sorted(positions) == [e["position"] for e in every]


def test_the_trail_keeps_few_aggregates_in_memory_and_the_same_rows(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = container.ledger
    build_org(app, NOW - timedelta(days=400))
    for n in range(6):
        app.register_client(
            client_id=f"K{n}", name="k", unit_id="O1", tier="gold", occurred_at=NOW, recorded_by=BY
        )
    # Each client's later events come after the others' first: each is looked up again.
    for n in range(6):
        app.change_tier(
            client_id=f"K{n}", tier="platinum", reason="r", effective_at=NOW, recorded_by=BY
        )
    app.transfer_staff(staff_id="M2", unit_id="O3", effective_at=NOW, recorded_by=BY)
    runner = container.start_projections(follow=False)
    runner.catch_up(["audit"])
    kept = dump({"audit": container.views.audit})
    monkeypatch.setattr(audit, "KNOWN_KEPT", 3)
    runner.rebuild(["audit"])
    trail = runner.projections["audit"].view.trail  # type: ignore[attr-defined]
    assert 0 < len(trail.known) <= 3
    assert dump({"audit": container.views.audit}) == kept
