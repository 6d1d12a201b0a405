"""`ledger serve` with a trace of what pauses it: each garbage collection of 1 ms or more
(its generation, wall-clock start and length; a full one also how many objects it walked,
and of which types), one line each in the file named by LEDGER_BENCH_TRACE. For benchmarks
that look for the cause of a slow sample (`bench.seed_reports --trace`); the ledger itself
is unchanged.

    python -m bench.traced_serve serve --port 8000
"""

from __future__ import annotations

import gc
import os
import time
from collections import Counter
from typing import Any

SHORTEST = 0.001


def trace_collections(path: str) -> None:
    out = open(path, "a", buffering=1)  # noqa: SIM115 - open for the process's life
    started: dict[str, float] = {}

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started["at"], started["clock"] = time.time(), time.perf_counter()
            return
        took = time.perf_counter() - started.get("clock", time.perf_counter())
        if took >= SHORTEST:
            out.write(
                f"gc {started['at']:.6f} {took * 1000:.2f} gen={info['generation']} "
                f"collected={info['collected']}{_oldest() if info['generation'] == 2 else ''}\n"
            )

    gc.callbacks.append(callback)


def _oldest() -> str:
    """How many objects a full collection walked, and of which types the most (frozen ones
    are not walked)."""
    walked = gc.get_objects(generation=2)
    kinds = Counter(type(o).__name__ for o in walked).most_common(6)
    return f" walked={len(walked)} " + ",".join(f"{k}:{n}" for k, n in kinds)


def main() -> None:
    path = os.environ.get("LEDGER_BENCH_TRACE")
    if path:
        trace_collections(path)
    from ledger.cli import app

    app()


if __name__ == "__main__":
    main()
