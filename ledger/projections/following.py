"""Following the store: a runner that starts far behind the log catches up as a rebuild
does, then follows the store (the recorder's own `subscribe()`: LISTEN/NOTIFY on
PostgreSQL, the polling follower of `ledger.store.sqlite` on SQLite) in batches of up to
`BATCH`. A mixin of `ProjectionRunner`, which applies what is read."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import Notification

from ledger.projections.reading import cyclic_collection_paused
from ledger.projections.rebuild_settings import RebuildSettings
from ledger.projections.recovery import ProjectionError, ViewGenerationError, failure_text
from ledger.store.pulls import PULL_GAP

if TYPE_CHECKING:
    from ledger.projections.runner import ProjectionRunner

    _Base = ProjectionRunner
else:
    _Base = object

log = logging.getLogger("ledger.projections.runner")

BATCH = 1000
# Following starts with a catch-up (`follow`) when it is at least this far behind.
CATCH_UP_AT_LEAST = 2 * BATCH
# ... and catches up in a process per core first (`ProjectionRunner.catch_up_elsewhere`)
# when at least this far behind: starting a process costs about a second of CPU.
CATCH_UP_IN_PROCESSES_AT_LEAST = 100_000
# Seconds after following starts when it pulls once more (`_subscribe`).
NUDGE_AFTER = 1.0


class Following(_Base):
    """Start, follow, stop: the runner's background threads."""

    # Under a stream of writes, unless hurried; the composition root sets it from the settings.
    pull_gap: float = PULL_GAP

    @property
    def is_running(self) -> bool:
        remote = getattr(self, "remote", None)  # a projector process following instead
        if remote is not None and remote.is_running:
            return True
        return any(t.is_alive() for t in self._threads)

    @property
    def is_recovering(self) -> bool:
        return self.recovery.is_recovering

    def start(self) -> None:
        """Follow the store in background threads until `stop()`."""
        if self.is_running:
            return
        self.halted.clear()
        self.follow()

    def follow(self) -> None:
        """Catch up as a rebuild does, then follow the store: following applies what it
        reads in batches of up to `BATCH`, each a transaction per view, which catching up
        on a long log took five times the CPU and three times the writes of a rebuild for
        (bench/RESULTS.md section 7). Reads that wait on a position (`?after=`) wait
        through the catch-up as they wait on following."""
        self.error = None
        self._stopping.clear()
        names = list(self.views)
        # Reached now, where the store being away fails at once (Recovery relies on it).
        self.app.recorder.max_notification_id()
        for name in names:  # said at once, not at the next event; retried (a rollback)
            view = self.views[name]
            if view.kept_by_later is not None and name not in self.failures:
                found = ViewGenerationError(name, view.kept_by_later, view.generation)
                self.recovery.view_failed(name, found)
        buffer: queue.Queue[Notification | int | None] = queue.Queue(maxsize=BATCH * 10)
        self._threads = [
            threading.Thread(
                target=self._read, args=(names, buffer), daemon=True, name="projections-reader"
            ),
            threading.Thread(
                target=self._process,
                args=(buffer, names),
                daemon=True,
                name="projections-processor",
            ),
        ]
        for thread in self._threads:
            thread.start()

    def _catch_up_to_follow(self, names: list[str]) -> int:
        """The catch-up `follow()` begins with: the position following starts after."""
        start = self._load_positions(names)
        end = self.app.recorder.max_notification_id() or 0
        if end - start < CATCH_UP_AT_LEAST:
            return start
        elsewhere = self.catch_up_elsewhere
        if elsewhere is not None and end - start >= CATCH_UP_IN_PROCESSES_AT_LEAST:
            # The rest (written meanwhile, or a view a process failed on) is caught up here.
            elsewhere(names, self._stopping)
            if self._stopping.is_set():
                return start
        with cyclic_collection_paused():
            reached = self.catch_up_views(names, following=True)
        if not self._stopping.is_set():
            self._refresh_statistics(n for n in names if n not in self.failures)
        return reached

    def catch_up_views(self, names: list[str], *, following: bool = False) -> int:
        """`advance` the named views to the end of the log, those far behind with the
        rebuild's settings when the log is long (`RebuildSettings`); returns the position
        reached. A view another process is catching up so is caught up here once it is done."""
        stopping = self._stopping if following else threading.Event()
        end = self.app.recorder.max_notification_id() or 0
        with RebuildSettings(self, names if end >= CATCH_UP_AT_LEAST else [], end) as settings:
            here = [n for n in names if n not in settings.elsewhere]
            reached = [self.advance(here, following=following)] if here else []
        if settings.elsewhere and settings.wait_for_others(stopping):
            reached.append(self.advance(settings.elsewhere, following=following))
        return min(reached, default=0)

    def hurry(self) -> None:
        """A read waits for a position: the follower pulls now rather than after its gap
        (`ledger.store.pulls`), here or in the projector process."""
        remote = getattr(self, "remote", None)
        if remote is not None:
            remote.hurry()
            return
        hurry = getattr(self._subscription, "hurry", None)
        if hurry is not None:
            hurry()

    def publish_position(self, name: str) -> None:
        """The view's position, for the reads waiting on it: a view caught up as a rebuild
        tells it only once finished (until then, what it works out at the end is not yet
        there to read)."""
        reached = self.views[name].max_tracking_id(self.app.name) or 0
        self._positions[name] = max(self._positions.get(name, 0), reached)
        self.progress.notify()

    def _read(self, names: list[str], buffer: queue.Queue[Notification | int | None]) -> None:
        try:
            start = self._catch_up_to_follow(names)
            if self._stopping.is_set():
                return
            self._subscription = subscription = self._subscribe(start)
            if self._stopping.is_set():  # stop() came before the subscription was there
                subscription.stop()
                return
            buffer.put(start)  # where the processor's first batch follows on
            for notification in subscription:
                while not self._stopping.is_set():
                    try:
                        buffer.put(notification, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if self._stopping.is_set():
                    break
        except BaseException as error:
            self._fail(error)
        finally:
            with contextlib.suppress(queue.Full):
                buffer.put(None, timeout=1)

    def _subscribe(self, start: int) -> Any:
        subscription = self.app.recorder.subscribe(gt=start)
        if hasattr(subscription, "hurry"):  # a `SpacedPulls` (SQLite, PostgreSQL)
            subscription._pull_gap = self.pull_gap
        # The library's followers pull what is stored before they listen for more (NOTIFY,
        # or a save in this process): a write committed in between would wait for the next
        # one. Following starts while the app answers writes (after a catch-up), so pull
        # again once it surely listens.
        notified = getattr(subscription, "_has_been_notified", None)
        if notified is not None:
            notified.set()
            nudge = threading.Timer(NUDGE_AFTER, notified.set)
            nudge.daemon = True
            nudge.start()
        return subscription

    def _process(self, buffer: queue.Queue[Notification | int | None], names: list[str]) -> None:
        try:
            after = buffer.get()
            if not isinstance(after, int):
                return  # stopped, or failed, while catching up
            while True:
                first = buffer.get()
                if not isinstance(first, Notification):
                    return
                batch = [first]
                while len(batch) < BATCH:
                    try:
                        item = buffer.get_nowait()
                    except queue.Empty:
                        break
                    if not isinstance(item, Notification):
                        self._apply(batch, names, after)
                        return
                    batch.append(item)
                self._apply(batch, names, after)
                after = batch[-1].id
        except BaseException as error:
            self._fail(error)

    def _fail(self, error: BaseException) -> None:
        log.error("projections stopped: %s", failure_text(error))
        self.error = error
        self._stopping.set()
        if self._subscription is not None:
            self._subscription.stop()
        self.progress.notify()
        self.recovery.following_failed(error)

    def stop(self) -> None:
        """Stop following; what was processed stays processed."""
        self.halted.set()
        self._stopping.set()
        if self._subscription is not None:
            self._subscription.stop()
        self.join_threads()
        self._threads = []
        self._subscription = None

    def join_threads(self) -> None:
        for thread in self._threads:
            thread.join(timeout=10)

    def run_forever(self) -> None:
        """Follow the store until interrupted (`ledger project`)."""
        self.start()
        try:
            while self.is_running or self.is_recovering:
                time.sleep(0.5)
        finally:
            self.stop()
        if self.error is not None:
            raise ProjectionError(str(self.error)) from self.error
