from datetime import UTC, datetime, timedelta

from ledger.bootstrap import build
from ledger.config import Settings
from support import READ_MODELS
from support.projection_scenarios import BY, build_org

NOW = datetime.now(UTC)


def test_a_container_works_without_projections() -> None:
    container = build(Settings(database_url="memory://"))
    try:
        assert not container.views_built
    finally:
        container.close()


def test_projections_follow_the_in_memory_store_and_answer_after_a_write() -> None:
    container = build(Settings(database_url="memory://", cadence_days="gold=30"))
    try:
        projections = container.start_projections()
        app = container.ledger
        build_org(app, NOW - timedelta(days=400))
        app.register_client(
            client_id="G",
            name="g",
            unit_id="O1",
            tier="gold",
            occurred_at=NOW - timedelta(days=100),
            recorded_by=BY,
        )
        contact = app.log_contact(
            client_id="G",
            channel="wechat",
            staff_id="M1",
            occurred_at=NOW - timedelta(days=10),
            recorded_by=BY,
        )
        assert projections.wait(contact.position, timeout=10)
        assert container.views.reports.overdue_contacts("B", as_of=NOW)["items"] == []
        # The cadence setting reaches the view: 30 days for gold.
        later = container.views.reports.overdue_contacts("B", as_of=NOW + timedelta(days=25))
        assert [(i["client_id"], i["days_overdue"]) for i in later["items"]] == [("G", 5)]
        positions = projections.positions()
        assert set(positions) == set(READ_MODELS)
        assert min(positions.values()) >= contact.position
    finally:
        container.close()


def test_the_container_finds_a_case_s_client_waiting_for_a_churn_not_yet_projected() -> None:
    container = build(Settings(database_url="memory://"))
    try:
        app = container.ledger
        build_org(app, NOW - timedelta(days=400))
        app.register_client(
            client_id="C",
            name="c",
            unit_id="O1",
            tier="gold",
            occurred_at=NOW - timedelta(days=100),
            recorded_by=BY,
        )
        churn = app.churn(
            client_id="C", kind="abnormal", reason="r", effective_at=NOW, recorded_by=BY
        )
        assert list(container.views) == [
            "roster",
            "accountability",
            "reports",
            "audit",
            "maintenance",
        ]
        # Nothing follows the store yet: the case is unknown, and waiting does not help.
        assert container.client_of_case(churn.event_id, after=None, timeout=0.1) is None
        assert container.client_of_case(churn.event_id, after=churn.position, timeout=0.1) is None
        container.start_projections()
        # The case id is the churn's event id; the lookup waits for the churn's position.
        assert container.client_of_case(churn.event_id, after=churn.position, timeout=10) == "C"
        assert container.client_of_case("nonsense", after=churn.position, timeout=0.1) is None
    finally:
        container.close()
