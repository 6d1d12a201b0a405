"""Running the projections: follow the store, catch up, rebuild, wait for a position.

One reader follows the application's notification log (the recorder's own `subscribe()`:
LISTEN/NOTIFY on PostgreSQL, the polling follower of `ledger.store.sqlite` on SQLite) and
feeds every projection, in batches: a batch is one transaction per view, with that view's
tracking position written in it. Each batch first reads the view's position inside its
own transaction and skips what is already applied, so a restart, a second runner or a
rebuild racing a follower never applies an event twice.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError, Notification

from ledger.config import DEFAULT_READ_WAIT_SECONDS
from ledger.projections.following import BATCH, Following
from ledger.projections.kit import BatchView, ViewProjection
from ledger.projections.reading import (
    CATCH_UP_AHEAD,
    CATCH_UP_AHEAD_ALONE,
    CATCH_UP_BATCH,
    CATCH_UP_VIEW_EVENTS,
    ReadAhead,
    TrackedEvent,
    cyclic_collection_paused,
    deserialise,
)
from ledger.projections.recovery import (
    ProjectionError,
    Recovery,
    ViewBehindError,
    ViewEventError,
    ViewGenerationError,
    check_generation,
)
from ledger.projections.waiting import Progress
from ledger.store import STORE_UNAVAILABLE

log = logging.getLogger(__name__)
__all__ = [
    "BATCH",
    "ProjectionError",
    "ProjectionRunner",
    "ViewBehindError",
    "ViewEventError",
    "ViewGenerationError",
]


class ProjectionRunner(Following):
    """Runs the read models' projections over an application's log: follows it, catches
    up, waits for a position, rebuilds. The views are read directly (see `bootstrap`)."""

    def __init__(self, app: Application, projections: Mapping[str, ViewProjection]) -> None:
        self.app = app
        self.projections = dict(projections)
        self.views: dict[str, BatchView] = {
            name: projection.view for name, projection in self.projections.items()
        }
        # Each view's handlers and topics, looked up once rather than for every batch.
        self._dispatch = {
            name: (projection.handlers, projection.view.track_past, frozenset(projection.topics))
            for name, projection in self.projections.items()
        }
        # Re-entrant: a view's retry catches it up under the lock, through `_apply_items`.
        self.apply_lock = threading.RLock()
        self.progress = Progress(self)
        self._positions = self.progress.positions
        self._stopping = threading.Event()
        # Set by stop(): no recovery may start following again behind the caller's back.
        self.halted = threading.Event()
        self._threads: list[threading.Thread] = []
        self._subscription: Any = None
        # The projector process following for this runner instead, if any (it reports
        # into `progress` and `failures`: ledger.projections.projector).
        self.remote: Any = None
        self.error: BaseException | None = None
        self.recovery = Recovery(self)
        # Catches the named views up in other processes (set by the composition root),
        # until done or the event is set: `follow()` starts with it when far behind.
        self.catch_up_elsewhere: Callable[[list[str], threading.Event], None] | None = None
        self.failures = self.recovery.failures
        # Views write to separate files or rows, so their batches run side by side.
        self._workers = ThreadPoolExecutor(
            max_workers=max(1, len(self.views)), thread_name_prefix="view"
        )

    # ---- positions --------------------------------------------------------------------

    def positions(self) -> dict[str, int]:
        """How far each projection has processed the log, as its view records it."""
        return {name: view.max_tracking_id(self.app.name) or 0 for name, view in self.views.items()}

    def wait(
        self,
        position: int,
        timeout: float = DEFAULT_READ_WAIT_SECONDS,
        names: Iterable[str] | None = None,
    ) -> bool:
        """True once every (named) projection has processed `position`; False on timeout."""
        return self.progress.wait(position, timeout, names)

    async def wait_async(
        self,
        position: int,
        timeout: float = DEFAULT_READ_WAIT_SECONDS,
        names: Iterable[str] | None = None,
    ) -> bool:
        """`wait` for a request on the event loop: it holds no worker thread while it
        waits, and answers False at once for a position beyond the end of the log."""
        return await self.progress.wait_async(position, timeout, names)

    # ---- processing -------------------------------------------------------------------

    def _apply(
        self, notifications: Sequence[Notification], names: Iterable[str], after: int
    ) -> None:
        """Apply notifications read from the log right after position `after`."""
        if not notifications:
            return
        last = notifications[-1].id
        if all(self._positions.get(n, 0) >= last for n in names):
            return
        items = deserialise(self.app, notifications, self._topics(names))
        self._apply_items(items, names, after, contain=True)

    def _topics(self, names: Iterable[str]) -> frozenset[str]:
        return frozenset(t for n in names for t in self.projections[n].topics)

    def _apply_items(
        self,
        items: list[TrackedEvent],
        names: Iterable[str],
        after: int,
        *,
        contain: bool = False,
        in_turn: bool = False,
    ) -> None:
        """Apply to each named view, in a thread each unless `in_turn`; with `contain`
        (following the store), a view that fails on an event is set aside and retried while
        the others go on."""
        last = items[-1][1].notification_id
        # Following, a failed view is left to its retry (which catches it up itself).
        pending = [
            n
            for n in names
            if self._positions.get(n, 0) < last and not (contain and n in self.failures)
        ]
        if not pending:
            return

        def apply(name: str) -> None:
            try:
                self._apply_to(name, items, after)
            except (ViewEventError, ViewGenerationError) as error:
                if not contain:
                    raise
                self.recovery.view_failed(name, error)

        with self.apply_lock:
            if len(pending) == 1 or in_turn:
                for name in pending:
                    apply(name)
            else:
                list(self._workers.map(apply, pending))
        self.progress.notify()

    def _apply_to(self, name: str, items: list[TrackedEvent], after: int) -> None:
        view = self.views[name]
        for attempt in range(3):
            try:
                with view.batch():
                    done, generation = view.batch_place(self.app.name)
                    # Another version keeps it (a rolling upgrade): not written here.
                    check_generation(name, view, generation)
                    if done < after:
                        # Applying this batch would skip the events in (done, after].
                        raise ViewBehindError(name, done, after)
                    handlers, skip, wanted = self._dispatch[name]
                    for event, tracking, topic in items:
                        if tracking.notification_id > done and topic in wanted:
                            try:
                                handlers.get(type(event), skip)(event, tracking)
                            except (IntegrityError, *STORE_UNAVAILABLE):
                                raise
                            except Exception as error:
                                position = tracking.notification_id
                                raise ViewEventError(name, position, error) from error
                    # The position moves past the events this view has no use for too.
                    last = items[-1][1]
                    if last.notification_id > done:
                        view.track(last)
                        done = last.notification_id
            except IntegrityError:
                # Another process applied part of this batch first: look again.
                if attempt == 2:
                    raise
                continue
            if not view.rebuilding:  # else told once finished (`publish_position`)
                self._positions[name] = max(self._positions.get(name, 0), done)
            return

    def _load_positions(self, names: Iterable[str]) -> int:
        current = self.positions()
        for name in names:
            self._positions[name] = current[name]
        return min((current[n] for n in names), default=0)

    def catch_up(self, names: Iterable[str] | None = None) -> int:
        """Process the whole log up to its current end, here and now; returns the end."""
        names = list(names or self.views)
        with cyclic_collection_paused():
            end = self.catch_up_views(names)
        self._refresh_statistics(names)
        return end

    def advance(self, names: list[str], *, following: bool = False) -> int:
        """Apply the log from the named views' positions to its end; returns the end.

        `following` (the catch-up `follow()` starts with): a view that fails on an event is
        set aside and retried while the others go on, and `stop()` ends it between batches."""
        start = self._load_positions(names)
        in_turn = all(getattr(self.views[n], "caught_up_in_turn", False) for n in names)
        limit = min(CATCH_UP_BATCH, CATCH_UP_VIEW_EVENTS // len(names))
        if not in_turn:  # three batches held at once (`ReadAhead`)
            limit = min(limit, CATCH_UP_AHEAD_ALONE if len(names) == 1 else CATCH_UP_AHEAD)
        batches = 0
        topics = self._topics(names)
        with ReadAhead(self.app, start, topics, limit, ahead=not in_turn) as reader:
            for after, items in reader:
                if following and self._stopping.is_set():
                    break
                self._apply_items(items, names, after, contain=following, in_turn=in_turn)
                start = items[-1][1].notification_id
                batches += 1
                if batches % 10 == 0:
                    # Now and then the young generations only (the old one is not walked):
                    # should anything have made a cycle, it does not pile up.
                    del items
                    gc.collect(1)
        return start

    def _refresh_statistics(self, names: Iterable[str]) -> None:
        # Once caught up, the views' shape is known: let the planner see it.
        for name in names:
            self.views[name].finish_rebuild()
            self.publish_position(name)
            self.views[name].refresh_statistics()

    def rebuild(self, names: Iterable[str] | None = None) -> int:
        """Drop the named read models and replay them from the whole log."""
        names = list(names or self.views)
        unknown = set(names) - set(self.views)
        if unknown:
            raise KeyError(f"unknown projection(s): {', '.join(sorted(unknown))}")
        was_running = self.is_running
        self.stop()
        try:
            with self.apply_lock:
                for name in names:
                    self.views[name].start_rebuild()
                    self._positions[name] = 0
            end = self.catch_up(names)
            for name in names:
                self.failures.pop(name, None)
        finally:
            # Already done unless a start or the catch-up failed; a view whose start failed
            # put itself back, and one started before it is left with its indexes.
            for name in names:
                self.views[name].finish_rebuild()
        if was_running:
            self.start()
        return end

    def close(self) -> None:
        self.stop()
        self._workers.shutdown()
