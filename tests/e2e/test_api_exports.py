"""API.md 1.1, Exports: the list endpoints take `format=csv|xlsx` and answer every matching
row (not a page), CSV in UTF-8 with a byte-order mark, XLSX a real workbook, both headed by
the JSON field names."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from support.api_world import ADMIN, World, at, running_app

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    url = f"sqlite:///{tmp_path_factory.mktemp('exports')}/ledger.db"
    with running_app(url) as (api, _):
        world = World(api).build()
        world.ids["clients"] = ",".join(world.client("O1", "gold") for _ in range(3))
        lost = world.ids["clients"].split(",")[0]
        churn = world.post(
            f"/v1/clients/{lost}/churn",
            {"kind": "abnormal", "reason": "moved away", "effective_at": at(200)},
        )
        # Every read model has processed the last write before the tests read them.
        caught_up = api.get(
            f"/v1/rosters/summary?unit_id={world['B']}&after={churn['position']}", headers=ADMIN
        )
        assert caught_up.status_code == 200, caught_up.text
        for path in ("/v1/reports/orphaned-clients", "/v1/accountability/churn-cases"):
            answer = api.get(
                f"{path}?unit_id={world['B']}&after={churn['position']}", headers=ADMIN
            )
            assert answer.status_code == 200, answer.text
        yield world


def with_format(path: str, fmt: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}format={fmt}"


def as_csv(api: TestClient, path: str) -> list[dict[str, str]]:
    answer = api.get(with_format(path, "csv"), headers=ADMIN)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.content.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))


def as_xlsx(api: TestClient, path: str) -> list[tuple[Any, ...]]:
    answer = api.get(with_format(path, "xlsx"), headers=ADMIN)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == XLSX
    return list(load_workbook(io.BytesIO(answer.content)).active.iter_rows(values_only=True))


def test_a_roster_export_holds_every_page(world: World) -> None:
    path = f"/v1/rosters?unit_id={world['O1']}&limit=1"
    page = world.api.get(path, headers=ADMIN).json()
    assert len(page["items"]) == 1 and page["next_cursor"] is not None
    rows = as_csv(world.api, path)
    assert [r["client_id"] for r in rows] == sorted(world["clients"].split(","))
    assert list(rows[0]) == [
        "client_id",
        "name",
        "unit_id",
        "tier",
        "status",
        "designated_manager",
    ]
    sheet = as_xlsx(world.api, path)
    assert list(sheet[0]) == list(rows[0])
    assert [r[0] for r in sheet[1:]] == [r["client_id"] for r in rows]


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/v1/accountability/churn-cases?unit_id={B}", "items"),
        ("/v1/reports/overdue-contacts?unit_id={B}", "items"),
        ("/v1/reports/orphaned-clients?unit_id={B}", "items"),
        ("/v1/clients/{first}/history", "events"),
    ],
)
def test_a_list_export_has_the_json_rows_and_field_names(world: World, path: str, key: str) -> None:
    path = path.format(B=world["B"], first=world["clients"].split(",")[0])
    items = world.api.get(path, headers=ADMIN).json()[key]
    rows = as_csv(world.api, path)
    assert len(rows) == len(items)
    if items:
        assert list(rows[0]) == list(items[0])
        first = rows[0][next(iter(items[0]))]
        assert first == str(items[0][next(iter(items[0]))])
    sheet = as_xlsx(world.api, path)
    assert len(sheet) == len(items) + 1


def test_churn_cases_and_history_exports_are_not_empty(world: World) -> None:
    cases = as_csv(world.api, f"/v1/accountability/churn-cases?unit_id={world['B']}")
    assert len(cases) == 1 and cases[0]["kind"] == "abnormal" and cases[0]["in_scope"] == "false"
    history = as_csv(world.api, f"/v1/clients/{world['clients'].split(',')[0]}/history")
    assert [r["type"] for r in history] == ["Registered", "Churned"]


def test_an_unknown_format_is_a_422_naming_it(world: World) -> None:
    answer = world.api.get(
        "/v1/reports/orphaned-clients",
        params={"unit_id": world["B"], "format": "pdf"},
        headers=ADMIN,
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "format"
