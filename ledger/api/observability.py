"""What an operator sees of a running ledger: `GET /metrics` (Prometheus) and one JSON log
line per request.

Metrics: request latency per route template, method and status; writes per event type;
write conflicts and retries; each read model's lag behind the log, in events and seconds.
The log line carries a request id (from a sane `X-Request-Id`, else a new one, echoed on
the answer), the route *template* (never the path or query, which may carry a name) and
the principal (`admin` or `key:<key_id>`); never a body, so no personal data.

Who may read /metrics: a caller on the loopback interface (a Prometheus agent on the
host), or anyone presenting the admin token. Its figures name no client, but they tell
the volume of business, which is not for every key holder.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.api.problems import problem_response
from ledger.application.organisation_cache import fresh_reads

if TYPE_CHECKING:
    from ledger.bootstrap import Container

REQUEST_ID = b"x-request-id"  # as ASGI spells header names
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Latency buckets around the targets (a write's p99 50 ms, a query's 20 ms).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})

access_log = logging.getLogger("ledger.access")


def request_id(incoming: str | None) -> str:
    """The caller's request id if it is a short token, else a new one."""
    if incoming is not None and _SANE_REQUEST_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


class JSONLogFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message and the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            # The exception's type only: its message may quote what a caller sent.
            line["error"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        return json.dumps(line, separators=(",", ":"), default=str)


def configure_json_logs(*, access: bool = True, stream: Any = None) -> None:
    """The `ledger` loggers write JSON lines to stderr; a line per request if `access`."""
    logger = logging.getLogger("ledger")
    if not any(isinstance(h.formatter, JSONLogFormatter) for h in logger.handlers):
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(JSONLogFormatter())
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.INFO)
    access_log.setLevel(logging.INFO if access else logging.WARNING)


class ObservedMiddleware:
    """Times every request into the latency histogram and logs it as one JSON line with
    its request id, which it also answers as `X-Request-Id`; its reads of the organisation
    are fresh as of its arrival. Pure ASGI: no thread hop, no body buffering."""

    def __init__(self, app: ASGIApp, latency: Histogram) -> None:
        self.app = app
        self.latency = latency

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = None
        for name, value in scope["headers"]:
            if name == REQUEST_ID:
                incoming = value.decode("latin-1")
                break
        rid = request_id(incoming)
        scope.setdefault("state", {})["request_id"] = rid
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID, rid.encode()),
                ]
            await send(message)

        try:
            # The request's looks at the organisation see every change committed before
            # it arrived, and share the store's answer (ledger.application.organisation_cache).
            with fresh_reads():
                await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.latency.labels(template, method, str(status)).observe(seconds)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "%s %s",
                    method,
                    template,
                    extra={
                        "fields": {
                            "request_id": rid,
                            "method": method,
                            "route": template,
                            "status": status,
                            "duration_ms": round(seconds * 1000, 2),
                            "principal": scope["state"].get("principal"),
                        }
                    },
                )


class LedgerCollector:
    """Read at scrape time: writes per event type, conflicts and retries (counted by the
    application), and each read model's lag behind the log."""

    def __init__(self, container: Container) -> None:
        self.container = container

    def collect(self) -> Iterable[Any]:
        ledger = self.container.ledger
        counts = ledger.write_counts()
        writes = CounterMetricFamily(
            "ledger_writes", "Events written, by event type", labels=["type"]
        )
        for event_type, number in sorted(counts.events.items()):
            writes.add_metric([event_type], number)
        yield writes
        yield CounterMetricFamily(
            "ledger_write_conflicts",
            "Saves that lost to a concurrent write of the same aggregate",
            value=counts.conflicts,
        )
        yield CounterMetricFamily(
            "ledger_write_retries",
            "Commands re-run on the new state after a conflict",
            value=counts.retries,
        )
        yield CounterMetricFamily(
            "ledger_write_restamps",
            "Saves stamped again: another writer had recorded a later time first",
            value=counts.restamps,
        )
        yield from self._lag()

    def _lag(self) -> Iterable[Any]:
        if not self.container.views_built:
            return
        events = GaugeMetricFamily(
            "ledger_projection_lag_events",
            "Events in the log a read model has not processed yet",
            labels=["read_model"],
        )
        seconds = GaugeMetricFamily(
            "ledger_projection_lag_seconds",
            "Age of the oldest event a read model has not processed yet (0 when caught up)",
            labels=["read_model"],
        )
        ledger = self.container.ledger
        head = ledger.position
        now = time.time()
        for name, position in self.container.runner.positions().items():
            events.add_metric([name], max(0, head - position))
            age = 0.0
            if position < head:
                recorded = ledger.recorded_at(position + 1)
                age = max(0.0, now - recorded.timestamp()) if recorded else 0.0
            seconds.add_metric([name], age)
        yield events
        yield seconds


class Observability:
    """The registry of one app: its latency histogram and its ledger's collector."""

    def __init__(self, container: Container) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.latency = Histogram(
            "ledger_http_request_duration_seconds",
            "Request latency, by route template, method and status",
            ["route", "method", "status"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.registry.register(LedgerCollector(container))  # type: ignore[arg-type]
        self.container = container

    def middleware(self, app: ASGIApp) -> ObservedMiddleware:
        return ObservedMiddleware(app, self.latency)

    def may_read(self, request: Request) -> bool:
        client = request.client.host if request.client else None
        if client in LOOPBACK:
            return True
        admin = self.container.settings.admin_token
        header = request.headers.get("authorization", "")
        token = header[7:] if header[:7].lower() == "bearer " else ""
        return bool(admin) and hmac.compare_digest(
            token.encode(), admin.get_secret_value().encode()
        )

    def endpoint(self) -> Callable[[Request], Any]:
        async def metrics(request: Request) -> Response:
            if not self.may_read(request):
                return problem_response(
                    403, "metrics are for the loopback interface or the admin token"
                )
            # The collector reads the store: off the event loop.
            body = await run_in_threadpool(generate_latest, self.registry)
            return Response(body, media_type=CONTENT_TYPE_LATEST)

        return metrics
