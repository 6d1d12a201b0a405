"""What `ledger serve` says as it starts: the store's URL without its credentials, a
mistyped URL refused without printing its password, a warning when it listens beyond this
machine (it has no TLS of its own), and a master key that is not the store's (or not a key)
refused before serving, without printing it. uvicorn is replaced by a stub that records how
it was called: these tests are about the messages, test_serve.py about serving."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import uvicorn
from pydantic import ValidationError
from typer.testing import CliRunner

from ledger.api import main as api_main
from ledger.bootstrap import build
from ledger.cli import app, serving
from ledger.config import Settings
from ledger.privacy import MasterKey
from ledger.privacy.master_key import write_key_file
from ledger.store import prewarm, redact_url

SECRET = "s3cr3t-pw"


@pytest.fixture
def uvicorn_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    for name in list(os.environ):
        if name.startswith("LEDGER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEDGER_ADMIN_TOKEN", "test-admin-token")
    # `serve` hands settings to uvicorn's workers through the environment: what it sets
    # there is put back after the test, or later tests would start without projections.
    for name in ("LEDGER_NO_PROJECTIONS", "LEDGER_ACCESS_LOG"):
        monkeypatch.setenv(name, "0")
    runs: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: runs.append(options))
    # Nor is this test process's heap frozen and its collector slowed, as a server's is.
    monkeypatch.setattr(api_main, "settle_heap", lambda: None)
    return runs


def serve(*args: str) -> Any:
    result = CliRunner().invoke(app, ["serve", *args])
    assert result.exit_code == 0, result.output
    return result


def test_serve_prints_the_postgres_url_without_user_or_password(
    uvicorn_runs: list[dict[str, Any]], postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGER_DATABASE_URL", postgres_url)
    parts = urlsplit(postgres_url)
    result = serve()
    assert uvicorn_runs, "serve did not start uvicorn"
    assert f"postgres store at postgresql://{parts.hostname}:{parts.port}{parts.path}" in (
        result.output
    )
    assert unquote(parts.password or "") not in result.output
    store_line = next(line for line in result.output.splitlines() if "store at" in line)
    assert "@" not in store_line


def test_serve_prints_the_sqlite_url(
    uvicorn_runs: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    monkeypatch.setenv("LEDGER_DATABASE_URL", url)
    assert f"sqlite store at {url}" in serve().output


def test_serve_ends_after_asking_for_the_store_files_ahead(
    uvicorn_runs: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon thread waiting for the child that asks the kernel for the files logs its
    line before `serve` returns: a start that ends first (refused, or uvicorn stopped) would
    leave it writing to streams already closed (a CI run printed "Logging error")."""
    monkeypatch.setenv("LEDGER_DATABASE_URL", f"sqlite:///{tmp_path}/ledger.db")
    done: list[float] = []

    def slow_child(paths: Any) -> int:
        time.sleep(1.5)  # longer than `serve` takes with uvicorn stubbed
        done.append(time.monotonic())
        return len(list(paths))

    monkeypatch.setattr(prewarm, "prewarm_in_child", slow_child)
    monkeypatch.setattr(serving, "PREWARM_WAIT", 30.0)
    serve()
    ended = time.monotonic()
    assert uvicorn_runs and done and done[0] <= ended


@pytest.mark.parametrize(
    "url",
    [
        f"postgress://ledger:{SECRET}@db.internal/ledger?x",
        f"mysql://ledger:{SECRET}@db.internal/ledger",
        f"ledger:{SECRET}@db.internal/ledger",
        f"postgresql://ledger:{SECRET}@/ledger",
        # Well formed, but nothing listens there: the connection error must not print it.
        f"postgres://ledger:{SECRET}@127.0.0.1:1/ledger?x",
    ],
)
def test_a_database_url_that_cannot_serve_is_refused_without_its_password(
    tmp_path: Path, url: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    process = subprocess.run(
        [sys.executable, "-m", "ledger.cli", "serve", "--port", "1"],
        env={**env, "LEDGER_DATABASE_URL": url, "LEDGER_ADMIN_TOKEN": "t"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = process.stdout + process.stderr
    assert process.returncode != 0, output
    assert "Uvicorn running" not in output
    assert SECRET not in output, output


def test_settings_never_echo_the_database_password() -> None:
    with pytest.raises(ValidationError) as info:
        Settings(database_url=f"mysql://ledger:{SECRET}@db.internal/ledger")
    assert SECRET not in str(info.value)
    assert "mysql://db.internal/ledger" in str(info.value)
    settings = Settings(database_url=f"postgresql://ledger:{SECRET}@db.internal/ledger")
    assert SECRET not in repr(settings)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "ledger.example"])
def test_serve_warns_when_it_listens_beyond_this_machine(
    uvicorn_runs: list[dict[str, Any]], host: str
) -> None:
    result = serve("--host", host)
    assert uvicorn_runs[0]["host"] == host
    assert "no TLS" in result.stderr
    assert "TLS-terminating proxy" in result.stderr


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_serve_on_loopback_gives_no_warning(uvicorn_runs: list[dict[str, Any]], host: str) -> None:
    result = serve("--host", host)
    assert uvicorn_runs[0]["host"] == host
    assert "warning" not in result.output


@pytest.mark.parametrize(
    ("url", "printed"),
    [
        ("postgresql://u:pw@db:5432/ledger", "postgresql://db:5432/ledger"),
        ("postgresql://u:p/w@x@db/ledger", "postgresql://db/ledger"),
        (
            "postgresql://db/ledger?password=pw&sslmode=require",
            "postgresql://db/ledger?password=***&sslmode=***",
        ),
        ("u:pw@db/ledger", "db/ledger"),
        ("sqlite:///./var/ledger.db", "sqlite:///./var/ledger.db"),
    ],
)
def test_a_url_is_printed_without_credentials(url: str, printed: str) -> None:
    assert redact_url(url) == printed


def _store_made_with(tmp_path: Path, master_key: str) -> str:
    url = f"sqlite:///{tmp_path}/ledger.db"
    container = build(Settings(database_url=url, master_key=master_key))
    try:
        container.ledger.keyring.for_sealing("C1")  # a client's key, wrapped by it
    finally:
        container.close()
    return url


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_refuses_to_start_with_a_master_key_that_is_not_the_stores(
    uvicorn_runs: list[dict[str, Any]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    workers: str,
) -> None:
    made_with, other = MasterKey.generate_text(), MasterKey.generate_text()
    monkeypatch.setenv("LEDGER_DATABASE_URL", _store_made_with(tmp_path, made_with))
    monkeypatch.setenv("LEDGER_MASTER_KEY", other)
    result = CliRunner().invoke(app, ["serve", "--workers", workers])
    assert (result.exit_code, uvicorn_runs) == (1, []), result.output
    assert "error: the master key from LEDGER_MASTER_KEY does not open" in result.stderr
    assert MasterKey.from_text(made_with).key_id in result.stderr  # which key it needs
    for key in (made_with, other):
        assert key not in result.output and key.rstrip("=") not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_serve_names_the_key_file_that_is_not_the_stores(
    uvicorn_runs: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _store_made_with(tmp_path, MasterKey.generate_text())
    key_file = tmp_path / "other-key"
    write_key_file(key_file, MasterKey.generate_text())
    monkeypatch.setenv("LEDGER_DATABASE_URL", url)
    monkeypatch.setenv("LEDGER_MASTER_KEY_FILE", str(key_file))
    result = CliRunner().invoke(app, ["serve"])
    assert (result.exit_code, uvicorn_runs) == (1, []), result.output
    assert f"error: the master key from {key_file} does not open" in result.stderr
    assert key_file.read_text().strip() not in result.output


def test_serve_refuses_a_master_key_that_is_not_a_key_without_printing_it(
    uvicorn_runs: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGER_DATABASE_URL", f"sqlite:///{tmp_path}/ledger.db")
    monkeypatch.setenv("LEDGER_MASTER_KEY", "c2hvcnQtc2VjcmV0")  # 12 bytes
    result = CliRunner().invoke(app, ["serve"])
    assert (result.exit_code, uvicorn_runs) == (1, []), result.output
    assert "error: the master key from LEDGER_MASTER_KEY must be" in result.stderr
    assert "c2hvcnQtc2VjcmV0" not in result.output and "short-secret" not in result.output


def test_serve_starts_with_the_key_the_store_was_made_with(
    uvicorn_runs: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made_with = MasterKey.generate_text()
    monkeypatch.setenv("LEDGER_DATABASE_URL", _store_made_with(tmp_path, made_with))
    monkeypatch.setenv("LEDGER_MASTER_KEY", made_with)
    serve("--workers", "2")
    assert uvicorn_runs[0]["workers"] == 2
