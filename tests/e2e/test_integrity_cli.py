"""`ledger digest`, `ledger verify`, `ledger export` and `ledger verify --bundle`."""

from __future__ import annotations

import base64
import json
import sqlite3
from datetime import UTC, datetime, timedelta
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
    keys = {"position", "hash", "recorded_at", "tree_size", "root_hash"}
    assert code == 0 and set(json.loads(out)) == keys


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


# ---- one client's events with their Merkle proofs ----------------------------------------

TIERS = ("gold", "platinum", "diamond", "gold")


@pytest.fixture
def client_url(sqlite_url: str) -> tuple[str, str]:
    """Two clients whose events interleave: the first's 5 events among the second's."""
    container = build(Settings(database_url=sqlite_url))
    try:
        first, second = populate(container.ledger, 2)
        for tier in TIERS:
            for client_id in (first, second):
                container.ledger.change_tier(
                    client_id=client_id,
                    tier=tier,
                    reason="review",
                    effective_at=datetime.now(UTC) - timedelta(hours=1),
                    recorded_by="admin",
                )
    finally:
        container.close()
    return sqlite_url, first


def exported(url: str, client_id: str, tmp_path: Path) -> tuple[Path, Path]:
    bundle, digest = tmp_path / "client.jsonl", tmp_path / "digest.json"
    assert run(url, "export", "--client", client_id, "--out", str(bundle))[0] == 0
    assert run(url, "digest", "--out", str(digest))[0] == 0
    return bundle, digest


def check_offline(bundle: Path, digest: Path) -> tuple[int, dict]:
    result = CliRunner().invoke(app, ["verify", "--bundle", str(bundle), "--digest", str(digest)])
    return result.exit_code, json.loads(result.stdout)


def rewrite(bundle: Path, change) -> None:  # type: ignore[no-untyped-def]
    lines = [json.loads(line) for line in bundle.read_text().splitlines()]
    change(lines)
    bundle.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_a_client_bundle_holds_its_events_and_verifies_offline(
    client_url: tuple[str, str], tmp_path: Path
) -> None:
    url, client_id = client_url
    bundle, digest = exported(url, client_id, tmp_path)
    header, *events = [json.loads(line) for line in bundle.read_text().splitlines()]
    assert header["digest"] == json.loads(digest.read_text())
    assert header["subject"] == {"client_id": client_id}
    assert [e["version"] for e in events] == [1, 2, 3, 4, 5]
    assert [e["position"] for e in events] == [4, 6, 8, 10, 12]  # the other client's between
    assert check_offline(bundle, digest) == (0, {"ok": True, "checked": 5, "first_mismatch": None})


def test_a_client_bundle_verifies_with_no_database(
    client_url: tuple[str, str], tmp_path: Path
) -> None:
    bundle, digest = exported(*client_url, tmp_path)
    no_database = f"sqlite:///{tmp_path}/absent/none.db"
    code, out = run(no_database, "verify", "--bundle", str(bundle), "--digest", str(digest))
    assert (code, json.loads(out)["ok"]) == (0, True)
    assert not (tmp_path / "absent").exists()


def flip_state_byte(lines: list[dict]) -> None:
    state = bytearray(base64.b64decode(lines[3]["state"]))
    state[len(state) // 2] ^= 0x01
    lines[3]["state"] = base64.b64encode(bytes(state)).decode()


def flip_proof_node(lines: list[dict]) -> None:
    node = lines[2]["audit_path"][1]
    lines[2]["audit_path"][1] = ("0" if node[0] != "0" else "1") + node[1:]


def swap_events(lines: list[dict]) -> None:
    lines[2], lines[3] = lines[3], lines[2]


def swap_contents(lines: list[dict]) -> None:
    # The events trade places but keep the positions and proofs of the lines they land on.
    for field in ("originator_id", "version", "topic", "state"):
        lines[2][field], lines[3][field] = lines[3][field], lines[2][field]


def leave_one_out(lines: list[dict]) -> None:
    del lines[2]


def repeat_a_leaf(lines: list[dict]) -> None:
    lines[3]["position"], lines[3]["leaf_index"] = lines[2]["position"], lines[2]["leaf_index"]


def another_aggregate(lines: list[dict]) -> None:
    lines[3]["originator_id"] = "00000000-0000-4000-8000-000000000000"


@pytest.mark.parametrize(
    ("tamper", "line", "check"),
    [
        (flip_state_byte, 4, "inclusion"),
        (flip_proof_node, 3, "inclusion"),
        (swap_events, 3, "version"),  # line 3 now holds version 3 where 2 belongs
        (swap_contents, 3, "version"),
        (leave_one_out, 3, "version"),
        (repeat_a_leaf, 4, "order"),
        (another_aggregate, 4, "aggregate"),
    ],
)
def test_a_tampered_client_bundle_is_refused_where_it_was_changed(
    client_url: tuple[str, str], tmp_path: Path, tamper, line: int, check: str
) -> None:  # type: ignore[no-untyped-def]
    bundle, digest = exported(*client_url, tmp_path)
    rewrite(bundle, tamper)
    code, result = check_offline(bundle, digest)
    assert (code, result["ok"], result["line"], result["check"]) == (1, False, line, check)


def test_a_client_bundle_is_refused_against_another_digest(
    client_url: tuple[str, str], tmp_path: Path
) -> None:
    bundle, digest = exported(*client_url, tmp_path)
    kept = json.loads(digest.read_text())
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**kept, "root_hash": "ab" * 32}))
    assert check_offline(bundle, other) == (
        1,
        {"ok": False, "checked": 0, "first_mismatch": None, "line": 1, "check": "digest"},
    )
    # A forger who rewrites the bundle's own head to match still fails the proofs.
    rewrite(bundle, lambda lines: lines[0]["digest"].update(root_hash="ab" * 32))
    code, result = check_offline(bundle, other)
    assert (code, result["line"], result["check"]) == (1, 2, "inclusion")


def test_export_of_an_unknown_client_fails_with_a_message(url: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["export", "--client", "nobody", "--out", str(tmp_path / "x.jsonl")],
        env={"LEDGER_DATABASE_URL": url},
    )
    assert result.exit_code == 1 and "nobody" in result.stderr


# ---- verification never writes; backfill is the explicit command -------------------------


def test_verify_names_the_first_event_without_a_link_and_backfill_is_explicit(
    url: str,
) -> None:
    with sqlite3.connect(library_environment(url)["SQLITE_DBNAME"]) as conn:
        for table in ("event_hashes", "merkle_leaves", "merkle_nodes"):
            conn.execute(f"DELETE FROM {table}")
    for _ in range(2):  # a start and a verify do not fill anything in
        result = CliRunner().invoke(app, ["verify"], env={"LEDGER_DATABASE_URL": url})
        assert result.exit_code == 1
        assert json.loads(result.stdout)["first_mismatch"] == 1
        assert "position 1" in result.stderr
    assert run(url, "chain", "backfill") == (0, '{"linked": 7, "leaves": 7}\n')
    assert run(url, "verify")[0] == 0
    assert run(url, "chain", "backfill") == (0, '{"linked": 0, "leaves": 0}\n')


def test_backfill_refuses_events_after_an_existing_chain(url: str) -> None:
    with sqlite3.connect(library_environment(url)["SQLITE_DBNAME"]) as conn:
        conn.execute("DELETE FROM event_hashes WHERE position = 7")
    result = CliRunner().invoke(app, ["chain", "backfill"], env={"LEDGER_DATABASE_URL": url})
    assert result.exit_code == 1
    assert "refused at position 7" in result.stderr
    assert run(url, "verify")[0] == 1
