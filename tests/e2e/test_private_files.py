"""Issue 12, item 6: the ledger's files are private. After `ledger serve` has started on a
store an older version left readable (a 0755 `var/`, a 0644 database) and after `ledger
export`: `var/` is 0700; the databases (the store's and each read model's, with their -wal
and -shm), the admin token and the bundle are 0600."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from ledger.bootstrap import build
from ledger.config import Settings
from support.pg import free_port
from support.served import run_cli, serve_process


def healthy(url: str, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.poll() is None, server.communicate()[0]
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("not healthy within 30 s")


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_serve_and_export_leave_only_private_files(tmp_path: Path) -> None:
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    var.chmod(0o755)
    database_url = "sqlite:///var/ledger.db"
    container = build(Settings(database_url=f"sqlite:///{var}/ledger.db"))
    container.ledger.create_unit(
        unit_id="BR1", name="Branch", kind="branch", parent_id=None, recorded_by="admin"
    )
    container.close()
    (var / "ledger.db").chmod(0o644)  # as an older version left it
    env = {k: v for k, v in os.environ.items() if k != "LEDGER_ADMIN_TOKEN"}
    env["LEDGER_DATABASE_URL"] = database_url
    port = free_port()
    server = serve_process(env, tmp_path, port)
    try:
        healthy(f"http://127.0.0.1:{port}/v1/health", server)
        assert mode(var) == 0o700
        databases = sorted(p for p in var.iterdir() if ".db" in p.name)
        names = {p.name for p in databases}
        assert {"ledger.db", "ledger.roster.db", "ledger.reports.db"} <= names
        assert any(name.endswith("-wal") for name in names), names
        for path in [*databases, var / "admin-token"]:
            assert mode(path) == 0o600, path
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()
    bundle = tmp_path / "bundle.jsonl"
    exported = run_cli(database_url, "export", "--out", str(bundle), cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert mode(bundle) == 0o600
