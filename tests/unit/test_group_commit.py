"""The group commit's hand-offs (`ledger.store.group_commit.GroupCommit`), with a stand-in
for the store's group write: every waiter gets an answer, its own, whatever the write does."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from ledger.store.group_commit import GroupCommit, Outcome


class Writes:
    """Positions counted from 1; an insert of ["no"] is refused alone; the first group is
    held until `release`; with `fail`, a group's write raises."""

    def __init__(self) -> None:
        self.groups: list[list[Sequence[Any]]] = []
        self.held = threading.Event()
        self.release = threading.Event()
        self.fail: BaseException | None = None
        self.short = False
        self._next = 1

    def __call__(self, inserts: list[Sequence[Any]]) -> list[Outcome]:
        self.groups.append(inserts)
        if len(self.groups) == 1:
            self.held.set()
            self.release.wait(10)
        if self.fail is not None:
            raise self.fail
        outcomes: list[Outcome] = []
        for events in inserts:
            if list(events) == ["no"]:
                outcomes.append(ValueError("refused"))
                continue
            outcomes.append(list(range(self._next, self._next + len(events))))
            self._next += len(events)
        return outcomes[:-1] if self.short else outcomes


def run(commit: GroupCommit, events: Sequence[Any]) -> tuple[threading.Thread, dict[str, Any]]:
    answer: dict[str, Any] = {}

    def insert() -> None:
        try:
            answer["value"] = commit.insert(events)
        except BaseException as error:  # the test reads it
            answer["error"] = error

    thread = threading.Thread(target=insert)
    thread.start()
    return thread, answer


def queued(commit: GroupCommit, count: int) -> None:
    deadline = time.monotonic() + 5
    while len(commit._waiting) < count:
        assert time.monotonic() < deadline
        time.sleep(0.002)


def test_waiters_are_written_together_and_each_gets_its_own_answer() -> None:
    writes = Writes()
    commit = GroupCommit(writes)
    first = run(commit, ["a"])
    assert writes.held.wait(5)
    rest = [run(commit, events) for events in (["b", "c"], ["no"], ["d"])]
    queued(commit, 3)
    writes.release.set()
    for thread, _ in [first, *rest]:
        thread.join(5)
    answers = [answer for _, answer in [first, *rest]]
    assert [len(g) for g in writes.groups] == [1, 3]
    assert answers[0]["value"] == [1]
    assert answers[1]["value"] == [2, 3]
    assert str(answers[2]["error"]) == "refused"
    assert answers[3]["value"] == [4]
    assert (commit.groups, commit.inserts) == (2, 4)
    assert not commit._writing and commit._waiting == []


@pytest.mark.parametrize("how", ["raises", "answers short"])
def test_a_failed_group_write_answers_every_waiter_and_the_next_group_is_written(
    how: str,
) -> None:
    writes = Writes()
    commit = GroupCommit(writes)
    first = run(commit, ["a"])
    assert writes.held.wait(5)
    if how == "raises":
        writes.fail = OSError("disk full")
    else:
        writes.short = True
    rest = [run(commit, ["b"]), run(commit, ["c"])]
    queued(commit, 2)
    writes.release.set()
    for thread, _ in [first, *rest]:
        thread.join(5)
        assert not thread.is_alive()
    errors = [answer.get("error") for _, answer in [first, *rest]]
    assert all(isinstance(e, OSError if how == "raises" else RuntimeError) for e in errors)
    writes.fail, writes.short = None, False
    assert len(commit.insert(["e"])) == 1  # the next insert is written, and answered
