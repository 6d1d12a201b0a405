"""Group commit: concurrent inserts into one store written in one transaction.

An insert that arrives while another is being written waits; the writer, once done, hands
the writing on to the first waiting insert, which writes every insert waiting by then in one
transaction (each in a savepoint of its own: an insert that conflicts, or is stamped before
the log's last recorded time, is rolled back alone and its caller alone gets the error, so
conflicts stay per aggregate). Each caller gets its own positions or its own error. What a
transaction costs whatever it holds (taking the write lock, the log's last recorded time,
the chain's heads, the pages the commit writes: ~230 µs of CPU on SQLite against ~60 µs an
event, bench/RESULTS.md §14) is then paid once per group, not once per insert.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

# What a group's write answers for each of its inserts: its positions, or its error.
Outcome = Sequence[int] | BaseException


class _Waiting:
    __slots__ = ("events", "outcome", "turn")

    def __init__(self, events: Sequence[Any]) -> None:
        self.events = events
        self.outcome: Outcome | None = None
        # Set once its outcome is there, or once it is handed the writing.
        self.turn = threading.Event()


class GroupCommit:
    """Writes inserts with `write_group`, those waiting together in one call, which answers
    an outcome per insert in order (if it raises, every insert of the group gets that)."""

    def __init__(self, write_group: Callable[[list[Sequence[Any]]], list[Outcome]]) -> None:
        self._write_group = write_group
        self._lock = threading.Lock()
        self._waiting: list[_Waiting] = []
        self._writing = False
        # Groups written and the inserts in them (read by tests and benchmarks).
        self.groups = 0
        self.inserts = 0

    def insert(self, events: Sequence[Any]) -> Sequence[int]:
        """The positions of `events`, written with whatever inserts wait beside them."""
        mine = _Waiting(events)
        with self._lock:
            leading = not self._writing
            if leading:
                self._writing = True
            else:
                self._waiting.append(mine)
        if not leading:
            mine.turn.wait()
        if mine.outcome is None:  # the first, or handed the writing while it waited
            self._lead(mine)
        outcome = mine.outcome
        if isinstance(outcome, BaseException):
            raise outcome
        assert outcome is not None
        return outcome

    def _lead(self, mine: _Waiting) -> None:
        with self._lock:
            group = [mine, *(w for w in self._waiting if w is not mine)]
            self._waiting = []
        try:
            outcomes = self._write_group([w.events for w in group])
            if len(outcomes) != len(group):  # every waiter must get an answer
                raise RuntimeError(f"{len(outcomes)} outcomes for {len(group)} inserts")
        except BaseException as error:
            outcomes = [error] * len(group)
        with self._lock:
            self.groups += 1
            self.inserts += len(group)
            following = self._waiting[0] if self._waiting else None
            if following is None:
                self._writing = False
        for waiting, outcome in zip(group, outcomes, strict=True):
            waiting.outcome = outcome
            if waiting is not mine:
                waiting.turn.set()
        if following is not None:
            following.turn.set()  # its outcome is None: it writes what waits by now
