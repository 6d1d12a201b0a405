"""The naive reference for writes over HTTP (issue 17): FastAPI validates the same contact
body with pydantic and inserts one SQLite row per request (WAL, synchronous=NORMAL), served
by uvicorn with the ledger's options (httptools, uvloop, one worker, no access log).

    python -m bench.reference_app --port 8001 --database /tmp/reference.db
"""

from __future__ import annotations

import argparse
import sqlite3
import threading
from datetime import datetime
from typing import Annotated, Literal

import uvicorn
from fastapi import FastAPI, Path
from pydantic import BaseModel, Field

Channel = Literal["visit", "phone", "wechat", "sms", "event", "letter"]


class ContactCreate(BaseModel):
    channel: Channel
    staff_id: Annotated[str, Field(min_length=1, max_length=64)]
    occurred_at: datetime
    purpose: Annotated[str | None, Field(max_length=500)] = None
    summary: Annotated[str | None, Field(max_length=2000)] = None


class Written(BaseModel):
    id: str
    position: int


def create(database: str) -> FastAPI:
    local = threading.local()

    def connection() -> sqlite3.Connection:
        if not hasattr(local, "db"):
            db = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=5000")
            local.db = db
        return local.db  # type: ignore[no-any-return]

    connection().execute(
        "CREATE TABLE IF NOT EXISTS contacts (position INTEGER PRIMARY KEY, client_id TEXT, "
        "body TEXT)"
    )
    app = FastAPI()

    @app.post("/v1/clients/{client_id}/contacts", status_code=201)
    def log_contact(client_id: Annotated[str, Path(max_length=64)], body: ContactCreate) -> Written:
        cursor = connection().execute(
            "INSERT INTO contacts (client_id, body) VALUES (?, ?)",
            (client_id, body.model_dump_json()),
        )
        return Written(id=client_id, position=cursor.lastrowid or 0)

    @app.get("/v1/health")
    def health() -> dict[str, object]:
        return {"status": "ok", "position": 0, "projections": {}}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", required=True)
    args = parser.parse_args()
    uvicorn.run(create(args.database), host="127.0.0.1", port=args.port, access_log=False)


if __name__ == "__main__":
    main()
