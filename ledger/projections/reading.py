"""Reading the log for the projections: events deserialised only for the views that use
them, and, while catching up, the next batch read while the views write this one."""

from __future__ import annotations

import contextlib
import gc
import queue
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import Notification, Tracking

# A deserialised event (None if no view in hand uses it), its tracking position, and its
# stored topic.
TrackedEvent = tuple[Any, Tracking, str]

# Catching up (a rebuild) reads further ahead: fewer, larger transactions. Each batch
# writes the pages it touches to the write-ahead log once, and the views' rows are keyed by
# client, so a batch touches pages all over their tables: larger ones write less (the
# maintenance and roster views of 200,000 events: 357,058 page writes in batches of 5,000,
# 258,572 of 10,000, 221,685 of 15,000; session 10).
# Views caught up in turn (SQLite's) hold one batch at a time, the log read between
# batches; its rows are held per view, so a batch takes `CATCH_UP_VIEW_EVENTS` shared out
# over the views caught up together, up to `CATCH_UP_BATCH` (a view alone, or two, 15,000;
# three 10,000; five 6,000): at 200,000 events the maintenance and roster views peaked at
# 176, 195 and 215 MiB in batches of 5,000, 10,000 and 15,000; the reports, audit and
# accountability views at 209 and 229 MiB in batches of 5,000 and 10,000.
CATCH_UP_BATCH = 15000
CATCH_UP_VIEW_EVENTS = 30000
# Views caught up in threads (PostgreSQL's) read the log ahead and hold three batches at
# once (one read, one waiting, one applied: at 20,000 events all five peaked at 607 MiB,
# bench/RESULTS.md section 7, session 6). They keep these sizes: on the 755,541-event demo
# in PostgreSQL, batches of 10,000 and 15,000 took the same CPU as these within the noise
# (the server keeps the views' pages in its buffers: a batch does not rewrite them as
# SQLite's do), peaked ~30 MiB higher, and held each view's transaction open longer while
# the handlers of the whole batch ran (`kit.backends.VIEW_IDLE_IN_TRANSACTION_SECONDS`;
# bench/RESULTS.md section 17).
CATCH_UP_AHEAD = 5000
CATCH_UP_AHEAD_ALONE = 10000


def deserialise(
    app: Application, notifications: Sequence[Notification], topics: frozenset[str] | None = None
) -> list[TrackedEvent]:
    """Events with a topic outside `topics` (when given) are not deserialised: no view in
    hand would use them, and their positions are all a batch needs of them."""
    mapper, name = app.mapper, app.name
    load_keys = getattr(mapper, "load_keys", None)
    if load_keys is not None:
        # The keys of the page's clients in one query (ledger.privacy), not one per client.
        load_keys(n for n in notifications if topics is None or n.topic in topics)
    return [
        (
            mapper.to_domain_event(n) if topics is None or n.topic in topics else None,
            Tracking(name, n.id),
            n.topic,
        )
        for n in notifications
    ]


@contextlib.contextmanager
def cyclic_collection_paused() -> Iterator[None]:
    """No automatic cyclic garbage collection while catching up.

    A batch holds tens of thousands of events and rows alive until it commits, so the
    collector's automatic runs walk them again and again: they took a quarter (all views)
    to nearly half (the roster alone) of a rebuild's CPU time. Events and rows make no
    reference cycles; what is left of a batch is freed by reference counting, and
    `catch_up` collects the young generations itself every few batches."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class ReadAhead:
    """The log after `start` in batches of `(after, events)`, each read and deserialised in
    a thread of its own while the previous one is applied (unless not `ahead`: then each
    in the iterating thread when asked for). Only the events of `topics` are read (the
    store skips the others): each batch ends with the position it covers, so the views'
    positions still reach the log's end."""

    def __init__(
        self,
        app: Application,
        start: int,
        topics: frozenset[str],
        limit: int,
        *,
        ahead: bool = True,
    ) -> None:
        self.app, self.start, self.topics, self.limit = app, start, topics, limit
        self._ahead: queue.Queue[tuple[int, list[TrackedEvent]] | BaseException | None]
        self._ahead = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._reader = (
            threading.Thread(target=self._read, daemon=True, name="catch-up") if ahead else None
        )

    def __enter__(self) -> ReadAhead:
        if self._reader is not None:
            self._reader.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._reader is None:
            return
        with contextlib.suppress(queue.Empty):
            self._ahead.get_nowait()
        self._reader.join()

    def __iter__(self) -> Iterator[tuple[int, list[TrackedEvent]]]:
        if self._reader is None:
            yield from self._batches()
            return
        while True:
            batch = self._ahead.get()
            if batch is None:
                return
            if isinstance(batch, BaseException):
                raise batch
            yield batch

    def _batches(self) -> Iterator[tuple[int, list[TrackedEvent]]]:
        recorder, name, wanted = self.app.recorder, self.app.name, sorted(self.topics)
        start, limit, stop = self.start, self.limit, self._stop
        end = 0
        while not stop.is_set():
            if start >= end:
                end = recorder.max_notification_id() or 0  # written meanwhile?
                if start >= end:
                    return
            # At most `limit` positions too: a view that wants a few of the events would
            # otherwise hold many more of them in a batch than `limit`.
            until = min(end, start + limit)
            notifications = recorder.select_notifications(  # type: ignore[attr-defined]
                start=start,
                limit=limit,
                stop=until,
                topics=wanted,
                inclusive_of_start=False,
            )
            covered = notifications[-1].id if len(notifications) == limit else until
            items = deserialise(self.app, notifications, self.topics)
            if not items or items[-1][1].notification_id < covered:
                # Nothing further up to `covered` is of use here: only positions move.
                items.append((None, Tracking(name, covered), ""))
            yield start, items
            start = covered

    def _read(self) -> None:
        stop = self._stop
        try:
            for batch in self._batches():
                while not stop.is_set():
                    try:
                        self._ahead.put(batch, timeout=0.2)
                        break
                    except queue.Full:
                        continue
            if not stop.is_set():
                self._ahead.put(None)
        except BaseException as error:
            self._ahead.put(error)
