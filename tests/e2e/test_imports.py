"""A name list over HTTP (`POST /v1/imports`, admin) and from the command line
(`ledger import FILE`): all or nothing, bad rows named by line and column."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.application.imports import COLUMNS
from support.api_world import ADMIN, World, assert_problem, new_id

LEDGER = str(Path(sys.executable).with_name("ledger"))


def csv_of(*rows: dict[str, str]) -> bytes:
    lines = [",".join(COLUMNS)]
    lines += [",".join(row.get(column, "") for column in COLUMNS) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def post_list(world: World, data: bytes, headers: dict | None = None):  # type: ignore[no-untyped-def]
    return world.api.post(
        "/v1/imports",
        content=data,
        headers={**(headers or ADMIN), "Content-Type": "text/csv"},
    )


def test_a_name_list_is_imported_once_over_http(sqlite_world: World) -> None:
    rows = [
        {
            "client_id": new_id("C"),
            "name": "Wang Fang",
            "outlet": sqlite_world["O1"],
            "designated_manager": sqlite_world["M1"],
            "phone": "13912345678",
        }
        for _ in range(3)
    ]
    first = post_list(sqlite_world, csv_of(*rows))
    assert first.status_code == 201, first.text
    body = first.json()
    assert (body["rows"], body["imported"], body["skipped"], body["events"]) == (3, 3, 0, 9)
    again = post_list(sqlite_world, csv_of(*rows)).json()
    assert (again["imported"], again["skipped"], again["events"]) == (0, 3, 0)
    client = sqlite_world.api.get(f"/v1/clients/{rows[0]['client_id']}", headers=ADMIN).json()
    assert client["name"] == "Wang Fang"


def test_bad_rows_are_a_422_naming_line_and_column_and_nothing_is_written(
    sqlite_world: World,
) -> None:
    good = {"client_id": new_id("C"), "name": "Wang Fang", "outlet": sqlite_world["O1"]}
    bad = {"client_id": new_id("C"), "name": "Li Wei", "outlet": sqlite_world["S1"]}
    position = sqlite_world.api.get("/v1/health").json()["position"]
    body = assert_problem(post_list(sqlite_world, csv_of(good, bad)), 422)
    assert body["errors"] == [
        {"line": 3, "field": "outlet", "message": body["errors"][0]["message"]}
    ]
    assert sqlite_world.api.get("/v1/health").json()["position"] == position
    assert (
        sqlite_world.api.get(f"/v1/clients/{good['client_id']}", headers=ADMIN).status_code == 404
    )


def test_only_the_admin_imports(sqlite_world: World) -> None:
    _, manager = sqlite_world.key("manager", "M1")
    assert_problem(post_list(sqlite_world, csv_of(), manager), 403)


def test_the_command_line_imports_a_name_list_and_refuses_a_bad_one(
    tmp_path: Path, sqlite_world: World, sqlite_url: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env["LEDGER_DATABASE_URL"] = sqlite_url
    # The served ledger's master key (tests/conftest.py): the import seals names with it.
    env["LEDGER_MASTER_KEY_FILE"] = os.environ["LEDGER_MASTER_KEY_FILE"]
    row = {"client_id": new_id("C"), "name": "Zhou Xun", "outlet": sqlite_world["O3"]}
    good, bad = tmp_path / "list.csv", tmp_path / "bad.csv"
    good.write_bytes(csv_of(row))
    bad.write_bytes(csv_of({**row, "client_id": new_id("C"), "tier": "bronze"}))
    refused = subprocess.run(
        [LEDGER, "import", str(bad)], env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 1
    assert "line 2: tier:" in refused.stderr
    assert "nothing was written" in refused.stderr
    done = subprocess.run(
        [LEDGER, "import", str(good)], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "imported 1 clients (0 already in the ledger): 1 events" in done.stdout
    assert "writing events" in done.stderr  # the progress bar
    client = sqlite_world.api.get(f"/v1/clients/{row['client_id']}", headers=ADMIN).json()
    assert client["name"] == "Zhou Xun"


HOSTILE_CELLS = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["", "\x00", "\u202e", "=cmd|' /C calc'!A0", "9" * 400, "2099-01-01", "-1"]),
)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.one_of(
        st.binary(max_size=300),
        st.lists(st.dictionaries(st.sampled_from(COLUMNS), HOSTILE_CELLS), max_size=4).map(
            lambda rows: csv_of(*rows)
        ),
        st.just(b"PK\x03\x04not a workbook"),
    )
)
def test_a_hostile_name_list_is_refused_without_a_server_error_or_an_event(
    sqlite_world: World, data: bytes
) -> None:
    position = sqlite_world.api.get("/v1/health").json()["position"]
    answer = post_list(sqlite_world, data)
    assert answer.status_code < 500, answer.text
    if answer.status_code != 201:
        assert_problem(answer, answer.status_code)
        assert sqlite_world.api.get("/v1/health").json()["position"] == position
