"""`ledger history CLIENT_ID`: a client's events, in order, from the store the settings name."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ledger.bootstrap import build
from ledger.cli import app
from ledger.config import Settings
from support.scenario import ADMIN, NOW, REGISTERED_AT, STAFF_SINCE, Clock, build_bank, register
from support.served import run_cli

EXPECTED_TYPES = [
    "Registered",
    "Assigned",
    "ContactLogged",
    "TierChanged",
    "AssetsReported",
    "EventRetracted",
]


@dataclass(frozen=True)
class Filled:
    database_url: str
    client_id: str
    retracted_event_id: str
    retraction_event_id: str


@pytest.fixture
def filled(sqlite_url: str) -> Filled:
    """A SQLite file with one client's history, written through the application."""
    clock = Clock()
    container = build(Settings(database_url=sqlite_url), clock=clock)
    ledger = container.ledger
    try:
        bank = build_bank(ledger, staff_since=STAFF_SINCE)
        client_id = register(ledger, bank, at=REGISTERED_AT)
        clock.advance(minutes=1)
        ledger.assign(
            client_id=client_id,
            staff_id=bank.manager,
            reason="name list",
            effective_at=REGISTERED_AT,
            recorded_by=ADMIN,
        )
        contact = ledger.log_contact(
            client_id=client_id,
            channel="visit",
            staff_id=bank.manager,
            occurred_at=NOW - timedelta(days=1),
            summary="tea at the outlet",
            recorded_by=ADMIN,
        )
        clock.advance(minutes=1)
        ledger.change_tier(
            client_id=client_id,
            tier="gold",
            reason="assets over 500k",
            effective_at=NOW - timedelta(weeks=3),
            recorded_by=ADMIN,
        )
        ledger.report_assets(
            client_id=client_id, amount="750000.00", as_of=date(2025, 6, 1), recorded_by=ADMIN
        )
        retraction = ledger.retract(
            client_id=client_id,
            event_id=contact.event_id,
            reason="wrong client",
            recorded_by=ADMIN,
        )
    finally:
        container.close()
    return Filled(sqlite_url, client_id, contact.event_id, retraction.event_id)


def test_history_prints_the_events_in_order(filled: Filled, tmp_path: Path) -> None:
    done = run_cli(filled.database_url, "history", filled.client_id, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    headlines = [line for line in done.stdout.splitlines() if not line.startswith("        ")]
    assert [line.split()[2] for line in headlines] == EXPECTED_TYPES
    assert [int(line.split()[0]) for line in headlines] == list(range(1, 7))
    assert f"[retracted by {filled.retraction_event_id}]" in headlines[2]
    assert "summary: tea at the outlet" in done.stdout
    assert "amount: 750000.00" in done.stdout
    assert all(f"by {ADMIN}" in line for line in headlines)


def test_history_json_prints_one_parseable_object_per_event(filled: Filled, tmp_path: Path) -> None:
    done = run_cli(filled.database_url, "history", filled.client_id, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [event["type"] for event in events] == EXPECTED_TYPES
    assert [event["version"] for event in events] == list(range(1, 7))
    positions = [event["position"] for event in events]
    assert positions == sorted(set(positions))
    assert events[0]["data"]["client_id"] == filled.client_id
    assert events[0]["occurred_at"] == REGISTERED_AT.isoformat()
    assert events[0]["recorded_at"] == NOW.isoformat()
    assert events[3]["occurred_at"] == (NOW - timedelta(weeks=3)).isoformat()
    assert events[4]["data"] == {"amount": "750000.00", "as_of": "2025-06-01"}
    assert events[2]["event_id"] == filled.retracted_event_id
    assert events[2]["retracted_by"] == filled.retraction_event_id
    assert events[5]["data"]["retracted_event_id"] == filled.retracted_event_id
    assert {event["recorded_by"] for event in events} == {ADMIN}


def test_history_of_an_unknown_client_fails_with_a_clear_message(
    filled: Filled, tmp_path: Path
) -> None:
    done = run_cli(filled.database_url, "history", "NO-SUCH-CLIENT", cwd=tmp_path)
    assert done.returncode != 0
    assert "unknown client" in done.stderr
    assert "NO-SUCH-CLIENT" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_history_in_process_matches_the_subprocess(filled: Filled, tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"LEDGER_DATABASE_URL": filled.database_url}
    result = runner.invoke(app, ["history", filled.client_id, "--json"], env=env)
    assert result.exit_code == 0, result.output
    done = run_cli(filled.database_url, "history", filled.client_id, "--json", cwd=tmp_path)
    assert result.stdout == done.stdout


@pytest.mark.parametrize(
    ("client_id", "message"),
    [("NO-SUCH-CLIENT", "unknown client: 'NO-SUCH-CLIENT'"), ("not an id", "not an id")],
)
def test_history_refusals_exit_non_zero_in_process(
    filled: Filled, client_id: str, message: str
) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app, ["history", client_id], env={"LEDGER_DATABASE_URL": filled.database_url}
    )
    assert result.exit_code == 1
    assert message in result.stderr
    assert result.stdout == ""
