"""The batch engine every read model is written through: a SQL view whose tracking position
is written in the same transaction as its rows, and the parts it is composed of.

Views are written once in the SQL both databases accept (`?` placeholders, rewritten to
`%s` for psycopg); `backends.py` holds the little that differs per database."""

from __future__ import annotations

import re
import threading
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import cache, cached_property
from operator import itemgetter
from typing import Any, ClassVar, TypeVar

from eventsourcing.persistence import Tracking, TrackingRecorder

from ledger.projections.kit.generations import KeptGeneration
from ledger.projections.kit.sealed import SealedTexts

T = TypeVar("T")
# What a part does with one event: (event, tracking) -> None.
Handler = Callable[[Any, Tracking], None]

_first = itemgetter(0)


@cache
def _can_wait(statement: str) -> bool:
    """A plain INSERT can wait and go with others of its kind (`_send_rows`)."""
    return statement.startswith("INSERT") and "SELECT" not in statement


class Part:
    """A piece of a read model (the unit tree, client intervals, tier counts...): its tables,
    its updates, its queries and the handlers of the events it keeps. It is handed the view
    (the engine it writes through) and a table prefix when built.

    Parts look alike by shape (CREATE statements, handlers of event classes that write a
    row) and share no line of substance: each has its own tables and facts."""

    def __init__(self, view: BatchView, prefix: str | None = None) -> None:
        self.view = view
        self.prefix = prefix or view.view_name

    def tables(self) -> list[str]:
        """CREATE TABLE / INDEX statements of the part's tables."""
        return []

    def query_indexes(self) -> list[str]:
        """CREATE INDEX IF NOT EXISTS of indexes only queries use (`query_index_statements`)."""
        return []

    def handlers(self) -> dict[type, Handler]:
        """The part's handler of each event class it keeps a fact of."""
        return {}

    def flush(self, c: Any, marked: dict[str, set[str]]) -> None:
        """Before the batch commits: recompute what its events marked stale."""

    def upgrade(self) -> None:
        """Bring rows written by an earlier version of the view up to date (at start)."""

    def rebuilt(self) -> None:
        """Caught up as a rebuild: what is worked out once at the end (then the indexes)."""


class _WriteState(threading.local):
    cursor: Any = None
    within: AbstractContextManager[Any]
    tracking: Tracking | None = None
    marked: defaultdict[str, set[str]]
    waiting: dict[str, list[tuple[Any, ...]]]
    memo: dict[str, Any]


class _PerView:
    """The view's write state: made once, under a lock, on first use; then a plain attribute
    of the view (a non-data descriptor gives way to the instance's own), read by every update."""

    _lock = threading.Lock()

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, view: Any, owner: type | None = None) -> Any:
        if view is None:
            return self
        with self._lock:
            return view.__dict__.setdefault(self.name, _WriteState())


class BatchView(SealedTexts, KeptGeneration, TrackingRecorder, ABC):
    """A materialised view: rows and tracking position change in one transaction.

    Every update runs inside `write()`. Outside a batch that is one transaction per event;
    inside `batch()` all events share one transaction, and the tracking position is
    written once, with the batch. Work that depends on several events of one client
    (recomputing its intervals) is marked and done once, before commit (`Part.flush`).
    Plain INSERTs wait and are sent together before any other statement runs (one
    `executemany`; on PostgreSQL one statement of arrays), so a batch costs a few round
    trips rather than one per event."""

    view_name: ClassVar[str]

    # ---- what each read model provides ---------------------------------------------------

    @abstractmethod
    def compose(self) -> list[Part]:
        """The parts of the view, in the order they are flushed."""

    @cached_property
    def parts(self) -> list[Part]:
        return self.compose()

    def configure(self, **options: Any) -> None:
        """Settings the view's rows depend on (changing them needs a rebuild)."""
        self.options = options

    def handlers(self) -> dict[type, Handler]:
        """Every part's handlers: each event class is kept by one part."""
        found: dict[type, Handler] = {}
        for part in self.parts:
            for cls, handler in part.handlers().items():
                assert cls not in found, f"{cls} is handled twice in {self.view_name}"
                found[cls] = handler
        return found

    def view_statements(self) -> list[str]:
        return [s for part in self.parts for s in part.tables()]

    def query_index_statements(self) -> list[str]:
        """Indexes only queries use, never the view's own updates. A rebuild drops them and
        creates them once caught up: building an index over the finished table is far
        cheaper than keeping it up to date row by row."""
        return [s for part in self.parts for s in part.query_indexes()]

    def upgrade(self) -> None:
        """Claimed for this generation (`kit.generations`); upgraded unless a later one keeps it."""
        with self.transaction() as c:
            later = self.claim_generation(c) > self.generation
        for part in [] if later else self.parts:
            part.upgrade()

    # ---- what each backend provides ------------------------------------------------------

    @abstractmethod
    def transaction(self) -> Any:
        """A context manager: a write transaction's cursor, committed on success."""

    def read_transaction(self) -> Any:
        """A context manager: a read-only cursor."""
        return self.datastore.transaction(commit=False)  # type: ignore[attr-defined]

    def snapshot_transaction(self) -> Any:
        """A read-only cursor whose statements all see the view as one moment left it (a
        SQLite read transaction does; PostgreSQL's backend asks for it)."""
        return self.read_transaction()

    def tracking_positions(self, c: Any) -> tuple[tuple[str, int], ...]:
        """Where the view is in each log it follows: its rows are those of these positions."""
        rows = self.fetch(
            c,
            f"SELECT application_name, notification_id FROM {self._tracking_table()} "
            "ORDER BY application_name",
        )
        return tuple((row["application_name"], row["notification_id"]) for row in rows)

    @abstractmethod
    def _sql(self, statement: str) -> str:
        """The statement in the backend's placeholder style."""

    def _tracking_table(self) -> str:
        """Several views share one SQLite file or PostgreSQL database: each has its own."""
        return f"{self.view_name}_tracking"

    @abstractmethod
    def refresh_statistics(self) -> None:
        """Give the query planner the view's shape (once caught up)."""

    @abstractmethod
    def has_table(self, c: Any, table: str) -> bool:
        """Whether the database has the table (for upgrades of older views)."""

    # ---- writing --------------------------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[Any]:
        """One transaction for many events; the tracking position is written with it."""
        state = self._state
        if state.cursor is not None:
            yield state.cursor
            return
        with self.transaction() as c:
            state.cursor = c
            state.within = nullcontext(c)
            state.tracking = None
            state.marked = defaultdict(set)
            state.waiting = {}
            state.memo = {}
            try:
                yield c
                self._send_waiting_rows(c)
                for part in self.parts:
                    part.flush(c, state.marked)
                self._send_waiting_rows(c)
                if state.tracking is not None:
                    self._insert_tracking(c, state.tracking)
            finally:
                state.cursor = None
                state.tracking = None
                state.waiting = {}
                state.memo = {}

    def write(self) -> AbstractContextManager[Any]:
        """The open batch's cursor, or a transaction of its own."""
        state = self._state
        if state.cursor is not None:
            return state.within
        return self.batch()

    def record(
        self, statement: str, params: Sequence[Any], tracking: Tracking, *, mark: str = ""
    ) -> None:
        """The whole of most handlers: one statement for one event, and its position; with
        `mark`, the event's aggregate (`params[0]`) marked for that kind of recompute."""
        with self.write() as c:
            self.execute(c, statement, params)
            if mark:
                self.mark(mark, params[0], tracking.notification_id)
            self.advance(tracking)

    def advance(self, tracking: Tracking) -> None:
        """Within `write()`: the position the transaction records."""
        state = self._state
        if state.tracking is None or tracking.notification_id > state.tracking.notification_id:
            state.tracking = tracking

    _state: _WriteState = _PerView()  # type: ignore[assignment]

    @property
    def batch_position(self) -> int | None:
        """The last position of the log the open batch has taken (None outside one)."""
        tracking = self._state.tracking
        return None if tracking is None else tracking.notification_id

    def batch_memo(self, key: str, factory: Callable[[], T]) -> T:
        """Something the open batch keeps in memory for its flush."""
        memo = self._state.memo
        return memo[key] if key in memo else memo.setdefault(key, factory())  # type: ignore[no-any-return]

    def mark(self, kind: str, key: str, position: int | None = None) -> None:
        """`key` (a client, a unit) is to be recomputed for `kind` before the batch commits;
        `position`: of the event that marks it (see `marked_at`)."""
        self._state.marked[kind].add(key)
        if position is not None:
            at: dict[tuple[str, str], int] = self.batch_memo("marked_at", dict)
            if position > at.get((kind, key), 0):
                at[(kind, key)] = position

    def marked_at(self, kind: str, key: str) -> int | None:
        """The last position of the open batch's events that marked `key` for `kind`."""
        return self.batch_memo("marked_at", dict).get((kind, key))  # type: ignore[no-any-return]

    @property
    def marked(self) -> dict[str, set[str]]:
        return self._state.marked

    def track(self, tracking: Tracking) -> None:
        """Advance the position past an event this view has no use for."""
        if self._state.cursor is not None:
            self.advance(tracking)
            return
        with self.write():
            self.advance(tracking)

    def track_past(self, event: Any, tracking: Tracking) -> None:
        """The handler of an event the view has no use for: only its position moves."""
        self.track(tracking)

    def reset(self) -> None:
        """Drop every row and the tracking position, so the view replays from the start."""
        with self.transaction() as c:
            self.set_generation(c)  # first: waits for another process's batch in hand
            for table in self.view_tables():
                c.execute(f"DELETE FROM {table}")
            c.execute(
                f"DELETE FROM {self._tracking_table()} WHERE application_name <> '__migration__'"
            )

    @property
    def rebuilding(self) -> bool:
        return bool(self.__dict__.get("_rebuilding", False))

    def start_rebuild(self, *, reset: bool = True) -> None:
        """Before replaying the log: drop the query indexes, then (`reset`) every row and
        the position, under the rebuild's settings (no checkpoint of the deletions on their
        own); without `reset`, an empty view caught up so (`rebuild_settings`)."""
        self._rebuilding = True
        try:
            self.drop_query_indexes()
            if reset:
                self.reset()
        except BaseException:
            # Not rebuilding after all (the rows are as they were): the indexes back, and
            # what is counted as it goes is counted again.
            self._rebuilding = False
            self.create_query_indexes()
            raise

    def drop_query_indexes(self) -> None:
        """Drop the indexes only queries use (`query_index_statements`) until caught up."""
        pattern = re.compile(r"CREATE INDEX IF NOT EXISTS (\w+)")
        for name in pattern.findall("\n".join(self.query_index_statements())):
            with self.transaction() as c:  # one table locked at a time: see below
                c.execute(f"DROP INDEX IF EXISTS {name}")

    @abstractmethod
    def catch_up_lock(self) -> AbstractContextManager[bool]:
        """Taken by one process at a time (True if got), however it ends: see `backends`."""

    def finish_rebuild(self) -> None:
        """Once caught up (or failed) after `start_rebuild()`: what the parts work out at
        the end, and the query indexes (a process stopped half way leaves them to the next)."""
        if not self.rebuilding:
            return
        for part in self.parts:
            part.rebuilt()
        self.create_query_indexes()
        self._rebuilding = False

    def create_query_indexes(self) -> None:
        # A transaction each: one holding every table's lock could deadlock with a batch of
        # another process writing the tables in another order (PostgreSQL).
        for statement in self.query_index_statements():
            with self.transaction() as c:
                c.execute(statement)

    def view_tables(self) -> list[str]:
        pattern = re.compile(r"CREATE TABLE IF NOT EXISTS (\w+)")
        return [m.group(1) for s in self.view_statements() if (m := pattern.search(s))]

    # ---- SQL ------------------------------------------------------------------------------

    def _rows_waiting_for(self, c: Any, statement: str) -> list[tuple[Any, ...]] | None:
        """The rows waiting for `statement` in the open batch, or None: it runs now (and
        whatever waits runs first)."""
        state = self._state
        if c is not state.cursor:
            return None
        waiting = state.waiting.get(statement)
        if waiting is None:
            if not _can_wait(statement):
                self._send_waiting_rows(c)
                return None
            waiting = state.waiting[statement] = []
        return waiting

    def _send_waiting_rows(self, c: Any) -> None:
        """Send the waiting rows. Each statement's rows go in the order of their first
        column, stably: a batch's rows of one key then sit on the same b-tree pages rather
        than all over the table. Rows that could conflict share their first column (every
        view key starts with it), so which of them comes first is unchanged."""
        for statement, rows in self._state.waiting.items():
            if rows:
                rows.sort(key=_first)
                self._send_rows(c, statement, rows)
        self._state.waiting.clear()

    def _send_rows(self, c: Any, statement: str, rows: list[tuple[Any, ...]]) -> None:
        """One statement's rows, in order, as the backend sends them best."""
        c.executemany(self._sql(statement), rows)

    def execute(self, c: Any, statement: str, params: Sequence[Any] = ()) -> None:
        state = self._state  # most statements of a catch-up already wait: found without a call
        waiting = state.waiting.get(statement) if c is state.cursor else None
        if waiting is None and (waiting := self._rows_waiting_for(c, statement)) is None:
            c.execute(self._sql(statement), tuple(params))
        else:
            waiting.append(tuple(params))

    def execute_many(self, c: Any, statement: str, rows: Iterable[Sequence[Any]]) -> None:
        waiting = self._rows_waiting_for(c, statement)
        rows = [tuple(r) for r in rows]
        if waiting is not None:
            waiting.extend(rows)
        elif rows:
            c.executemany(self._sql(statement), rows)

    def fetch(self, c: Any, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self._rows_waiting_for(c, statement)
        c.execute(self._sql(statement), tuple(params))
        return [dict(row) for row in c.fetchall()]

    def query(self, statement: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.read_transaction() as c:
            return self.fetch(c, statement, params)
