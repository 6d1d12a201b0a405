"""A name list's import writes exactly the events the single commands would: the same
classes, fields (in the same order), values and versions, on both stores; the bulk path
records them without building a client (`ClientIntake`)."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from ledger.application import Ledger, imports
from ledger.application.imports import ASSIGNMENT_REASON, PROFILE_COLUMNS, _day, _moment
from ledger.bootstrap import build
from ledger.config import Settings
from ledger.domain import Client
from ledger.domain.values import DESIGNATED_MANAGER
from ledger.name_lists import read_name_list
from support.pg import ThrowawayPostgres
from support.scenario import ADMIN, NOW, REGISTERED_AT, STAFF_SINCE, Clock, new_id

OUTLET, MANAGER = "OUT-1", "ST-M1"
ROWS = [
    # Every column, the registration a day.
    {
        "client_id": "C-full",
        "name": "Wang Fang",
        "tier": "gold",
        "designated_manager": MANAGER,
        "registered_on": REGISTERED_AT.date().isoformat(),
        "phone": "139 1234 5678",
        "address": "88 Yan'an Road",
        "employer": "own firm",
        "assets": "1200000.50",
        "assets_as_of": (REGISTERED_AT + timedelta(days=3)).date().isoformat(),
        "source": "media",
    },
    # Referred by the row above; no manager, no profile; registered at a time.
    {
        "client_id": "C-referred",
        "name": "Li Lei",
        "registered_on": (REGISTERED_AT + timedelta(hours=30)).isoformat(),
        "source": "referral",
        "referrer": "C-full",
        "assets": "15",
        # The day it was registered, in the afternoon: the assets take effect then.
        "assets_as_of": (REGISTERED_AT + timedelta(days=1)).date().isoformat(),
    },
    # Only what is required: registered today, standard tier.
    {"client_id": "C-bare", "name": "Zhao Min"},
    # A manager and part of a profile.
    {"client_id": "C-some", "name": "Sun Quan", "designated_manager": MANAGER, "employer": "x"},
]


def _ledger(url: str) -> Iterator[Ledger]:
    container = build(Settings(database_url=url), clock=Clock(NOW))
    ledger = container.ledger
    by = {"recorded_by": ADMIN}
    parent = None
    for unit_id, kind in (("BR-1", "branch"), ("DEP-1", "department"), ("SUB-1", "sub_branch")):
        ledger.create_unit(unit_id=unit_id, name=unit_id, kind=kind, parent_id=parent, **by)
        parent = unit_id
    ledger.create_unit(unit_id=OUTLET, name="Outlet", kind="outlet", parent_id=parent, **by)
    ledger.join_staff(
        staff_id=MANAGER,
        name="Manager",
        unit_id=OUTLET,
        role="client_manager",
        effective_at=STAFF_SINCE,
        **by,
    )
    yield ledger
    container.close()


def _one_command_at_a_time(ledger: Ledger, row: dict[str, str]) -> None:
    """What a clerk sends for a row, one command after another."""
    now = ledger.clock()
    registered_at = _moment("registered_on", row.get("registered_on"), now)
    client_id = row["client_id"]
    ledger.register_client(
        client_id=client_id,
        name=row["name"],
        unit_id=OUTLET,
        tier=row.get("tier") or "standard",
        occurred_at=registered_at,
        source=row.get("source") or None,
        referred_by=row.get("referrer") or None,
        recorded_by=ADMIN,
    )
    if row.get("designated_manager"):
        ledger.assign(
            client_id=client_id,
            staff_id=row["designated_manager"],
            role=DESIGNATED_MANAGER,
            reason=ASSIGNMENT_REASON,
            effective_at=max(now, registered_at),
            recorded_by=ADMIN,
        )
    profile = {column: row[column] for column in PROFILE_COLUMNS if row.get(column)}
    if profile:
        ledger.update_profile(
            client_id=client_id, changes=profile, effective_at=registered_at, recorded_by=ADMIN
        )
    if row.get("assets"):
        ledger.report_assets(
            client_id=client_id,
            amount=row["assets"],
            as_of=_day("assets_as_of", row.get("assets_as_of")),
            recorded_by=ADMIN,
        )


def _events(ledger: Ledger, client_id: str) -> list[tuple[str, list[tuple[str, Any]]]]:
    """Each stored event of the client as read back: its class and its fields in order
    (personal values opened)."""
    stored = ledger.recorder.select_events(Client.id_for(client_id))  # type: ignore[arg-type]
    events = [ledger.mapper.to_domain_event(s) for s in stored]
    return [(type(e).__qualname__, [(k, _plain(v)) for k, v in vars(e).items()]) for e in events]


def _plain(value: Any) -> Any:
    opened = getattr(value, "open", None)  # a deferred personal value
    return opened() if callable(opened) else value


def _name_list() -> bytes:
    columns = ["client_id", "name", "outlet", "tier", "designated_manager", "registered_on"]
    columns += [*PROFILE_COLUMNS, "assets", "assets_as_of", "source", "referrer"]
    lines = [",".join(columns)]
    for row in ROWS:
        lines.append(",".join({"outlet": OUTLET, **row}.get(c, "") for c in columns))
    return ("\n".join(lines) + "\n").encode()


def _compare(imported_url: str, commanded_url: str) -> None:
    for imported, commanded in zip(_ledger(imported_url), _ledger(commanded_url), strict=True):
        before = imported.position
        assert commanded.position == before
        report = imported.import_clients(read_name_list(_name_list()), recorded_by=ADMIN)
        assert report.errors == []
        for row in ROWS:
            _one_command_at_a_time(commanded, row)
        assert report.events == imported.position - before == commanded.position - before == 10
        for row in ROWS:
            bulk, single = _events(imported, row["client_id"]), _events(commanded, row["client_id"])
            assert [kind for kind, _ in bulk] == [kind for kind, _ in single]
            assert bulk == single


# In this process, and sealed and written by a writer process of the batch's own.
WRITERS = [pytest.param(False, id="in-process"), pytest.param(True, id="pipelined")]


@pytest.mark.parametrize("pipelined", WRITERS)
def test_an_import_writes_the_single_commands_events_on_sqlite(
    tmp_path: Any, pipelined: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "PIPELINED_ROWS", 1 if pipelined else 10**9)
    _compare(f"sqlite:///{tmp_path}/imported.db", f"sqlite:///{tmp_path}/commanded.db")


@pytest.mark.parametrize("pipelined", WRITERS)
def test_an_import_writes_the_single_commands_events_on_postgres(
    pg_server: ThrowawayPostgres, pipelined: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "PIPELINED_ROWS", 1 if pipelined else 10**9)
    imported, commanded = (pg_server.create_database(new_id(n)) for n in ("imported", "commanded"))
    _compare(imported, commanded)


@pytest.mark.parametrize("row", ROWS[:1])
def test_the_events_compared_are_the_opening_four(tmp_path: Any, row: dict[str, str]) -> None:
    for ledger in _ledger(f"sqlite:///{tmp_path}/one.db"):
        _one_command_at_a_time(ledger, row)
        kinds = [kind for kind, _ in _events(ledger, row["client_id"])]
        assert kinds == [
            "Client.Registered",
            "Client.Assigned",
            "Client.ProfileUpdated",
            "Client.AssetsReported",
        ]


def test_an_import_stores_its_bytes_as_blobs_on_sqlite(tmp_path: Any) -> None:
    """The SQLite store binds its bytes as `bytearray` (no look for an adapter): the
    same BLOBs as `bytes`, in every table an import writes."""
    for ledger in _ledger(f"sqlite:///{tmp_path}/blobs.db"):
        report = ledger.import_clients(read_name_list(_name_list()), recorded_by=ADMIN)
        assert report.events == 10
    with contextlib.closing(sqlite3.connect(tmp_path / "blobs.db")) as db:
        for table, column in (
            ("stored_events", "state"),
            ("event_hashes", "hash"),
            ("merkle_nodes", "hash"),
            ("blind_index", "digest"),
            ("personal_keys", "wrapped"),
        ):
            kinds = db.execute(f"SELECT typeof({column}), count(*) FROM {table} GROUP BY 1")
            assert dict(kinds.fetchall()).keys() == {"blob"}, (table, column)
