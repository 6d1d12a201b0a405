"""The command line: `ledger serve` (token file, workers) and `ledger demo`."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from support.pg import free_port

LEDGER = str(Path(sys.executable).with_name("ledger"))


def call(url: str, token: str | None = None, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode() if body else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@contextmanager
def serving(cwd: Path, *args: str) -> Iterator[tuple[str, subprocess.Popen]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env["LEDGER_DATABASE_URL"] = f"sqlite:///{cwd}/var/ledger.db"
    process = subprocess.Popen(
        [LEDGER, "serve", "--port", str(port), *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if call(f"{base}/v1/health")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail("ledger serve did not answer within 30 s")
        yield base, process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def test_serve_creates_an_admin_token_once_and_reuses_it(tmp_path: Path) -> None:
    with serving(tmp_path) as (base, process):
        token_file = tmp_path / "var" / "admin-token"
        token = token_file.read_text().strip()
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        status, body = call(
            f"{base}/v1/units", token, {"unit_id": "B1", "name": "Branch", "kind": "branch"}
        )
        assert (status, body["recorded_by"]) == (201, "admin")
        assert call(f"{base}/v1/units/B1", "wrong")[0] == 401
    output = process.stdout.read() if process.stdout else ""
    assert str(token_file.resolve()) in output
    assert f"{base}/docs" in output
    with serving(tmp_path) as (base, _):
        assert token_file.read_text().strip() == token
        assert call(f"{base}/v1/units/B1", token)[0] == 200


def test_serve_with_workers_shares_one_store(tmp_path: Path) -> None:
    with serving(tmp_path, "--workers", "2") as (base, _):
        token = (tmp_path / "var" / "admin-token").read_text().strip()
        assert (
            call(f"{base}/v1/units", token, {"unit_id": "B", "name": "B", "kind": "branch"})[0]
            == 201
        )
        for _ in range(6):  # whichever worker answers knows the unit
            assert call(f"{base}/v1/units/B", token)[0] == 200


def test_demo_loads_a_small_branch_reproducibly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}

    def run(name: str) -> subprocess.CompletedProcess[str]:
        env["LEDGER_DATABASE_URL"] = f"sqlite:///{tmp_path}/{name}.db"
        return subprocess.run(
            [LEDGER, "demo", "--clients", "60", "--seed", "9", "--end", "2026-06-30"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    first, second = run("a"), run("b")
    assert first.returncode == 0, first.stderr
    assert "loaded 33 units" in first.stdout
    strip = lambda out: [line for line in out.splitlines() if not line.startswith("loaded")]  # noqa: E731
    assert strip(first.stdout) == strip(second.stdout)
    again = run("a")
    assert again.returncode == 1
    assert "not empty" in again.stderr
