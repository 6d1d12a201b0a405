"""A real `ledger serve` subprocess, an organisation posted to it, and writers that remember
every answer: the building blocks of the fault tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from support.pg import free_port

ADMIN_TOKEN = "fault-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
STAFF_SINCE = datetime.now(UTC) - timedelta(days=400)
CLIENTS_SINCE = datetime.now(UTC) - timedelta(days=300)


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def moment(days_after_registration: float) -> str:
    return (CLIENTS_SINCE + timedelta(days=days_after_registration)).isoformat()


def run_cli(database_url: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LEDGER_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "ledger.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def serve_process(env: dict[str, str], cwd: Path, port: int, *args: str) -> subprocess.Popen[str]:
    """`ledger serve` on `port` in `cwd`, its output captured as text."""
    return subprocess.Popen(
        [sys.executable, "-m", "ledger.cli", "serve", "--port", str(port), *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


class Server:
    """`python -m ledger.cli serve` on a store, on a fixed port so a restart reuses it."""

    def __init__(self, database_url: str, workdir: Path, *, extra_env: dict | None = None):
        self.database_url = database_url
        self.workdir = workdir
        self.port = free_port()
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / f"serve-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> float:
        """Start and wait for health; answer the seconds it took."""
        started = time.monotonic()
        env = {
            **os.environ,
            "LEDGER_DATABASE_URL": self.database_url,
            "LEDGER_ADMIN_TOKEN": ADMIN_TOKEN,
            **self.extra_env,
        }
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ledger.cli", "serve", "--port", str(self.port)],
                env=env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not healthy within {timeout} s:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, no goodbye."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


class Projector:
    """`python -m ledger.cli project`: the projections in a process of their own."""

    def __init__(self, database_url: str, workdir: Path) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.log = workdir / "project.log"

    def start(self) -> None:
        env = {**os.environ, "LEDGER_DATABASE_URL": self.database_url}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                # faulthandler: `threads()` has it print where every thread is.
                [sys.executable, "-X", "faulthandler", "-m", "ledger.cli", "project"],
                env=env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if not self.running():
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def output(self, *, whole: bool = False) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text if whole else text[-4000:]

    def threads(self) -> str:
        """Where each of its threads is (a failing test's evidence): SIGABRT makes the
        process print them (faulthandler) and end."""
        if not self.running():
            return self.output()
        assert self.process is not None
        self.process.send_signal(signal.SIGABRT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        return self.output()


@dataclass
class Org:
    """branch > department > sub-branch > outlet, with client managers in the outlet."""

    outlet: str
    sub_branch: str
    staff: list[str]


def post(http: httpx.Client, path: str, body: dict, **headers: str) -> dict:
    answer = http.post(path, json=body, headers={**ADMIN, **headers})
    assert answer.status_code == 201, f"{path}: {answer.status_code} {answer.text}"
    return answer.json()


def build_org(http: httpx.Client, managers: int = 3) -> Org:
    ids = {name: new_id(name) for name in ("B", "D", "S", "O")}
    for name, kind, parent in (
        ("B", "branch", None),
        ("D", "department", "B"),
        ("S", "sub_branch", "D"),
        ("O", "outlet", "S"),
    ):
        post(
            http,
            "/v1/units",
            {
                "unit_id": ids[name],
                "name": name,
                "kind": kind,
                "parent_id": ids[parent] if parent else None,
            },
        )
    staff = []
    for _ in range(managers):
        staff_id = new_id("M")
        post(
            http,
            "/v1/staff",
            {
                "staff_id": staff_id,
                "name": "Manager",
                "unit_id": ids["O"],
                "role": "client_manager",
                "effective_at": STAFF_SINCE.isoformat(),
            },
        )
        staff.append(staff_id)
    return Org(outlet=ids["O"], sub_branch=ids["S"], staff=staff)


def register_client(http: httpx.Client, org: Org, tier: str = "gold") -> str:
    client_id = new_id("C")
    post(
        http,
        "/v1/clients",
        {
            "client_id": client_id,
            "name": "Client",
            "unit_id": org.outlet,
            "tier": tier,
            "occurred_at": CLIENTS_SINCE.isoformat(),
        },
    )
    return client_id


@dataclass(frozen=True)
class Request:
    path: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("Idempotency-Key")


@dataclass(frozen=True)
class Answer:
    request: Request
    status: int | None  # None: no answer (the connection broke)
    body: dict[str, Any] | None
    headers: dict[str, str]
    at: float  # when the answer (or the broken connection) came back
    took: float


@dataclass
class Journal:
    """Every request a writer sent and what came back, in order, shared by the writers."""

    answers: list[Answer] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, answer: Answer) -> None:
        with self.lock:
            self.answers.append(answer)

    def with_status(self, *statuses: int | None) -> list[Answer]:
        with self.lock:
            return [a for a in self.answers if a.status in statuses]

    def count(self, status: int | None) -> int:
        return len(self.with_status(status))


def send(http: httpx.Client, request: Request, journal: Journal) -> Answer:
    sent_at = time.monotonic()
    try:
        response = http.post(request.path, json=request.body, headers={**ADMIN, **request.headers})
    except httpx.TransportError:
        now = time.monotonic()
        answer = Answer(request, None, None, {}, now, now - sent_at)
    else:
        try:
            body = response.json()
        except ValueError:
            body = {"text": response.text}
        now = time.monotonic()
        answer = Answer(
            request, response.status_code, body, dict(response.headers), now, now - sent_at
        )
    journal.add(answer)
    return answer


class Writers:
    """Threads that each post the requests a factory makes until stopped."""

    def __init__(
        self,
        base_url: str,
        count: int,
        make_request: Callable[[int, int], Request],
        journal: Journal,
        *,
        pause: float = 0.0,
        timeout: float = 30,
    ) -> None:
        self.base_url = base_url
        self.make_request = make_request
        self.journal = journal
        self.pause = pause
        self.timeout = timeout
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(count)
        ]

    def _run(self, writer: int) -> None:
        with httpx.Client(base_url=self.base_url, timeout=self.timeout) as http:
            sequence = 0
            while not self.stopping.is_set():
                send(http, self.make_request(writer, sequence), self.journal)
                sequence += 1
                if self.pause:
                    time.sleep(self.pause)

    def __enter__(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=self.timeout + 10)
        assert not any(thread.is_alive() for thread in self.threads), "a writer hung"


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


# ---- reading the whole log back, as a fresh process would ---------------------------------


@dataclass(frozen=True)
class Logged:
    position: int
    originator_id: uuid.UUID
    version: int
    event: Any


@dataclass
class LogAudit:
    """The whole log read through a fresh ledger, and the faults it must not show."""

    events: list[Logged]
    by_event_id: dict[str, Logged]
    problems: list[str]

    def assert_whole(self) -> None:
        assert not self.problems, "\n".join(self.problems[:20])


def audit_log(ledger: Any) -> LogAudit:
    """Every event in position order; checks no (aggregate, version) twice, versions 1..n
    with no gap, a unit created under a parent iff the parent attached it, and an
    idempotency key only beside the write it names."""
    from ledger.domain import Unit
    from ledger.domain.idempotency import IdempotencyKey
    from ledger.domain.values import event_id

    events: list[Logged] = []
    start = 1
    while True:
        page = ledger.recorder.select_notifications(start=start, limit=500)
        for notification in page:
            originator_id = notification.originator_id
            if not isinstance(originator_id, uuid.UUID):
                originator_id = uuid.UUID(str(originator_id))
            events.append(
                Logged(
                    position=notification.id,
                    originator_id=originator_id,
                    version=notification.originator_version,
                    event=ledger.mapper.to_domain_event(notification),
                )
            )
        if len(page) < 500:
            break
        start = page[-1].id + 1
    problems: list[str] = []
    by_event_id: dict[str, Logged] = {}
    versions: dict[uuid.UUID, list[int]] = {}
    for logged in events:
        eid = event_id(logged.originator_id, logged.version)
        if eid in by_event_id:
            problems.append(f"event {eid} is in the log twice")
        by_event_id[eid] = logged
        versions.setdefault(logged.originator_id, []).append(logged.version)
    for originator_id, seen in versions.items():
        if sorted(seen) != list(range(1, len(seen) + 1)):
            problems.append(f"aggregate {originator_id} has versions {sorted(seen)}")
    unit_ids = {
        e.originator_id: e.event.unit_id for e in events if isinstance(e.event, Unit.Created)
    }
    created_under: set[tuple[str, str]] = set()
    attached: set[tuple[str, str]] = set()
    for logged in events:
        event = logged.event
        if isinstance(event, Unit.Created) and event.parent_id is not None:
            created_under.add((event.parent_id, event.unit_id))
        elif isinstance(event, Unit.ChildAttached):
            attached.add((unit_ids[logged.originator_id], event.child_id))
        elif isinstance(event, IdempotencyKey.Claimed):
            named = event_id(event.event_originator_id, event.event_version)
            if named not in by_event_id:
                problems.append(f"idempotency key {event.key!r} names {named}, not in the log")
    for parent, child in sorted(created_under ^ attached):
        problems.append(f"unit {child} under {parent}: created and attached not both present")
    return LogAudit(events=events, by_event_id=by_event_id, problems=problems)


def idempotency_keys(audit: LogAudit) -> dict[str, str]:
    """Key -> the event id it names, for every claim in the log."""
    from ledger.domain.idempotency import IdempotencyKey
    from ledger.domain.values import event_id

    return {
        logged.event.key: event_id(logged.event.event_originator_id, logged.event.event_version)
        for logged in audit.events
        if isinstance(logged.event, IdempotencyKey.Claimed)
    }
