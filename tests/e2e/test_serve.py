"""`ledger serve` starts a real server on the store the settings name, and stops on request."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ledger.bootstrap import build
from ledger.config import Settings
from support.pg import free_port
from support.scenario import ADMIN, new_id
from support.served import serve_process


def wait_for_health(url: str, server: subprocess.Popen[str], timeout: float = 30) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"server exited with {server.returncode}")
        try:
            response = httpx.get(url, timeout=1)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        if response.status_code == 200:
            return response
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer 200 within {timeout} s")


def test_serve_answers_health_from_the_sqlite_store(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path}/served.db"
    container = build(Settings(database_url=database_url))
    container.ledger.create_unit(
        unit_id=new_id("BR"), name="Branch", kind="branch", parent_id=None, recorded_by=ADMIN
    )
    container.start_projections(follow=False)  # the views' files made
    container.close()

    port = free_port()
    env = {**os.environ, "LEDGER_DATABASE_URL": database_url}
    server = serve_process(env, tmp_path, port, "--projections-apart")
    try:
        response = wait_for_health(f"http://127.0.0.1:{port}/v1/health", server)
        body = response.json()
        assert body["status"] == "ok"
        assert body["store"] == "sqlite"
        assert body["position"] == 1
        # Asked to, the projections run in a child process of the server, following the store.
        projector = body["projector"]["pid"]
        assert projector not in (None, server.pid)
        assert set(body["projections"]) == {
            "roster",
            "accountability",
            "reports",
            "audit",
            "maintenance",
        }
        # The console is served at / by the same process.
        assert httpx.get(f"http://127.0.0.1:{port}/signin", timeout=5).status_code == 200
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            output, _ = server.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
    # uvicorn shuts down cleanly on SIGTERM, then re-raises the signal it caught.
    assert server.returncode in (0, -signal.SIGTERM), output
    assert "Application shutdown complete" in output
    assert "sqlite store" in output
    assert f"console at http://127.0.0.1:{port}/" in output
    assert "projections run in a child process" in output
    # The store's five view files and its log asked of the kernel ahead of the first reads.
    assert "asked the kernel to read 6 store file(s) ahead" in output
    assert wait_for_exit(projector), "the projector outlived the server"


def wait_for_exit(pid: int, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def test_a_server_killed_outright_leaves_no_projector_behind(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "LEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/killed.db"}
    server = serve_process(env, tmp_path, port, "--projections-apart")
    try:
        health = wait_for_health(f"http://127.0.0.1:{port}/v1/health", server).json()
        projector = health["projector"]["pid"]
        server.kill()
        server.communicate(timeout=20)
        assert wait_for_exit(projector), "the projector outlived the server"
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()


def test_by_default_the_projections_run_in_the_serving_process(tmp_path: Path) -> None:
    # API.md: "projections run in the same process unless --no-projections is given".
    port = free_port()
    env = {**os.environ, "LEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/here.db"}
    server = serve_process(env, tmp_path, port)
    try:
        health = wait_for_health(f"http://127.0.0.1:{port}/v1/health", server).json()
        assert health["projector"] is None
        assert set(health["projections"]) >= {"roster", "reports"}
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=20)
    assert "projections run here" in output


def test_several_workers_read_the_views_of_one_projector(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path}/workers.db"
    container = build(Settings(database_url=database_url))
    ledger = container.ledger
    parent = None
    for kind in ("branch", "department", "sub_branch", "outlet"):
        ledger.create_unit(unit_id=kind, name=kind, kind=kind, parent_id=parent, recorded_by=ADMIN)
        parent = kind
    container.close()
    port = free_port()
    token = "workers-admin-token"
    env = {**os.environ, "LEDGER_DATABASE_URL": database_url, "LEDGER_ADMIN_TOKEN": token}
    server = serve_process(env, tmp_path, port, "--workers", "2")
    admin = {"Authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(f"{base}/v1/health", server)
        written = httpx.post(
            f"{base}/v1/clients",
            json={
                "client_id": "C1",
                "name": "Wang",
                "unit_id": "outlet",
                "occurred_at": "2026-01-05T00:00:00+00:00",
            },
            headers=admin,
            timeout=10,
        )
        assert written.status_code == 201, written.text
        position = written.json()["position"]
        roster = httpx.get(
            f"{base}/v1/rosters?unit_id=outlet&after={position}", headers=admin, timeout=10
        )
        assert roster.status_code == 200, roster.text
        assert [item["client_id"] for item in roster.json()["items"]] == ["C1"]
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert "projections run in a child process" in output


def test_a_served_app_keeps_what_it_built_at_start_out_of_the_collectors_walks(
    tmp_path: Path,
) -> None:
    # A full collection used to walk every module, class and cache the server built before
    # its first request (70-80 ms at the 100,000-client demo, a report's p99); uvicorn's
    # factory (`--workers` above 1) and `ledger serve` freeze them once built.
    code = (
        "import gc; python = gc.get_threshold()[2]; from ledger.api.main import create; "
        "app = create(); "
        "print(python, gc.get_threshold()[2], gc.get_freeze_count(), len(gc.get_objects()))"
    )
    env = {**os.environ, "LEDGER_DATABASE_URL": f"sqlite:///{tmp_path}/frozen.db"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    python, full_after, frozen, walked = map(int, done.stdout.split()[-4:])
    assert frozen > 10_000 and walked < frozen / 10, done.stdout
    # ... and collects all of what requests keep ten times less often than Python would
    # (its own default, not this process's: a test serving in process may have moved it).
    assert full_after == 10 * python, done.stdout
