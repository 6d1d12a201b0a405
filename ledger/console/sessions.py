"""Console sessions: an API key (or the admin token) exchanged for a random session id.

The token stays in this process's memory only: the cookie holds the session id, and every
request identifies the token again, so a revoked key or a departed manager is signed out at
once. Sessions end after `console_session_minutes` idle and after `MAX_AGE` in any case.
With `ledger serve --workers N` each worker keeps its own sessions (a sign-in holds on the
worker that took it), so the console is meant for a single worker or sticky routing.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

MAX_AGE = 12 * 3600
COOKIE = "ledger_session"
SIGNIN_COOKIE = "ledger_signin"


@dataclass
class Session:
    id: str
    token: str = field(repr=False)
    csrf: str = field(repr=False)
    started: float
    seen: float


class Sessions:
    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, token: str) -> Session:
        now = time.monotonic()
        session = Session(
            id=secrets.token_urlsafe(32),
            token=token,
            csrf=secrets.token_urlsafe(32),
            started=now,
            seen=now,
        )
        with self._lock:
            self._drop_expired(now)
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None, idle_seconds: float) -> Session | None:
        if not session_id:
            return None
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if now - session.seen > idle_seconds or now - session.started > MAX_AGE:
                del self._sessions[session_id]
                return None
            session.seen = now
            return session

    def close(self, session_id: str | None) -> None:
        with self._lock:
            self._sessions.pop(session_id or "", None)

    def _drop_expired(self, now: float) -> None:
        expired = [s.id for s in self._sessions.values() if now - s.started > MAX_AGE]
        for session_id in expired:
            del self._sessions[session_id]
