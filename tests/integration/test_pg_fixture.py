import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg

from support.pg import ThrowawayPostgres


def test_postgres_url_is_a_live_database(postgres_url: str) -> None:
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        row = conn.execute("SHOW server_version").fetchone()
    assert row is not None
    assert row[0][:1].isdigit()


def test_each_test_gets_its_own_database(pg_server: ThrowawayPostgres, postgres_url: str) -> None:
    # A test can hold only one postgres_url, so make the second one the way the fixture does.
    other = pg_server.create_database(f"t_{uuid.uuid4().hex[:12]}")
    assert other != postgres_url
    with psycopg.connect(postgres_url) as a, psycopg.connect(other) as b:
        a.execute("CREATE TABLE only_in_a (x int)")
        a.commit()
        assert (
            a.execute("SELECT current_database()").fetchone()
            != b.execute("SELECT current_database()").fetchone()
        )
        found = b.execute("SELECT to_regclass('only_in_a')").fetchone()
    assert found == (None,)


def test_a_run_killed_without_stopping_its_cluster_leaves_no_server_or_folder(
    tmp_path: Path,
) -> None:
    """A test run that is killed (no atexit, no fixture teardown) must not leave its
    throwaway server running, nor its folder in /tmp: a watchdog process stops both."""
    script = tmp_path / "run.py"
    script.write_text(
        "import os, sys, time\n"
        f"sys.path.insert(0, {str(Path(__file__).parents[1])!r})\n"
        "from support.pg import ThrowawayPostgres\n"
        "server = ThrowawayPostgres()\n"
        "server.start()\n"
        "print(server.port, server.base, flush=True)\n"
        "time.sleep(600)\n"
    )
    run = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert run.stdout is not None
    port, base = run.stdout.readline().split()
    assert _answers(int(port)) and Path(base).exists()
    run.send_signal(signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (Path(base).exists() or _answers(int(port))):
        time.sleep(0.5)
    assert not _answers(int(port))
    assert not Path(base).exists()


def _answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0
