"""A runner that starts far behind the log (`ledger serve` on a store whose views are empty
or old) catches up as a rebuild does, in large batches, and only then follows the store; a
view failing meanwhile is set aside and retried, and `stop()` ends the catch-up."""

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger.bootstrap import Container
from ledger.domain import Client
from ledger.projections import following, recovery, runner
from ledger.projections.runner import ProjectionRunner
from support.projection_scenarios import BY, build_org, dump

NOW = datetime.now(UTC)


def _clients(container: Container, first: int, count: int) -> int:
    app = container.ledger
    for n in range(first, first + count):
        app.register_client(
            client_id=f"K{n:04}",
            name=f"k {n}",
            unit_id="O1",
            tier="gold",
            occurred_at=NOW - timedelta(days=30),
            recorded_by=BY,
        )
    return app.position


@pytest.fixture
def behind(container: Container, monkeypatch: pytest.MonkeyPatch) -> int:
    """A log of some 50 events no view has seen; following would take them 3 at a time."""
    build_org(container.ledger, NOW - timedelta(days=400))
    end = _clients(container, 0, 20)
    monkeypatch.setattr(following, "BATCH", 3)
    monkeypatch.setattr(following, "CATCH_UP_AT_LEAST", 6)
    return end


def _spy_following(projections: ProjectionRunner, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The last position of each batch following applied."""
    followed: list[int] = []
    apply = projections._apply

    def spying(notifications: Any, names: Any, after: int) -> None:
        followed.append(notifications[-1].id)
        apply(notifications, names, after)

    monkeypatch.setattr(projections, "_apply", spying)
    return followed


def test_a_runner_far_behind_catches_up_in_one_pass_then_follows(
    container: Container, behind: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    projections = container.start_projections(follow=False)
    followed = _spy_following(projections, monkeypatch)
    caught_up: list[int] = []
    advance = projections.advance

    def spying(names: list[str], *, following: bool = False) -> int:
        caught_up.append(advance(names, following=following))
        return caught_up[-1]

    monkeypatch.setattr(projections, "advance", spying)
    projections.start()
    assert projections.wait(behind, timeout=10)
    assert caught_up == [behind]
    assert followed == [], "following applied events the catch-up had"
    # Then it follows the store.
    later = _clients(container, 20, 1)
    assert projections.wait(later, timeout=10)
    assert followed and followed[-1] == later
    assert set(projections.positions().values()) == {later}
    incremental = dump(projections.views)
    projections.rebuild()
    assert dump(projections.views) == incremental


def test_a_runner_a_little_behind_follows_at_once(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_org(container.ledger, NOW - timedelta(days=400))
    projections = container.start_projections(follow=False)
    projections.catch_up()
    end = _clients(container, 0, 2)
    followed = _spy_following(projections, monkeypatch)
    projections.start()
    assert projections.wait(end, timeout=10)
    assert followed and followed[-1] == end


def test_a_view_failing_while_catching_up_is_set_aside_and_retried(
    container: Container, behind: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recovery, "RETRY_FIRST", 0.05)
    handlers = container.runner.projections["roster"].handlers
    register = handlers[Client.Registered]
    broken = threading.Event()
    broken.set()

    def faulty(event: Any, tracking: Any) -> None:
        if broken.is_set() and event.client_id == "K0007":
            raise ValueError("a bug in the roster")
        register(event, tracking)

    monkeypatch.setitem(handlers, Client.Registered, faulty)
    projections = container.start_projections()
    others = [name for name in projections.views if name != "roster"]
    # The others catch up and follow; the roster waits for its retry.
    assert projections.wait(behind, timeout=10, names=others)
    # Where and how it failed; the error's own text is for the log (`failure_text`).
    failure = projections.failures["roster"]
    assert failure.startswith("view roster stopped at position ") and failure.endswith(
        ": ValueError"
    )
    # A read waiting on it is told at once.
    assert not projections.wait(behind, timeout=10, names=["roster"])
    later = _clients(container, 20, 1)
    assert projections.wait(later, timeout=10, names=others)
    broken.clear()
    deadline = time.monotonic() + 10
    while "roster" in projections.failures and time.monotonic() < deadline:
        time.sleep(0.02)
    assert projections.failures == {}
    assert projections.wait(later, timeout=10)


def test_stop_ends_a_catch_up_between_batches_and_start_resumes_it(
    container: Container, behind: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "CATCH_UP_BATCH", 5)
    handlers = container.runner.projections["roster"].handlers
    register = handlers[Client.Registered]
    entered = threading.Event()

    def slow(event: Any, tracking: Any) -> None:
        entered.set()
        time.sleep(0.05)
        register(event, tracking)

    monkeypatch.setitem(handlers, Client.Registered, slow)
    projections = container.start_projections()
    assert entered.wait(10)
    projections.stop()
    assert not projections.is_running
    assert projections.positions()["roster"] < behind
    monkeypatch.setitem(handlers, Client.Registered, register)
    projections.start()
    assert projections.wait(behind, timeout=10)
    resumed = dump(projections.views)
    projections.rebuild()
    assert dump(projections.views) == resumed
