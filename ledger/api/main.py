"""The app as uvicorn's workers import it: `ledger.api.main:create` (a factory).

Each worker builds its own container from the environment and closes it on shutdown.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from ledger.api.app import create_app
from ledger.api.observability import configure_json_logs
from ledger.bootstrap import build


def create() -> FastAPI:
    configure_json_logs(access=os.environ.get("LEDGER_ACCESS_LOG", "1") == "1")
    return create_app(build(), close_on_shutdown=True)
