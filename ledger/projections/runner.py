"""Running the projections: follow the store, catch up, rebuild, wait for a position.

One reader follows the application's notification log (the recorder's own `subscribe()`:
LISTEN/NOTIFY on PostgreSQL, the polling follower of `ledger.store.sqlite` on SQLite) and
feeds every projection, in batches: a batch is one transaction per view, with that view's
tracking position written in it. Each batch first reads the view's position inside its
own transaction and skips what is already applied, so a restart, a second runner or a
rebuild racing a follower never applies an event twice.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import inspect
import logging
import multiprocessing
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventsourcing.persistence import (
    InfrastructureFactory,
    IntegrityError,
    Notification,
    Tracking,
)
from eventsourcing.projection import Projection
from eventsourcing.utils import Environment

from ledger.application import Ledger
from ledger.projections.accountability import (
    AccountabilityProjection,
    AccountabilityView,
    PostgresAccountabilityView,
    SQLiteAccountabilityView,
)
from ledger.projections.base import SQLView
from ledger.projections.reports import (
    DEFAULT_TARGET,
    PostgresReportsView,
    ReportsProjection,
    ReportsView,
    SQLiteReportsView,
)
from ledger.projections.roster import (
    DEFAULT_LIMIT,
    PostgresRosterView,
    RosterProjection,
    RosterView,
    SQLiteRosterView,
)
from ledger.store import STORE_UNAVAILABLE, library_environment, store_kind

log = logging.getLogger(__name__)

# A deserialised event, its tracking position, and its stored topic.
Item = tuple[Any, Tracking, str]


def _now() -> datetime:
    return datetime.now(UTC)


def _handlers(projection: Projection[Any]) -> Callable[[type], Callable[[Any, Tracking], None]]:
    """The projection's handler for each event class, looked up once per class: calling
    the `singledispatchmethod` itself dispatches (and binds) again for every event."""
    process = projection.process_event  # binding also completes deferred registrations
    generic = inspect.getattr_static(projection, "process_event")
    if not isinstance(generic, functools.singledispatchmethod):
        return lambda cls: process

    @functools.cache
    def handler(cls: type) -> Callable[[Any, Tracking], None]:
        return generic.dispatcher.dispatch(cls).__get__(projection, type(projection))  # type: ignore[no-any-return]

    return handler


@contextlib.contextmanager
def _cyclic_collection_paused() -> Iterator[None]:
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


BATCH = 1000
# While the store is unreachable (a database restart), following is tried again this often.
RECOVERY_PAUSE = 1.0
# Catching up (a rebuild) reads further ahead: fewer, larger transactions. Each batch
# writes the pages it touches to the write-ahead log once, so larger ones write less; a
# view caught up alone takes larger ones in about the memory all three take together.
CATCH_UP_BATCH = 20000
CATCH_UP_BATCH_ALONE = 40000

PROJECTIONS: dict[str, tuple[type[Projection[Any]], dict[str, type[SQLView]]]] = {
    "roster": (RosterProjection, {"sqlite": SQLiteRosterView, "postgres": PostgresRosterView}),
    "accountability": (
        AccountabilityProjection,
        {"sqlite": SQLiteAccountabilityView, "postgres": PostgresAccountabilityView},
    ),
    "reports": (ReportsProjection, {"sqlite": SQLiteReportsView, "postgres": PostgresReportsView}),
}


# Seconds to rebuild each view alone from 1,000,000 events on SQLite (bench/rebuild.py):
# how `rebuild_in_processes` shares the views out among processes.
REBUILD_WEIGHTS = {"reports": 34, "roster": 18, "accountability": 15}


class ProjectionError(RuntimeError):
    """A projection failed; it stops rather than skip an event."""


class ViewBehindError(ProjectionError):
    """A view's position is behind the batch in hand: another process reset it."""

    def __init__(self, name: str, position: int, after: int) -> None:
        super().__init__(
            f"view {name} is at position {position} but this batch follows {after}: it was "
            "reset by another process (ledger rebuild?); restart this runner"
        )


def construct_views(
    database_url: str, names: Iterable[str] | None = None, *, options: dict[str, Any] | None = None
) -> dict[str, SQLView]:
    """The views of the named projections (all by default).

    On PostgreSQL they sit beside the events, in the same database. On SQLite each view
    has a file of its own next to the store (`ledger.db` -> `ledger.roster.db`): SQLite has
    one writer per file, so a view catching up never holds the lock the ledger's writes
    need, and the views can be written in parallel. With the in-memory store they are
    in-memory SQLite databases."""
    kind = store_kind(database_url)
    views: dict[str, SQLView] = {}
    for name in names or PROJECTIONS:
        if kind == "postgres":
            env = library_environment(database_url)
            # Views need few connections; the ledger keeps the larger pool.
            env.update({"POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "4"})
        elif kind == "memory":
            env = {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": f"file:ledger-{name}-{uuid.uuid4().hex}?mode=memory&cache=shared",
            }
        else:
            env = library_environment(database_url)
            env["PERSISTENCE_MODULE"] = "eventsourcing.sqlite"
            env["SQLITE_DBNAME"] = view_file(env["SQLITE_DBNAME"], name)
        factory = InfrastructureFactory.construct(Environment("LEDGER_VIEWS", env))
        view_class = PROJECTIONS[name][1]["postgres" if kind == "postgres" else "sqlite"]
        view = factory.tracking_recorder(view_class)  # type: ignore[arg-type]
        view.configure(**(options or {}))
        view.upgrade()
        # The factory closes the connection pool when collected: the view keeps it.
        view.factory = factory  # type: ignore[attr-defined]
        views[name] = view
    return views


def view_file(store_path: str, name: str) -> str:
    path = Path(store_path)
    return str(path.with_name(f"{path.stem}.{name}{path.suffix or '.db'}"))


class Projections:
    """Every read model of the ledger, the queries the API calls, and their runner."""

    def __init__(self, app: Ledger, views: dict[str, SQLView]) -> None:
        self.app = app
        self.views = views
        self.projections: dict[str, Projection[Any]] = {
            name: PROJECTIONS[name][0](view=view) for name, view in views.items()
        }
        # Each view's handlers and topics, looked up once rather than for every batch.
        self._dispatch = {
            name: (_handlers(projection), frozenset(projection.topics))
            for name, projection in self.projections.items()
        }
        self._apply_lock = threading.Lock()
        self._progress = threading.Condition()
        self._positions: dict[str, int] = {}
        self._stopping = threading.Event()
        # Set by stop(): no recovery may start following again behind the caller's back.
        self._halted = threading.Event()
        self._recovering = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._subscription: Any = None
        self.error: BaseException | None = None
        # Views write to separate files or rows, so their batches run side by side.
        self._workers = ThreadPoolExecutor(max_workers=len(views), thread_name_prefix="view")

    # ---- read models: the queries of API.md's "Projections" table ------------------------

    @property
    def roster_view(self) -> RosterView:
        return self.views["roster"]  # type: ignore[return-value]

    @property
    def accountability_view(self) -> AccountabilityView:
        return self.views["accountability"]  # type: ignore[return-value]

    @property
    def reports_view(self) -> ReportsView:
        return self.views["reports"]  # type: ignore[return-value]

    def roster(
        self,
        unit_id: str,
        *,
        as_of: datetime | None = None,
        tier: str | None = None,
        manager_id: str | None = None,
        status: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """GET /v1/rosters: `{items: [{client_id, name, unit_id, tier, status,
        designated_manager}], next_cursor}`."""
        return self.roster_view.roster(
            unit_id,
            as_of=as_of or _now(),
            tier=tier,
            manager_id=manager_id,
            status=status,
            limit=limit,
            cursor=cursor,
        )

    def roster_summary(
        self, unit_id: str, *, as_of: datetime | None = None, known_at: datetime | None = None
    ) -> dict[str, Any]:
        """GET /v1/rosters/summary: `{unit_id, as_of, known_at, counts, vip}`."""
        return self.roster_view.roster_summary(unit_id, as_of=as_of or _now(), known_at=known_at)

    def client_intervals(self, client_id: str) -> dict[str, Any]:
        """GET /v1/accountability/clients/{id}: `{client_id, intervals}`."""
        return self.accountability_view.client_intervals(client_id)

    def responsible(self, client_id: str, at: datetime | None = None) -> dict[str, Any]:
        """GET /v1/accountability/responsible: `{client_id, at, designated_manager, team,
        unit_head}`."""
        return self.accountability_view.responsible(client_id, at or _now())

    def churn_cases(
        self,
        *,
        unit_id: str | None = None,
        fiscal_year: int | None = None,
        in_scope: bool | None = None,
        kind: str | None = None,
    ) -> dict[str, Any]:
        """GET /v1/accountability/churn-cases: `{items: [...]}`."""
        return self.accountability_view.churn_cases(
            unit_id=unit_id, fiscal_year=fiscal_year, in_scope=in_scope, kind=kind
        )

    def churn_case(self, case_id: str) -> dict[str, Any]:
        """One churn case (its `client_id` is what a determination is posted to)."""
        return self.accountability_view.churn_case(case_id)

    def staff_record(self, staff_id: str, fiscal_year: int) -> dict[str, Any]:
        """GET /v1/accountability/staff/{staff_id}: in-scope case counts."""
        return self.accountability_view.staff_record(staff_id, fiscal_year)

    def tier_growth(self, unit_id: str, start: datetime, end: datetime) -> dict[str, Any]:
        """GET /v1/reports/tier-growth (`from`, `to` are `start`, `end`)."""
        return self.roster_view.tier_growth(unit_id, start, end)

    def completeness(
        self, unit_id: str, *, as_of: datetime | None = None, target: float = DEFAULT_TARGET
    ) -> dict[str, Any]:
        """GET /v1/reports/completeness."""
        return self.reports_view.completeness(unit_id, as_of=as_of or _now(), target=target)

    def overdue_contacts(self, unit_id: str, *, as_of: datetime | None = None) -> dict[str, Any]:
        """GET /v1/reports/overdue-contacts."""
        return self.reports_view.overdue_contacts(unit_id, as_of=as_of or _now())

    def orphaned_clients(self, unit_id: str, *, as_of: datetime | None = None) -> dict[str, Any]:
        """GET /v1/reports/orphaned-clients."""
        return self.reports_view.orphaned_clients(unit_id, as_of=as_of or _now())

    def manager_portfolio(self, staff_id: str, start: datetime, end: datetime) -> dict[str, Any]:
        """GET /v1/reports/manager-portfolio (`from`, `to` are `start`, `end`)."""
        return self.reports_view.manager_portfolio(staff_id, start, end)

    # ---- positions --------------------------------------------------------------------

    def positions(self) -> dict[str, int]:
        """How far each projection has processed the log, as its view records it."""
        return {name: view.max_tracking_id(self.app.name) or 0 for name, view in self.views.items()}

    def wait(self, position: int, timeout: float = 5.0, names: Iterable[str] | None = None) -> bool:
        """True once every (named) projection has processed `position`; False on timeout."""
        names = list(names or self.views)
        deadline = time.monotonic() + timeout
        with self._progress:
            while self.is_running or self.error is not None:
                if self.error is not None:
                    raise ProjectionError(str(self.error)) from self.error
                if all(self._positions.get(n, 0) >= position for n in names):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._progress.wait(min(remaining, 0.5))
        # Another process (`ledger project`) runs them: watch their tracking rows.
        for name in names:
            try:
                self.views[name].wait(
                    self.app.name, position, timeout=max(0.0, deadline - time.monotonic())
                )
            except TimeoutError:
                return False
        return True

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
        self._apply_items(self._deserialise(notifications, self._topics(names)), names, after)

    def _deserialise(
        self, notifications: Sequence[Notification], topics: frozenset[str] | None = None
    ) -> list[Item]:
        """Events with a topic outside `topics` (when given) are not deserialised: no view
        in hand would use them, and their positions are all a batch needs of them."""
        mapper, name = self.app.mapper, self.app.name
        return [
            (
                mapper.to_domain_event(n) if topics is None or n.topic in topics else None,
                Tracking(name, n.id),
                n.topic,
            )
            for n in notifications
        ]

    def _topics(self, names: Iterable[str]) -> frozenset[str]:
        return frozenset(t for n in names for t in self.projections[n].topics)

    def _apply_items(self, items: list[Item], names: Iterable[str], after: int) -> None:
        last = items[-1][1].notification_id
        pending = [n for n in names if self._positions.get(n, 0) < last]
        if not pending:
            return
        with self._apply_lock:
            if len(pending) == 1:
                self._apply_to(pending[0], items, after)
            else:
                list(self._workers.map(lambda n: self._apply_to(n, items, after), pending))
        with self._progress:
            self._progress.notify_all()

    def _apply_to(self, name: str, items: list[Item], after: int) -> None:
        view = self.views[name]
        for attempt in range(3):
            try:
                with view.batch():
                    done = view.position_in_batch(self.app.name)
                    if done < after:
                        # Applying this batch would skip the events in (done, after].
                        raise ViewBehindError(name, done, after)
                    handler, wanted = self._dispatch[name]
                    for event, tracking, topic in items:
                        if tracking.notification_id > done and topic in wanted:
                            handler(type(event))(event, tracking)
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
        with _cyclic_collection_paused():
            end = self._catch_up(names)
        self._refresh_statistics(names)
        return end

    def _catch_up(self, names: list[str]) -> int:
        start = self._load_positions(names)
        # The next batch is read and deserialised while the views write this one.
        ahead: queue.Queue[tuple[int, list[Item]] | BaseException | None]
        ahead = queue.Queue(maxsize=1)
        stop = threading.Event()
        reader = threading.Thread(
            target=self._read_ahead,
            args=(
                start,
                self._topics(names),
                CATCH_UP_BATCH_ALONE if len(names) == 1 else CATCH_UP_BATCH,
                ahead,
                stop,
            ),
            daemon=True,
            name="catch-up",
        )
        reader.start()
        batches = 0
        try:
            while True:
                batch = ahead.get()
                if batch is None:
                    return start
                if isinstance(batch, BaseException):
                    raise batch
                after, items = batch
                self._apply_items(items, names, after)
                start = items[-1][1].notification_id
                batches += 1
                if batches % 10 == 0:
                    # Now and then the young generations only (the old one is not walked):
                    # should anything have made a cycle, it does not pile up.
                    del batch, items
                    gc.collect(1)
        finally:
            stop.set()
            with contextlib.suppress(queue.Empty):
                ahead.get_nowait()
            reader.join()

    def _refresh_statistics(self, names: Iterable[str]) -> None:
        # Once caught up, the views' shape is known: let the planner see it.
        for name in names:
            self.views[name].finish_rebuild()
            self.views[name].refresh_statistics()

    def _read_ahead(
        self,
        start: int,
        topics: frozenset[str],
        limit: int,
        ahead: queue.Queue[Any],
        stop: threading.Event,
    ) -> None:
        """Read only the events of `topics` (the store skips the others): each batch ends
        with the position it covers, so the views' positions still reach the log's end."""
        recorder, name, wanted = self.app.recorder, self.app.name, sorted(topics)
        try:
            end = 0
            while not stop.is_set():
                if start >= end:
                    end = recorder.max_notification_id() or 0  # written meanwhile?
                    if start >= end:
                        ahead.put(None)
                        return
                # At most `limit` positions too: a view that wants a few of the events
                # would otherwise hold many more of them in a batch than `limit`.
                until = min(end, start + limit)
                notifications = recorder.select_notifications(
                    start=start,
                    limit=limit,
                    stop=until,
                    topics=wanted,
                    inclusive_of_start=False,
                )
                covered = notifications[-1].id if len(notifications) == limit else until
                items = self._deserialise(notifications, topics)
                if not items or items[-1][1].notification_id < covered:
                    # Nothing further up to `covered` is of use here: only positions move.
                    items.append((None, Tracking(name, covered), ""))
                batch = (start, items)
                while not stop.is_set():
                    try:
                        ahead.put(batch, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                start = covered
        except BaseException as error:
            ahead.put(error)

    def rebuild(self, names: Iterable[str] | None = None) -> int:
        """Drop the named read models and replay them from the whole log."""
        names = list(names or self.views)
        unknown = set(names) - set(self.views)
        if unknown:
            raise KeyError(f"unknown projection(s): {', '.join(sorted(unknown))}")
        was_running = self.is_running
        self.stop()
        try:
            with self._apply_lock:
                for name in names:
                    self.views[name].start_rebuild()
                    self._positions[name] = 0
            end = self.catch_up(names)
        finally:
            # Already done unless a start or the catch-up failed; a view whose start failed
            # put itself back, and one started before it is left with its indexes.
            for name in names:
                self.views[name].finish_rebuild()
        if was_running:
            self.start()
        return end

    # ---- following ----------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    @property
    def is_recovering(self) -> bool:
        return self._recovering.locked()

    def start(self) -> None:
        """Follow the store in background threads until `stop()`."""
        if self.is_running:
            return
        self._halted.clear()
        self._follow()

    def _follow(self) -> None:
        self.error = None
        self._stopping.clear()
        names = list(self.views)
        start = self._load_positions(names)
        self._subscription = self.app.recorder.subscribe(gt=start)
        buffer: queue.Queue[Notification | None] = queue.Queue(maxsize=BATCH * 10)
        self._threads = [
            threading.Thread(
                target=self._read,
                args=(self._subscription, buffer),
                daemon=True,
                name="projections-reader",
            ),
            threading.Thread(
                target=self._process,
                args=(buffer, names, start),
                daemon=True,
                name="projections-processor",
            ),
        ]
        for thread in self._threads:
            thread.start()

    def _read(self, subscription: Any, buffer: queue.Queue[Notification | None]) -> None:
        try:
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

    def _process(
        self, buffer: queue.Queue[Notification | None], names: list[str], after: int
    ) -> None:
        try:
            while True:
                first = buffer.get()
                if first is None:
                    return
                batch = [first]
                while len(batch) < BATCH:
                    try:
                        item = buffer.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        self._apply(batch, names, after)
                        return
                    batch.append(item)
                self._apply(batch, names, after)
                after = batch[-1].id
        except BaseException as error:
            self._fail(error)

    def _fail(self, error: BaseException) -> None:
        log.exception("projections stopped: %s", error)
        self.error = error
        self._stopping.set()
        if self._subscription is not None:
            self._subscription.stop()
        with self._progress:
            self._progress.notify_all()
        if (
            isinstance(error, STORE_UNAVAILABLE)
            and not self._halted.is_set()
            and self._recovering.acquire(blocking=False)
        ):
            threading.Thread(target=self._recover, daemon=True, name="projections-recovery").start()

    def _recover(self) -> None:
        """The store went away: follow again once it is back. Each view resumes from its own
        tracking position, so nothing is skipped or applied twice."""
        try:
            while not self._halted.wait(RECOVERY_PAUSE):
                for thread in self._threads:
                    thread.join(timeout=10)
                if self.is_running:
                    continue
                try:
                    self._follow()
                except STORE_UNAVAILABLE as error:
                    log.warning("projections: the store is still unavailable: %s", error)
                    continue
                if self._halted.is_set():  # stop() came while following resumed
                    self.stop()
                    return
                log.warning("projections: following the store again")
                return
        finally:
            self._recovering.release()

    def stop(self) -> None:
        """Stop following; what was processed stays processed."""
        self._halted.set()
        self._stopping.set()
        if self._subscription is not None:
            self._subscription.stop()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []
        self._subscription = None

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

    def close(self) -> None:
        self.stop()
        self._workers.shutdown()
        for view in self.views.values():
            view.factory.close()  # type: ignore[attr-defined]


def _rebuild_together(database_url: str, names: list[str], options: dict[str, Any]) -> int:
    app = Ledger(library_environment(database_url))
    projections = Projections(app, construct_views(database_url, names, options=options))
    try:
        return projections.rebuild(names)
    finally:
        projections.close()
        app.close()


def rebuild_groups(names: Iterable[str], processes: int) -> list[list[str]]:
    """The views shared out among `processes`, longest first, each to the process with the
    least work so far: about the same work each, and views that share a process share one
    reading of the log."""
    groups: list[list[str]] = [[] for _ in range(max(1, processes))]
    load = [0] * len(groups)
    # A view not yet weighed counts as the heaviest.
    weight = {name: REBUILD_WEIGHTS.get(name, max(REBUILD_WEIGHTS.values())) for name in names}
    for name in sorted(weight, key=lambda n: -weight[n]):
        least = load.index(min(load))
        groups[least].append(name)
        load[least] += weight[name]
    return [group for group in groups if group]


def usable_cores() -> int:
    """The cores this process may run on (its affinity, as a container limits it), not
    every core of the host."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def rebuild_in_processes(
    database_url: str, names: Iterable[str] | None = None, *, options: dict[str, Any] | None = None
) -> dict[str, int]:
    """Rebuild the named projections (all by default) in as many processes as there are
    cores, at most one per view.

    Each view has its own tables (its own file on SQLite), and a rebuild is bound by
    Python, so separate processes use separate cores where threads would share one. With
    fewer cores than views some views share a process (`rebuild_groups`), and with it one
    reading of the log: on two cores the reports are rebuilt beside the roster and the
    accountability view, which together take about as long, rather than three processes
    taking turns on two cores."""
    names = list(dict.fromkeys(names or PROJECTIONS))  # each view once
    unknown = set(names) - set(PROJECTIONS)
    if unknown:
        raise KeyError(f"unknown projection(s): {', '.join(sorted(unknown))}")
    groups = rebuild_groups(names, usable_cores())
    if len(groups) == 1:
        # One core: one pass here, with no process to start.
        end = _rebuild_together(database_url, groups[0], options or {})
        return dict.fromkeys(groups[0], end)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(groups), mp_context=context) as pool:
        futures = [
            (group, pool.submit(_rebuild_together, database_url, group, options or {}))
            for group in groups
        ]
        return {name: future.result() for group, future in futures for name in group}
