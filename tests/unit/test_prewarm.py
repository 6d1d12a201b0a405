"""The store's files asked of the kernel ahead after a start: in order, while they fit."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ledger.bootstrap import PROJECTIONS, sqlite_files
from ledger.store.prewarm import (
    available_memory,
    prewarm,
    prewarm_in_background,
    prewarm_in_child,
)


def _file(path: Path, size: int) -> Path:
    path.write_bytes(b"\0" * size)
    return path


def test_the_files_are_asked_in_order_while_they_fit_the_budget(tmp_path: Path) -> None:
    a, b, c = (_file(tmp_path / n, size) for n, size in (("a", 4096), ("b", 8192), ("c", 100)))
    assert prewarm([a, b, c], budget=20_000) == [a, b, c]
    # b does not fit what a leaves: it and what follows are left to the disk.
    assert prewarm([a, b, c], budget=10_000) == [a]


def test_a_missing_file_is_passed_over(tmp_path: Path) -> None:
    a = _file(tmp_path / "a", 10)
    assert prewarm([tmp_path / "missing", a], budget=100) == [a]


def test_by_default_the_budget_is_a_share_of_the_available_memory(tmp_path: Path) -> None:
    available = available_memory()
    assert available is not None and available > 0
    small = _file(tmp_path / "small", 4096)
    assert prewarm([small]) == [small]


def test_a_child_process_asks_and_answers_how_many(tmp_path: Path) -> None:
    a, b = _file(tmp_path / "a b", 10), _file(tmp_path / "-x", 10)
    assert prewarm_in_child([a, tmp_path / "missing", b]) == 2
    assert prewarm_in_child([]) == 0


def test_a_child_that_cannot_run_answers_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python"))
    assert prewarm_in_child([_file(tmp_path / "a", 10)]) is None


def test_in_the_background_the_start_does_not_wait(tmp_path: Path) -> None:
    thread = prewarm_in_background([_file(tmp_path / "a", 10)])
    assert thread.daemon
    thread.join(10)
    assert not thread.is_alive()


def test_a_sqlite_store_s_files_are_its_views_then_its_log() -> None:
    files = sqlite_files("sqlite:////srv/ledger/ledger.db")
    assert files[-1] == "/srv/ledger/ledger.db"
    assert files[:-1] == [f"/srv/ledger/ledger.{name}.db" for name in PROJECTIONS]
