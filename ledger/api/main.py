"""The app as uvicorn's workers import it: `ledger.api.main:create` (a factory).

Each worker builds its own container from the environment and closes it on shutdown.
"""

from __future__ import annotations

import gc
import os

from fastapi import FastAPI

from ledger.api.app import create_app
from ledger.api.observability import configure_json_logs
from ledger.bootstrap import build


def create() -> FastAPI:
    configure_json_logs(access=os.environ.get("LEDGER_ACCESS_LOG", "1") == "1")
    app = create_app(build(), close_on_shutdown=True)
    settle_heap()
    return app


# Collections of the middle generation between two full ones (Python's default: 10).
FULL_AFTER = 100


def settle_heap() -> None:
    """What a server built before its first request lives as long as it does: it is moved
    out of the cyclic collector's reach (`gc.freeze`, after a collection), so a full
    collection walks only what requests made since. Every few dozen large answers one ran
    over every module, class and cache: 70-80 ms for ~155,000 objects at the 100,000-client
    demo, the p99 of a branch's complaints (50-100 ms against a p50 of 7-15).

    Full collections also come ten times less often (`FULL_AFTER`): what requests keep
    (caches) grows to ~23,000 objects, walked every 1-2 s under a reader's load, 4-60 ms
    each (bench.seed_reports --trace). A request's own cycles die in the younger
    generations, which keep their thresholds."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_AFTER)
