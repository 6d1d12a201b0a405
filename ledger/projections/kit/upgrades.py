"""Upgrades of a view built before it kept something it keeps now."""

from __future__ import annotations

from ledger.projections.kit.engine import BatchView


def replay_once(view: BatchView, marker: str, probe: str) -> None:
    """A view holding rows (`probe` selects one) but not the table `marker` (what it keeps
    since) replays the log once; a new view is marked at once."""
    with view.transaction() as c:
        kept = view.has_table(c, marker)
        replay = not kept and view.fetch(c, probe)
    if replay:
        view.reset()
    if not kept:
        with view.transaction() as c:
            view.execute(c, f"CREATE TABLE IF NOT EXISTS {marker} (done BIGINT)")
