"""Following the store: a save wakes the follower at once, and a stream of saves is pulled
in batches, not one pull per save (SQLite's polling follower, PostgreSQL's LISTEN/NOTIFY)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ledger.application import Ledger
from ledger.bootstrap import build
from ledger.config import Settings
from ledger.store.pulls import SpacedPulls
from ledger.store.sqlite import PollingSubscription
from support.scenario import NOW, STAFF_SINCE, Bank, Clock, build_bank, register


@pytest.fixture
def ledger(sqlite_url: str) -> Iterator[Ledger]:
    container = build(Settings(database_url=sqlite_url), clock=Clock())
    yield container.ledger
    container.close()


@pytest.fixture
def bank(ledger: Ledger) -> Bank:
    return build_bank(ledger, staff_since=STAFF_SINCE)


def follow(ledger: Ledger, **kwargs: float) -> tuple[PollingSubscription, list[int], list[int]]:
    """A subscription from the current head, counting its pulls and collecting positions."""
    subscription = PollingSubscription(ledger.recorder, gt=ledger.position, **kwargs)  # type: ignore[arg-type]
    return subscription, *counted(subscription)


def counted(subscription: Any) -> tuple[list[int], list[int]]:
    """Counts the subscription's pulls, and collects the positions it yields."""
    pulls: list[int] = []
    pull = subscription._pull

    def counting_pull() -> None:
        pulls.append(1)
        pull()

    subscription._pull = counting_pull  # type: ignore[method-assign]
    seen: list[int] = []
    threading.Thread(target=lambda: seen.extend(n.id for n in subscription), daemon=True).start()
    return pulls, seen


def wait_for(condition: object, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.005)


def test_an_idle_follower_sees_a_local_save_at_once(ledger: Ledger, bank: Bank) -> None:
    subscription, _, seen = follow(ledger, poll_interval=60)
    try:
        time.sleep(0.1)
        client = register(ledger, bank, at=NOW)
        # Within wait_for's 5 s, not the 60 s poll: the save woke the follower.
        wait_for(lambda: ledger.position in seen)
        assert ledger.position in seen, client
    finally:
        subscription.stop()


def assert_pulled_in_batches(
    ledger: Ledger, bank: Bank, pulls: list[int], seen: list[int], *, saves: int, gap: float
) -> None:
    """`saves` registrations in a row reach the follower, which pulled at most once per
    `gap` meanwhile: far fewer pulls than saves."""
    time.sleep(gap + 0.05)  # the first pull, from the subscription's start, is not counted
    pulls.clear()
    started = time.monotonic()
    for _ in range(saves):
        register(ledger, bank, at=NOW)
    elapsed = time.monotonic() - started
    wait_for(lambda: ledger.position in seen)
    assert ledger.position in seen
    assert len(pulls) <= elapsed / gap + 2 < saves


def test_a_stream_of_saves_is_pulled_in_batches(ledger: Ledger, bank: Bank) -> None:
    subscription, pulls, seen = follow(ledger, poll_interval=60, pull_gap=0.05)
    try:
        assert_pulled_in_batches(ledger, bank, pulls, seen, saves=40, gap=0.05)
        assert seen == sorted(set(seen))
    finally:
        subscription.stop()


def test_the_postgres_follower_pulls_a_stream_of_saves_in_batches(postgres_url: str) -> None:
    container = build(Settings(database_url=postgres_url), clock=Clock())
    ledger = container.ledger
    try:
        bank = build_bank(ledger, staff_since=STAFF_SINCE)
        subscription = ledger.recorder.subscribe(gt=ledger.position)
        assert isinstance(subscription, SpacedPulls)
        subscription._pull_gap = 0.2
        pulls, seen = counted(subscription)
        try:
            assert_pulled_in_batches(ledger, bank, pulls, seen, saves=20, gap=0.2)
        finally:
            subscription.stop()
    finally:
        container.close()
