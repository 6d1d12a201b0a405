"""Following the log in batches: a subscription that pulls at most once per gap, unless
hurried."""

from __future__ import annotations

import threading
import time
from typing import Any

from eventsourcing.persistence import ListenNotifySubscription

# A save wakes a follower at once (a local save on SQLite, a NOTIFY on PostgreSQL), but it
# pulls at most once per gap: under a stream of writes each pull then takes a batch, not a
# few events, and the projections pay their per-batch transactions once per batch. At the
# write benchmark's ~300 writes/s a gap of 20 ms gave batches of 7 events, and the five
# views in the serving process cost ~0.8 ms of CPU per write; 100 ms gives batches of ~40
# at ~0.3 ms (bench/RESULTS.md §14), 250 ms batches of ~110 at ~0.22 ms and 9% more writes
# a second (§15). A read waiting for its write (`?after=`) does not wait the gap out: it
# hurries the follower (`hurry`). An idle follower still pulls at once. The projections'
# followers take theirs from the settings (`projection_pull_gap_seconds`).
PULL_GAP = 0.25


class SpacedPulls(ListenNotifySubscription[Any]):
    _pull_gap: float = PULL_GAP

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._hurried = threading.Event()
        super().__init__(*args, **kwargs)

    def hurry(self) -> None:
        """Pull now, not at the end of the gap: a read is waiting for what was saved."""
        self._hurried.set()
        self._has_been_notified.set()

    def _loop_on_pull(self) -> None:
        # The library's loop (eventsourcing 9.5.6), with the pulls spaced by the gap.
        try:
            self._pull()
            pulled = time.monotonic()
            while not self._has_been_stopped:
                self._has_been_notified.wait()
                wait = pulled + self._pull_gap - time.monotonic()
                if wait > 0:
                    self._hurried.wait(wait)
                self._hurried.clear()
                pulled = time.monotonic()
                self._pull()
        except BaseException as e:
            if self._thread_error is None:
                self._thread_error = e
            self.stop()
