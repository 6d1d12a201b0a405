"""The demo generator: reproducible, realistic, and accepted by every rule of the ledger."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

from ledger.bootstrap import build
from ledger.config import Settings
from ledger.demo import load_demo, plan_demo

END = date(2026, 6, 30)


def test_the_same_seed_plans_the_same_year() -> None:
    _, first = plan_demo(seed=3, clients=200, end=END)
    _, second = plan_demo(seed=3, clients=200, end=END)
    _, other = plan_demo(seed=4, clients=200, end=END)
    first_steps = list(first)
    assert first_steps == list(second)
    assert first_steps != list(other)


def test_the_organisation_has_the_shape_of_a_branch() -> None:
    org, _ = plan_demo(seed=1, clients=1, end=END)
    kinds = Counter(kind for _, _, kind, _ in org.units)
    assert kinds == {"branch": 1, "department": 2, "sub_branch": 6, "outlet": 24}
    roles = Counter(role for *_, role in org.staff)
    assert 280 <= len(org.staff) <= 320
    assert roles["outlet_director"] == 24
    assert roles["client_manager"] > roles["vice_president"] > 0
    assert org.departures


def test_a_small_demo_loads_through_the_ledger_with_every_kind_of_event() -> None:
    container = build(Settings(database_url="memory://"))
    try:
        stats = load_demo(container.ledger, seed=5, clients=600, end=END)
        assert stats.clients == 600
        assert stats.events == container.ledger.position
        for kind in (
            "Registered",
            "Assigned",
            "ContactLogged",
            "TierChanged",
            "Churned",
            "Departed",
            "ProfileUpdated",
            "AssetsReported",
        ):
            assert stats.by_type.get(kind, 0) > 0, kind
        tiers = Counter(container.ledger.get_client(f"C{i:06d}").tier for i in range(0, 600, 3))
        assert tiers["standard"] > tiers["gold"] > tiers["platinum"]
    finally:
        container.close()


def test_the_demo_shows_gaps_risks_referrals_a_funnel_and_campaigns() -> None:
    container = build(Settings(database_url="memory://"))
    try:
        stats = load_demo(container.ledger, seed=5, clients=600, end=END)
        for kind in ("Recorded", "Dropped", "Held", "AssignmentAcknowledged"):
            assert stats.by_type.get(kind, 0) > 0, kind
        container.start_projections(follow=False).catch_up()
        views = container.views
        as_of = datetime(2026, 6, 29, tzinfo=UTC)
        assert views.maintenance.team_gaps("BR", as_of=as_of)["items"]
        board = views.maintenance.at_risk("BR", as_of=as_of, limit=1000)["items"]
        reasons = Counter(reason for item in board for reason in item["reasons"])
        assert {"contact_overdue", "team_gap", "assets_down"} <= reasons.keys()
        assert views.maintenance.unacknowledged_assignments("BR", older_than_days=7, as_of=as_of)[
            "items"
        ]
        year = (datetime(2025, 6, 30, tzinfo=UTC), as_of)
        assert views.maintenance.referrals("BR", *year)["total"]["clients"] > 0
        funnel = views.reports.funnel("BR", *year)["by_source"]
        assert any(stage["converted"] and stage["dropped"] for stage in funnel.values())
        assert views.reports.complaints("BR", *year)["items"]
    finally:
        container.close()
