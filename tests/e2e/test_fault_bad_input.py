"""Fault: every write endpoint fed malformed and hostile input (broken JSON, random JSON,
wrong types, huge strings, naive times, times across the whole range Python can represent
with offsets of up to 14 hours, text with control characters, unknown ids, odd path ids
and headers). Never a 5xx, a refused call never appends an event (the log's position moves
only on a 2xx), and the read models keep up with whatever was accepted. On SQLite and on
PostgreSQL."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.bootstrap import Container
from support.api_world import ADMIN, PROBLEM, World, at, new_id, running_app
from support.pg import ThrowawayPostgres

NAIVE_TIMES = ["2025-01-01T09:00:00", "2025-01-01 09:00", "2025-01-01", "20250101T0900"]
BAD_TIMES = [
    "2025-13-45T99:99:99+08:00",
    "9999-12-31T23:59:59+14:00",
    "0001-01-01T00:00:00+00:00",
    "2025-01-01T09:00:00+25:00",
    "yesterday",
    "",
]
HOSTILE_STRINGS = [
    "",
    " ",
    "\x00",
    "\ud7ff\ue000",
    "💥" * 100,
    "../../etc/passwd",
    "'; DROP TABLE stored_events; --",
    "1e999",
    "NaN",
    "-0.001",
    "1234567.891",
    "x" * 5_000,  # over every field's limit, under the body's
    "x" * 70_000,  # over the 64 KiB body limit
]
WRONG_TYPES: list[Any] = [None, 0, -1, 2**70, 1.5, float("1e308"), True, [], {}, ["a"], {"a": 1}]
UNKNOWN_IDS = ["UNKNOWN", "C" + "9" * 63, "a" * 65, "-leading-dash", "café"]

# Any time Python can represent, at any offset up to 14 hours either way: near year 1 or
# 9999 its UTC is out of datetime's range. Each end of the range is drawn as often as the
# whole of it, and the bounds of what the ledger takes as often again.
OFFSETS = st.timedeltas(min_value=timedelta(hours=-14), max_value=timedelta(hours=14)).map(timezone)
EARLIEST, LATEST = datetime(1900, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC)
extreme_time = st.one_of(
    st.datetimes(min_value=datetime.min, max_value=datetime.max, timezones=OFFSETS),
    st.datetimes(max_value=datetime(1, 1, 2), timezones=OFFSETS),
    st.datetimes(min_value=datetime(9999, 12, 30), timezones=OFFSETS),
    st.sampled_from(
        [
            EARLIEST,
            EARLIEST - timedelta(seconds=1),
            LATEST,
            LATEST + timedelta(seconds=1),
            datetime.min.replace(tzinfo=timezone(timedelta(hours=14))),
            datetime.max.replace(tzinfo=timezone(timedelta(hours=-14))),
        ]
    ),
).map(datetime.isoformat)
extreme_day = st.dates().map(lambda day: day.isoformat())
CONTROLS = st.one_of(
    st.characters(min_codepoint=0, max_codepoint=0x1F),
    st.characters(min_codepoint=0x7F, max_codepoint=0x9F),
    st.sampled_from([chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]),
)
# Text with at least one control character: C0 (CR, LF and tab among them), DEL, C1, bidi.
control_text = st.tuples(st.text(max_size=5), CONTROLS, st.text(max_size=5)).map("".join)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
hostile_value = st.one_of(
    st.sampled_from(NAIVE_TIMES + BAD_TIMES + HOSTILE_STRINGS + UNKNOWN_IDS),
    st.sampled_from(WRONG_TYPES),
    st.text(max_size=40),
    extreme_time,
    control_text,
    json_values,
)
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # with one {placeholder} at most
    valid_body: Callable[[int], dict[str, Any]] | None
    valid_id: str | None = None
    # The documented path, where `path` holds a second id already filled in.
    documented: str | None = None


@dataclass
class Seeded:
    api: TestClient
    container: Container
    operations: list[Operation]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    # Module-scoped, so each store is seeded once; `postgres_url` is per test.
    if request.param == "postgres":
        server: ThrowawayPostgres = request.getfixturevalue("pg_server")
        return server.fresh_database()
    return f"sqlite:///{tmp_path_factory.mktemp('bad-input') / 'ledger.db'}"


@pytest.fixture(scope="module")
def seeded(database_url: str) -> Iterator[Seeded]:
    with running_app(database_url) as (api, container):
        world = World(api).build()
        client = world.client()
        churned = world.client()
        churn = world.post(
            f"/v1/clients/{churned}/churn",
            {"kind": "abnormal", "reason": "left", "effective_at": at(5)},
        )
        contact = world.post(
            f"/v1/clients/{client}/contacts",
            {"channel": "visit", "staff_id": world["M1"], "occurred_at": at(3)},
        )
        key_id, _ = world.key("auditor")
        assignment = world.post(
            f"/v1/clients/{client}/assignments",
            {"staff_id": world["M1"], "reason": "name list", "effective_at": at(2)},
        )
        prospects = []
        for name in ("won", "lost"):
            prospects.append(new_id(f"P{name}"))
            world.post(
                "/v1/prospects",
                {
                    "prospect_id": prospects[-1],
                    "name": "Prospect",
                    "unit_id": world["O1"],
                    "source": "media",
                    "owner_staff_id": world["M1"],
                    "occurred_at": at(1),
                },
            )
        operations = _operations(world, client, churned, churn, contact, key_id)
        yield Seeded(
            api, container, operations + _seed_operations(world, client, assignment, prospects)
        )


def _seed_operations(
    world: World, client: str, assignment: dict, prospects: list[str]
) -> list[Operation]:
    """The writes of API.md 1.1, The rest of the seed."""
    return [
        Operation(
            "POST",
            "/v1/prospects",
            lambda n: {
                "prospect_id": f"P{n}",
                "name": "Prospect",
                "unit_id": world["O1"],
                "source": "referral",
                "owner_staff_id": world["M1"],
                "occurred_at": at(1),
            },
        ),
        Operation(
            "POST",
            "/v1/prospects/{}/conversion",
            lambda n: {"client_id": f"PC{n}", "tier": "gold", "occurred_at": at(2)},
            prospects[0],
        ),
        Operation(
            "POST",
            "/v1/prospects/{}/drop",
            lambda n: {"reason": "chose another bank", "effective_at": at(3)},
            prospects[1],
        ),
        Operation(
            "POST",
            "/v1/campaigns",
            lambda n: {
                "campaign_id": f"K{n}",
                "name": "Client day",
                "channel": "event",
                "staff_id": world["M1"],
                "occurred_at": at(4),
                "client_ids": [client],
            },
        ),
        Operation(
            "POST",
            f"/v1/clients/{client}/assignments/{{}}/acknowledgement",
            None,
            assignment["event_id"],
            documented="/v1/clients/{client_id}/assignments/{event_id}/acknowledgement",
        ),
    ]


def _operations(
    world: World, client: str, churned: str, churn: dict, contact: dict, key_id: str
) -> list[Operation]:
    def fresh(prefix: str) -> Callable[[int], str]:
        return lambda n: f"{prefix}{n}"

    return [
        Operation(
            "POST",
            "/v1/units",
            lambda n: {
                "unit_id": fresh("U")(n),
                "name": "Outlet",
                "kind": "outlet",
                "parent_id": world["S1"],
            },
        ),
        Operation(
            "POST",
            "/v1/units/{}/head",
            lambda n: {"staff_id": world["M1"], "effective_at": at(1)},
            world["O1"],
        ),
        Operation(
            "POST",
            "/v1/staff",
            lambda n: {
                "staff_id": fresh("S")(n),
                "name": "Staff",
                "unit_id": world["O1"],
                "role": "client_manager",
                "effective_at": at(1),
            },
        ),
        Operation(
            "POST",
            "/v1/staff/{}/transfers",
            lambda n: {"unit_id": world["O2"], "effective_at": at(2)},
            world["M3"],
        ),
        Operation(
            "POST",
            "/v1/staff/{}/departure",
            lambda n: {"effective_at": at(300), "reason": "left"},
            world["M3"],
        ),
        Operation(
            "POST",
            "/v1/clients",
            lambda n: {
                "client_id": fresh("C")(n),
                "name": "Client",
                "unit_id": world["O1"],
                "tier": "gold",
                "occurred_at": at(1),
            },
        ),
        Operation(
            "POST", "/v1/clients/{}/profile", lambda n: {"phone": "123", "address": None}, client
        ),
        Operation(
            "POST",
            "/v1/clients/{}/assets",
            lambda n: {"amount": "1000.50", "as_of": at(5)[:10]},
            client,
        ),
        Operation(
            "POST",
            "/v1/clients/{}/tier-changes",
            lambda n: {"tier": "diamond", "reason": "grew", "effective_at": at(4)},
            client,
        ),
        Operation(
            "POST",
            "/v1/clients/{}/assignments",
            lambda n: {"staff_id": world["M1"], "reason": "new", "effective_at": at(4)},
            client,
        ),
        Operation(
            "POST",
            "/v1/clients/{}/contacts",
            lambda n: {"channel": "phone", "staff_id": world["M1"], "occurred_at": at(4)},
            client,
        ),
        Operation(
            "POST",
            "/v1/clients/{}/churn",
            lambda n: {"kind": "normal", "reason": "moved", "effective_at": at(6)},
            client,
        ),
        Operation(
            "POST",
            "/v1/clients/{}/reactivation",
            lambda n: {"reason": "won back", "effective_at": at(7)},
            churned,
        ),
        Operation(
            "POST",
            "/v1/clients/{}/retractions",
            lambda n: {"event_id": contact["event_id"], "reason": "typo"},
            client,
        ),
        Operation(
            "POST",
            "/v1/clients/{}/erasure",
            lambda n: {"reason": "asked", "legal_basis": "PIPL art. 47"},
            churned,
        ),
        Operation(
            "POST",
            "/v1/accountability/churn-cases/{}/determinations",
            lambda n: {"outcome": "waived", "reason": "moved city", "client_id": churned},
            churn["event_id"],
        ),
        Operation("POST", "/v1/api-keys", lambda n: {"role": "auditor", "label": f"key {n}"}),
        Operation("DELETE", "/v1/api-keys/{}", None, key_id),
    ]


def _is_time(field: str) -> bool:
    return field.endswith("_at")


FREE_TEXT = {"purpose", "summary", "reason", "legal_basis", "business_interests"} | {
    "product_horizon",
    "personality",
    "hobbies",
    "specialties",
}


def _forbidden_character(text: str, field: str) -> bool:
    allowed = "\n\t" if field in FREE_TEXT else ""
    return any(
        (unicodedata.category(ch) == "Cc" and ch not in allowed)
        or 0x202A <= ord(ch) <= 0x202E
        or 0x2066 <= ord(ch) <= 0x2069
        for ch in text
    )


def _out_of_range(text: str, field: str) -> bool:
    try:
        if field == "as_of":
            return not EARLIEST.date() <= date.fromisoformat(text) <= LATEST.date()
        moment = datetime.fromisoformat(text)
    except ValueError:
        return False  # not a time: refused for that, if at all
    return moment.tzinfo is not None and not EARLIEST <= moment <= LATEST


def must_be_refused(body: Any) -> bool:
    """The body holds a time out of range or a control character where none is allowed
    (API.md 1.1), whatever else it holds."""
    if not isinstance(body, dict):
        return False
    return any(
        isinstance(value, str)
        and (
            ((_is_time(name) or name == "as_of") and _out_of_range(value, name))
            or _forbidden_character(value, name)
        )
        for name, value in body.items()
    )


@st.composite
def mangled_body(draw: st.DrawFn, valid: dict[str, Any]) -> Any:
    """A valid body with a field replaced, dropped or added, or something else entirely."""
    choice = draw(st.integers(0, 6))
    body = dict(valid)
    if choice == 0 and body:
        body[draw(st.sampled_from(sorted(body)))] = draw(hostile_value)
    elif choice == 1 and body:
        for name in draw(st.lists(st.sampled_from(sorted(body)), min_size=1, unique=True)):
            body[name] = draw(hostile_value)
    elif choice == 2 and body:
        del body[draw(st.sampled_from(sorted(body)))]
    elif choice == 3:
        body[draw(st.text(min_size=1, max_size=15))] = draw(hostile_value)
    elif choice == 4:
        return draw(json_values)
    elif choice == 5 and body:
        huge = draw(st.sampled_from([5_000, 70_000, 1_000_000]))
        body[draw(st.sampled_from(sorted(body)))] = "x" * huge
    return body


@st.composite
def raw_content(draw: st.DrawFn, valid: dict[str, Any]) -> bytes:
    """Bytes that are not (quite) JSON: truncated, binary, or JSON with a trailing mess."""
    text = json.dumps(valid).encode()
    return draw(
        st.one_of(
            st.integers(0, max(len(text) - 1, 0)).map(lambda cut: text[:cut]),
            st.binary(max_size=200),
            st.sampled_from([text + b"}", text.replace(b'"', b"'"), b"\xff\xfe" + text]),
        )
    )


@st.composite
def hostile_request(draw: st.DrawFn, operation: Operation) -> dict[str, Any]:
    n = draw(st.integers(0, 10_000))
    path = operation.path
    if operation.valid_id is not None:
        path_id = draw(
            st.one_of(
                st.just(operation.valid_id),
                st.sampled_from(UNKNOWN_IDS),
                st.text(min_size=1, max_size=80),
            )
        )
        path = path.format(quote(path_id, safe=""))
    headers = dict(ADMIN)
    if draw(st.booleans()):
        headers["Idempotency-Key"] = draw(header_text)
    if draw(st.integers(0, 3)) == 0:
        headers["If-Match"] = draw(st.one_of(st.integers(-5, 10**20).map(str), header_text))
    request: dict[str, Any] = {"method": operation.method, "url": path, "headers": headers}
    if operation.valid_body is not None:
        valid = operation.valid_body(n)
        if draw(st.integers(0, 4)) == 0:
            request["content"] = draw(raw_content(valid))
            headers["Content-Type"] = "application/json"
        else:
            request["json"] = draw(mangled_body(valid))
    return request


@st.composite
def extreme_request(draw: st.DrawFn, operation: Operation) -> dict[str, Any]:
    """The operation's valid request, but with every time drawn from the whole range Python
    can represent, or one text holding a control character: only those can refuse it."""
    path = operation.path.format(operation.valid_id)
    request: dict[str, Any] = {"method": operation.method, "url": path, "headers": ADMIN}
    if operation.valid_body is None:
        return request
    body = operation.valid_body(draw(st.integers(0, 10_000)))
    times = sorted(name for name in body if _is_time(name) or name == "as_of")
    texts = sorted(name for name, value in body.items() if isinstance(value, str))
    if times and draw(st.booleans()):
        for name in times:
            body[name] = draw(extreme_day if name == "as_of" else extreme_time)
    else:
        body[draw(st.sampled_from(texts))] = draw(control_text)
    return {**request, "json": body}


def _check_answer(seeded: Seeded, request: dict[str, Any]) -> None:
    ledger = seeded.container.ledger
    before = ledger.position
    answer = seeded.api.request(**request)
    assert answer.status_code < 500, answer.text
    if must_be_refused(request.get("json")):
        assert not 200 <= answer.status_code < 300, answer.text
    if answer.headers.get("Idempotent-Replayed") == "true":
        assert ledger.position == before  # a retry answered from the first write
    elif 200 <= answer.status_code < 300:
        assert ledger.position > before
    else:
        assert answer.headers["content-type"] == PROBLEM, answer.text
        assert ledger.position == before, f"{answer.status_code} appended an event"


def _assert_read_models_keep_up(seeded: Seeded) -> None:
    # Whatever was accepted, the read models process it (a time they cannot convert would
    # stop them for good).
    runner = seeded.container.runner
    assert runner.is_running
    assert runner.wait(seeded.container.ledger.position, timeout=30), runner.error


PROPERTY_SETTINGS = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


OPERATION_NAMES = [
    "create unit",
    "appoint head",
    "join staff",
    "transfer staff",
    "depart staff",
    "register client",
    "update profile",
    "report assets",
    "change tier",
    "assign",
    "log contact",
    "churn",
    "reactivate",
    "retract",
    "erase",
    "determine",
    "issue api key",
    "revoke api key",
    "record prospect",
    "convert prospect",
    "drop prospect",
    "hold campaign",
    "acknowledge assignment",
]


@pytest.mark.parametrize("index", range(len(OPERATION_NAMES)), ids=OPERATION_NAMES)
@pytest.mark.parametrize(
    "strategy", [hostile_request, extreme_request], ids=["mangled", "extreme times and text"]
)
def test_hostile_input_is_refused_without_a_server_error_or_an_event(
    seeded: Seeded, index: int, strategy: Callable[[Operation], st.SearchStrategy[dict]]
) -> None:
    operation = seeded.operations[index]

    @PROPERTY_SETTINGS
    @given(request=strategy(operation))
    def check(request: dict[str, Any]) -> None:
        _check_answer(seeded, request)

    check()
    _assert_read_models_keep_up(seeded)


def test_every_write_endpoint_is_fed_hostile_input(seeded: Seeded) -> None:
    """The operations above are all the writes the schema documents."""
    spec = seeded.api.get("/openapi.json").json()
    # Verification is a POST that computes and appends nothing; the schemathesis run covers it.
    reads_by_post = {("POST", "/v1/integrity/verify")}
    # A name list is a file, not JSON: test_imports feeds it hostile files.
    fed_elsewhere = {("POST", "/v1/imports")}
    documented = (
        {
            (method.upper(), path)
            for path, methods in spec["paths"].items()
            for method in methods
            if method in ("post", "put", "patch", "delete")
        }
        - reads_by_post
        - fed_elsewhere
    )
    covered = {
        (op.method, op.documented or op.path.replace("{}", "{" + _placeholder(spec, op) + "}"))
        for op in seeded.operations
    }
    assert documented == covered
    assert len(OPERATION_NAMES) == len(seeded.operations)


def _placeholder(spec: dict, operation: Operation) -> str:
    prefix, _, _ = operation.path.partition("{}")
    for path in spec["paths"]:
        if path.startswith(prefix) and "{" in path[len(prefix) :][:1]:
            return path[len(prefix) + 1 :].split("}")[0]
    return ""
