"""`ledger digest`, `ledger verify`, `ledger export` and `ledger verify --bundle`."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from integrity_support import populate
from ledger.bootstrap import build
from ledger.cli import app
from ledger.config import Settings
from ledger.store import library_environment


@pytest.fixture
def url(sqlite_url: str) -> str:
    container = build(Settings(database_url=sqlite_url))
    try:
        populate(container.ledger, 4)
    finally:
        container.close()
    return sqlite_url


def run(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"LEDGER_DATABASE_URL": url})
    return result.exit_code, result.stdout


def tamper_state(url: str, position: int) -> None:
    with sqlite3.connect(library_environment(url)["SQLITE_DBNAME"]) as conn:
        conn.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (b"{}", position))


def test_verify_prints_the_result_and_exits_0_when_ok(url: str) -> None:
    code, out = run(url, "verify")
    assert (code, json.loads(out)) == (0, {"ok": True, "checked": 7, "first_mismatch": None})


def test_verify_exits_1_at_the_tampered_position(url: str) -> None:
    tamper_state(url, 5)
    code, out = run(url, "verify")
    assert (code, json.loads(out)) == (1, {"ok": False, "checked": 4, "first_mismatch": 5})


def test_digest_file_written_earlier_verifies(url: str, tmp_path: Path) -> None:
    digest_file = tmp_path / "digest.json"
    code, _ = run(url, "digest", "--out", str(digest_file))
    digest = json.loads(digest_file.read_text())
    assert code == 0 and digest["position"] == 7 and len(digest["hash"]) == 64
    assert run(url, "verify", "--digest", str(digest_file))[0] == 0
    tamper_state(url, 2)
    code, out = run(url, "verify", "--digest", str(digest_file))
    assert (code, json.loads(out)["first_mismatch"]) == (1, 2)


def test_digest_prints_json_by_default(url: str) -> None:
    code, out = run(url, "digest")
    assert code == 0 and set(json.loads(out)) == {"position", "hash", "recorded_at"}


def test_exported_bundle_verifies_with_no_database(url: str, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.jsonl"
    code, _ = run(url, "export", "--out", str(bundle))
    assert code == 0
    no_database = f"sqlite:///{tmp_path}/absent/none.db"
    code, out = run(no_database, "verify", "--bundle", str(bundle))
    assert (code, json.loads(out)) == (0, {"ok": True, "checked": 7, "first_mismatch": None})
    assert not (tmp_path / "absent").exists()


def test_tampered_bundle_fails(url: str, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.jsonl"
    run(url, "export", "--out", str(bundle))
    lines = bundle.read_text().splitlines()
    line = json.loads(lines[3])
    line["version"] += 1
    lines[3] = json.dumps(line)
    bundle.write_text("\n".join(lines) + "\n")
    code, out = run(url, "verify", "--bundle", str(bundle))
    assert (code, json.loads(out)["first_mismatch"]) == (1, line["position"])


def test_unreadable_bundle_exits_1_with_a_message(url: str, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.jsonl"
    bundle.write_text("not json\n")
    result = CliRunner().invoke(app, ["verify", "--bundle", str(bundle)])
    assert result.exit_code == 1
    assert "line 1" in result.stderr


def test_history_json_lines_carry_the_chain_hash(sqlite_url: str) -> None:
    container = build(Settings(database_url=sqlite_url))
    try:
        [client_id] = populate(container.ledger, 1)
        digest = container.integrity.digest()
    finally:
        container.close()
    code, out = run(sqlite_url, "history", client_id, "--json")
    [entry] = [json.loads(line) for line in out.splitlines()]
    assert (code, entry["position"], entry["hash"]) == (0, digest.position, digest.hash)
