"""Helpers shared by the benchmarks: stores to run on, and timing."""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


@contextlib.contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as folder:
        yield f"sqlite:///{Path(folder) / 'ledger.db'}"


@contextlib.contextmanager
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster, the same one the test suite starts."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from support.pg import ThrowawayPostgres  # type: ignore[import-not-found]

    server = ThrowawayPostgres()
    server.start()
    try:
        yield server.create_database("bench")
    finally:
        server.stop()


def timed(function: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def best_of(runs: int, function: Callable[[], object]) -> float:
    return min(timed(function)[1] for _ in range(runs))
