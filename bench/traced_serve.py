"""`ledger serve` with a trace of what pauses it: each garbage collection of 1 ms or more
(its generation, wall-clock start and length), one line each in the file named by
LEDGER_BENCH_TRACE. For benchmarks that look for the cause of a slow sample
(`bench.seed_reports --trace`); the ledger itself is unchanged.

    python -m bench.traced_serve serve --port 8000
"""

from __future__ import annotations

import gc
import os
import time
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
                f"collected={info['collected']}\n"
            )

    gc.callbacks.append(callback)


def main() -> None:
    path = os.environ.get("LEDGER_BENCH_TRACE")
    if path:
        trace_collections(path)
    from ledger.cli import app

    app()


if __name__ == "__main__":
    main()
