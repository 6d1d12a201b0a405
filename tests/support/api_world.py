"""Building blocks for the HTTP tests: an app on a chosen store, tokens, an organisation."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from ledger.api.app import create_app
from ledger.bootstrap import Container, build
from ledger.config import Settings

PROBLEM = "application/problem+json"


def assert_problem(answer: Any, status: int) -> dict[str, Any]:
    """A problem+json answer with this status, its status in the body too."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    body: dict[str, Any] = answer.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body


ADMIN_TOKEN = "test-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
YEAR_AGO = datetime.now(UTC) - timedelta(days=365)


def health_at(api: Any, position: int, timeout: float = 10) -> dict[str, Any]:
    """/v1/health once every view has reached `position` (a read's `after=` waits for its
    own view only; the others get there a moment later)."""
    deadline = time.monotonic() + timeout
    while True:
        health: dict[str, Any] = api.get("/v1/health").json()
        if min(health["projections"].values()) >= position:
            return health
        assert time.monotonic() < deadline, f"views short of {position}: {health}"
        time.sleep(0.02)


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def at(days_after_year_ago: float) -> str:
    return (YEAR_AGO + timedelta(days=days_after_year_ago)).isoformat()


class SwitchableClock:
    """The ledger's clock, which a test can make fail to inject an unexpected error."""

    def __init__(self) -> None:
        self.failing = False

    def __call__(self) -> datetime:
        if self.failing:
            raise RuntimeError("clock exploded: secret internals")
        return datetime.now(UTC)


class SettableClock:
    """The ledger's clock at a time the test chooses: events are recorded at `now`."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@contextmanager
def running_app(
    database_url: str,
    clock: Callable[[], datetime] | None = None,
    *,
    follow: bool | None = None,
    **settings: Any,
) -> Iterator[tuple[TestClient, Container]]:
    container = build(
        Settings(database_url=database_url, admin_token=SecretStr(ADMIN_TOKEN), **settings),
        clock=clock,
    )
    try:
        app = create_app(container, follow=follow)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client, container
    finally:
        container.close()


class ContractOnEachStore:
    """A contract run once per store: a subclass per backend provides `database_url`; `app`
    is the app on it, its reads waiting up to 2 s for the read models."""

    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def app(self, database_url: str) -> Iterator[tuple[TestClient, Container]]:
        with running_app(database_url, read_wait_seconds=2) as running:
            yield running


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class World:
    """branch > department > sub-branch S1 > outlets O1, O2; sub-branch S2 > outlet O3.
    Staff M1 (client manager in O1) and M3 (in O3) joined a year and a day ago."""

    api: TestClient
    ids: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> str:
        return self.ids[name]

    def post_raw(self, path: str, body: dict, headers: dict | None = None) -> httpx.Response:
        return self.api.post(path, json=body, headers=headers or ADMIN)

    def post(self, path: str, body: dict, headers: dict | None = None) -> dict:
        answer = self.api.post(path, json=body, headers=headers or ADMIN)
        assert answer.status_code == 201, answer.text
        return answer.json()

    def build(self) -> World:
        for name in ("B", "D", "S1", "S2", "O1", "O2", "O3", "M1", "M3"):
            self.ids[name] = new_id(name)
        tree = [
            ("B", "branch", None),
            ("D", "department", "B"),
            ("S1", "sub_branch", "D"),
            ("S2", "sub_branch", "D"),
            ("O1", "outlet", "S1"),
            ("O2", "outlet", "S1"),
            ("O3", "outlet", "S2"),
        ]
        for name, kind, parent in tree:
            self.post(
                "/v1/units",
                {
                    "unit_id": self[name],
                    "name": f"unit {name}",
                    "kind": kind,
                    "parent_id": self[parent] if parent else None,
                },
            )
        for staff, unit in (("M1", "O1"), ("M3", "O3")):
            self.post(
                "/v1/staff",
                {
                    "staff_id": self[staff],
                    "name": f"staff {staff}",
                    "unit_id": self[unit],
                    "role": "client_manager",
                    "effective_at": at(-1),
                },
            )
        self.caught_up()
        return self

    def caught_up(self) -> None:
        """Once the read models (if this app runs them) have taken in every write so far: a
        test then reads them as they are, as a person's page does, without `after=` (under
        a stream of writes they pull the log once per `projection_pull_gap_seconds`)."""
        container = self.api.app.state.container  # type: ignore[attr-defined]
        if container.runner.is_running:
            assert container.runner.wait(container.ledger.position, timeout=10)

    def hire(self, name: str, unit: str, role: str, since: str) -> str:
        """A staff member `name` (its id in `ids`) joining `unit` in `role` at `since`."""
        self.ids[name] = new_id(name)
        self.post(
            "/v1/staff",
            {
                "staff_id": self[name],
                "name": name,
                "unit_id": self[unit],
                "role": role,
                "effective_at": since,
            },
        )
        return self[name]

    def client(self, unit: str = "O1", tier: str = "standard") -> str:
        client_id = new_id("C")
        self.post(
            "/v1/clients",
            {
                "client_id": client_id,
                "name": "Wang Fang",
                "unit_id": self[unit],
                "tier": tier,
                "occurred_at": at(0),
            },
        )
        return client_id

    def churned_client(self, unit: str = "O1", tier: str = "diamond") -> tuple[str, str]:
        """A client of `unit` held by M1 from day 1 who churned abnormally on day 40:
        its id and its churn case's id."""
        client_id = self.client(unit=unit, tier=tier)
        self.post(
            f"/v1/clients/{client_id}/assignments",
            {"staff_id": self["M1"], "reason": "r", "effective_at": at(1)},
        )
        churn = self.post(
            f"/v1/clients/{client_id}/churn",
            {"kind": "abnormal", "reason": "competitor", "effective_at": at(40)},
        )
        return client_id, churn["event_id"]

    def key(self, role: str, staff: str | None = None) -> tuple[str, dict[str, str]]:
        body = {"role": role, "label": f"{role} key"}
        if staff is not None:
            body["staff_id"] = self[staff]
        issued = self.post("/v1/api-keys", body)
        return issued["key_id"], bearer(issued["token"])


def ok(answer: Any) -> dict[str, Any]:
    """The JSON of a 200 answer."""
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


class WorldCase:
    """An HTTP test case over a `World`, run once per store: a subclass per backend gives
    `database_url`."""

    @pytest.fixture
    def database_url(self) -> str:
        raise NotImplementedError

    @pytest.fixture
    def app(self, database_url: str) -> Iterator[tuple[TestClient, Container]]:
        with running_app(database_url) as running:
            yield running

    @pytest.fixture
    def world(self, app: tuple[TestClient, Container]) -> World:
        return World(app[0]).build()

    def get(self, world: World, path: str, **params: Any) -> dict[str, Any]:
        """A read as admin, after every write so far has reached the read models."""
        params.setdefault("after", world.api.get("/v1/health").json()["position"])
        return ok(world.api.get(path, params=params, headers=ADMIN))

    def restated(
        self, world: World, report: str, known_at: str, compare_known_at: str, **params: Any
    ) -> dict[str, Any]:
        """`report` (with its `params`) as known at two recorded times (API.md 1.1, Audit)."""
        return self.get(
            world,
            "/v1/audit/restatements",
            report=report,
            known_at=known_at,
            compare_known_at=compare_known_at,
            **params,
        )
