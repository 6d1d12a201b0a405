"""Catching up: what is deserialised, and the process state a catch-up leaves behind."""

import gc
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger.bootstrap import PROJECTIONS, Container
from ledger.domain import Client
from ledger.projections import reading, rebuild, runner
from ledger.projections.runner import ProjectionRunner
from support.projection_scenarios import BY, build_org, dump

NOW = datetime.now(UTC)


def _ledger_with_a_contact(container: Container) -> int:
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
    return app.log_contact(
        client_id="G",
        channel="visit",
        staff_id="M1",
        occurred_at=NOW - timedelta(days=10),
        recorded_by=BY,
    ).position


def _count_deserialised(container: Container, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    mapper = container.ledger.mapper
    seen: Counter[str] = Counter()
    original = mapper.to_domain_event

    def counting(stored: Any) -> Any:
        seen[stored.topic.rpartition(":")[2]] += 1
        return original(stored)

    monkeypatch.setattr(mapper, "to_domain_event", counting)
    return seen


def test_a_rebuild_deserialises_only_the_events_its_views_use(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    end = _ledger_with_a_contact(container)
    projections: ProjectionRunner = container.start_projections(follow=False)
    seen = _count_deserialised(container, monkeypatch)

    assert projections.rebuild(["roster"]) == end
    assert seen["Client.Registered"] == 1
    assert seen["Client.ContactLogged"] == 0
    assert seen["Staff.Joined"] == 0
    # Positions still move past the events no view of the rebuild wanted.
    assert projections.positions()["roster"] == end

    projections.rebuild(["reports"])
    assert seen["Client.ContactLogged"] == 1
    assert container.views.roster.roster("O1", as_of=NOW)["items"][0]["client_id"] == "G"
    assert container.views.reports.overdue_contacts("O1", as_of=NOW)["items"] == []


def test_a_catch_up_leaves_the_garbage_collector_as_it_found_it(container: Container) -> None:
    _ledger_with_a_contact(container)
    projections = container.start_projections(follow=False)
    assert gc.isenabled()
    projections.rebuild()
    assert gc.isenabled()
    gc.disable()
    try:
        projections.rebuild()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_following_runner_deserialises_only_what_its_views_use(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The audit log keeps every event; the other views only what they use.
    container.view_names = [name for name in container.view_names if name != "audit"]
    end = _ledger_with_a_contact(container)
    projections: ProjectionRunner = container.start_projections()
    assert projections.wait(end, timeout=10)
    seen = _count_deserialised(container, monkeypatch)
    issued, _ = container.ledger.issue_api_key(
        role="auditor", staff_id=None, label="a", recorded_by=BY
    )
    contact = container.ledger.log_contact(
        client_id="G", channel="visit", staff_id="M1", occurred_at=NOW, recorded_by=BY
    )
    assert projections.wait(contact.position, timeout=10)
    assert seen["Client.ContactLogged"] >= 1  # the views' (and the ledger's own reads)
    assert seen["ApiKey.Issued"] == 0  # no view but the audit log has a use for it
    assert min(projections.positions().values()) == contact.position > issued.position


def test_a_failing_catch_up_turns_the_garbage_collector_back_on(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    _ledger_with_a_contact(container)
    projections = container.start_projections(follow=False)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("view broke")

    monkeypatch.setitem(projections.projections["roster"].handlers, Client.Registered, broken)
    with pytest.raises(RuntimeError, match="view broke"):
        projections.catch_up(["roster"])
    assert gc.isenabled()


def test_small_read_batches_give_the_same_rows_and_positions(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    end = _ledger_with_a_contact(container)
    container.ledger.change_tier(
        client_id="G", tier="platinum", reason="r", effective_at=NOW, recorded_by=BY
    )
    end = container.ledger.log_contact(
        client_id="G", channel="visit", staff_id="M1", occurred_at=NOW, recorded_by=BY
    ).position
    projections = container.start_projections(follow=False)
    assert projections.rebuild() == end
    whole = dump(projections.views)
    monkeypatch.setattr(runner, "CATCH_UP_BATCH", 2)
    assert projections.rebuild() == end
    assert dump(projections.views) == whole
    for name in projections.views:
        assert projections.rebuild([name]) == end
    assert dump(projections.views) == whole
    assert set(projections.positions().values()) == {end}


def test_prospects_closed_in_the_batch_that_found_them_or_a_later_one_alike(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = container.ledger
    build_org(app, NOW - timedelta(days=400))
    for n in range(4):
        app.record_prospect(
            prospect_id=f"P{n}",
            name="p",
            unit_id="O1",
            source="media",
            owner_staff_id="M1",
            occurred_at=NOW - timedelta(days=10),
            recorded_by=BY,
        )
    app.convert_prospect(prospect_id="P0", client_id="PC0", occurred_at=NOW, recorded_by=BY)
    app.drop_prospect(prospect_id="P2", reason="r", effective_at=NOW, recorded_by=BY)
    app.convert_prospect(prospect_id="P3", client_id="PC3", occurred_at=NOW, recorded_by=BY)
    end = app.position
    projections = container.start_projections(follow=False)
    assert projections.rebuild(["reports"]) == end
    whole = dump(projections.views)
    outcomes = sorted(
        (row["prospect_id"], row["outcome"], row["client_id"])
        for row in projections.views["reports"].query("SELECT * FROM reports_prospects")
    )
    assert outcomes == [
        ("P0", "converted", "PC0"),
        ("P1", None, None),
        ("P2", "dropped", None),
        ("P3", "converted", "PC3"),
    ]
    monkeypatch.setattr(runner, "CATCH_UP_BATCH", 1)
    assert projections.rebuild(["reports"]) == end
    assert dump(projections.views) == whole


def _threads(monkeypatch: pytest.MonkeyPatch) -> dict[str, set[str]]:
    """The threads that read the log, and those that apply it, from then on."""
    seen: dict[str, set[str]] = {"reading": set(), "applying": set()}
    applying, reading_log = ProjectionRunner._apply_to, reading.deserialise

    def apply(self: ProjectionRunner, name: str, items: Any, after: int) -> None:
        seen["applying"].add(threading.current_thread().name)
        applying(self, name, items, after)

    def read(*args: Any) -> Any:
        seen["reading"].add(threading.current_thread().name)
        return reading_log(*args)

    monkeypatch.setattr(ProjectionRunner, "_apply_to", apply)
    monkeypatch.setattr(reading, "deserialise", read)
    return seen


def test_views_on_sqlite_are_caught_up_in_turn_and_the_log_read_in_the_catching_thread(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    end = _ledger_with_a_contact(container)
    projections = container.start_projections(follow=False)
    seen = _threads(monkeypatch)
    assert projections.rebuild() == end
    here = {threading.current_thread().name}
    assert seen == {"reading": here, "applying": here}


def test_views_not_caught_up_in_turn_get_a_thread_each_and_the_log_is_read_ahead(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    end = _ledger_with_a_contact(container)
    projections = container.start_projections(follow=False)
    for view in projections.views.values():
        monkeypatch.setattr(type(view), "caught_up_in_turn", False)
    seen = _threads(monkeypatch)
    assert projections.rebuild() == end
    assert seen["reading"] == {"catch-up"}
    assert seen["applying"] and all(name.startswith("view") for name in seen["applying"])


def test_a_rebuild_in_processes_shares_the_views_out_by_their_work() -> None:
    assert sorted(rebuild.REBUILD_WEIGHTS) == sorted(PROJECTIONS)
    every = list(PROJECTIONS)
    assert rebuild.rebuild_groups(every, 1) == [
        ["maintenance", "reports", "audit", "roster", "accountability"]
    ]
    # Two cores: each the longest left to the one with less work so far.
    assert rebuild.rebuild_groups(every, 2) == [
        ["maintenance", "roster"],
        ["reports", "audit", "accountability"],
    ]
    assert rebuild.rebuild_groups(every, 8) == [
        ["maintenance"],
        ["reports"],
        ["audit"],
        ["roster"],
        ["accountability"],
    ]
    assert rebuild.rebuild_groups(["accountability"], 2) == [["accountability"]]
    # A view not yet weighed counts as the heaviest rather than failing the rebuild.
    assert rebuild.rebuild_groups(["roster", "new"], 2) == [["new"], ["roster"]]
    assert rebuild.usable_cores() >= 1


def test_a_view_named_twice_is_rebuilt_once(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def together(names: list[str]) -> int:
        seen.append(names)
        return 7

    monkeypatch.setattr(rebuild, "usable_cores", lambda: 1)
    # One core: one pass in this process, no process started.
    assert rebuild.rebuild_in_processes(["reports", "roster", "reports"], together) == {
        "reports": 7,
        "roster": 7,
    }
    assert seen == [["reports", "roster"]]


def _batch_limits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of events each catch-up's batches take, from then on."""
    limits: list[int] = []
    original = runner.ReadAhead

    def reading_ahead(app: Any, start: int, topics: Any, limit: int, **kwargs: Any) -> Any:
        limits.append(limit)
        return original(app, start, topics, limit, **kwargs)

    monkeypatch.setattr(runner, "ReadAhead", reading_ahead)
    return limits


def test_a_process_of_more_views_catches_up_in_smaller_batches(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each view holds its rows of a batch until it commits: the events a batch takes are
    shared out over the views caught up together, up to `CATCH_UP_BATCH`."""
    end = _ledger_with_a_contact(container)
    projections = container.start_projections(follow=False)
    limits = _batch_limits(monkeypatch)
    monkeypatch.setattr(runner, "CATCH_UP_VIEW_EVENTS", 12)
    monkeypatch.setattr(runner, "CATCH_UP_BATCH", 7)
    whole = None
    for names in (["roster"], ["roster", "audit"], ["roster", "audit", "reports"], None):
        assert projections.rebuild(names) == end
        if names is None:
            whole = dump(projections.views)
    # Capped for one view, shared out for more.
    assert limits == [7, 6, 4, 12 // len(projections.views)]
    monkeypatch.setattr(runner, "CATCH_UP_VIEW_EVENTS", 1000)
    monkeypatch.setattr(runner, "CATCH_UP_BATCH", 1000)
    assert projections.rebuild() == end
    assert dump(projections.views) == whole


def test_views_caught_up_reading_ahead_keep_the_batches_they_were_measured_with(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading ahead (views in threads: PostgreSQL's) holds three batches at once, not one:
    those take at most `CATCH_UP_AHEAD` events (`CATCH_UP_AHEAD_ALONE` for a view alone),
    whatever the larger batches views caught up in turn take."""
    end = _ledger_with_a_contact(container)
    projections = container.start_projections(follow=False)
    assert projections.rebuild() == end
    whole = dump(projections.views)
    for view in projections.views.values():
        monkeypatch.setattr(type(view), "caught_up_in_turn", False)
    limits = _batch_limits(monkeypatch)
    monkeypatch.setattr(runner, "CATCH_UP_VIEW_EVENTS", 12)
    monkeypatch.setattr(runner, "CATCH_UP_BATCH", 7)
    monkeypatch.setattr(runner, "CATCH_UP_AHEAD", 3)
    monkeypatch.setattr(runner, "CATCH_UP_AHEAD_ALONE", 6)
    for names in (["roster"], ["roster", "audit"], ["roster", "audit", "reports"], None):
        assert projections.rebuild(names) == end
    assert limits == [6, 3, 3, 2]
    assert dump(projections.views) == whole
