"""Processes starting together (`ledger serve --workers N`, `ledger project`): what each
spawned process runs, importable by name (the test modules are not, under importlib)."""

from __future__ import annotations

from typing import Any

from ledger.bootstrap import build
from ledger.config import Settings
from ledger.projections import following
from ledger.projections.kit import BatchView


def catch_up_in_a_process(
    database_url: str, catch_up_at_least: int, barrier: Any, results: Any
) -> None:
    """Build the ledger, wait for the others at `barrier`, catch every view up; put
    `(position reached, the views this process set to the rebuild's settings)` in `results`."""
    following.CATCH_UP_AT_LEAST = catch_up_at_least
    started: list[str] = []
    start_rebuild = BatchView.start_rebuild

    def spying(view: BatchView, *, reset: bool = True) -> None:
        started.append(view.view_name)
        start_rebuild(view, reset=reset)

    BatchView.start_rebuild = spying  # type: ignore[method-assign]
    container = build(Settings(database_url=database_url))
    try:
        runner = container.start_projections(follow=False)
        barrier.wait(timeout=60)
        results.put((runner.catch_up(), started))
    except BaseException as error:
        results.put((repr(error), started))
        raise
    finally:
        container.close()


def start_in_a_process(database_url: str, barrier: Any, results: Any) -> None:
    """Wait for the others at `barrier`, then open the ledger and its views (on a new
    database, creating them); put "started" or the error in `results`."""
    try:
        barrier.wait(timeout=60)
        build(Settings(database_url=database_url)).close()
        results.put("started")
    except BaseException as error:
        results.put(repr(error))
