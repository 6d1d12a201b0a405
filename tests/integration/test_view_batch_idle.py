"""A view's batch on PostgreSQL holds its transaction open while the handlers of the whole
batch run, beside the other views of its process: it may sit between two statements for
longer than the ledger's own connections are allowed to (the library's
idle_in_transaction_session_timeout, 5 s), and still commits."""

from __future__ import annotations

import time
from typing import Any

from eventsourcing.persistence import InfrastructureFactory, Tracking
from eventsourcing.utils import Environment

from ledger.bootstrap import construct_views
from ledger.config import Settings
from ledger.store import library_environment

APP = "LedgerApplication"


def _idle_timeout_seconds(cursor: Any) -> float:
    cursor.execute(
        "SELECT setting::int AS ms FROM pg_settings"
        " WHERE name = 'idle_in_transaction_session_timeout'"
    )
    return int(cursor.fetchone()["ms"]) / 1000


def test_a_views_batch_outlasts_the_ledgers_idle_in_transaction_timeout(
    postgres_url: str,
) -> None:
    env = Environment("LEDGER", library_environment(postgres_url))
    store = InfrastructureFactory.construct(env).datastore  # type: ignore[attr-defined]
    with store.transaction(commit=False) as c:
        ledgers = _idle_timeout_seconds(c)
    assert ledgers > 0  # the ledger's connections are ended when left idle in a transaction
    view = construct_views(Settings(database_url=postgres_url), ["roster"])["roster"]
    with view.batch():
        # The batch's transaction is under way (a catch-up reads the position so).
        assert view.batch_place(APP) == (0, 1)
        time.sleep(ledgers + 0.5)  # the handlers of a batch of thousands, under load
        view.track(Tracking(APP, 7))
    assert view.max_tracking_id(APP) == 7
