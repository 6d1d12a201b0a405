"""What `ledger serve` says as it starts: the store's URL without its credentials, a
mistyped URL refused without printing its password, and a warning when it listens beyond
this machine (it has no TLS of its own). uvicorn is replaced by a stub that records how it
was called: these tests are about the messages, test_serve.py about serving."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import uvicorn
from pydantic import ValidationError
from typer.testing import CliRunner

from ledger.cli import app
from ledger.config import Settings
from ledger.store import redact_url

SECRET = "s3cr3t-pw"


@pytest.fixture
def uvicorn_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    for name in list(os.environ):
        if name.startswith("LEDGER_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEDGER_ADMIN_TOKEN", "test-admin-token")
    runs: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: runs.append(options))
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
