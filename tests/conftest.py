from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.pg import ThrowawayPostgres

_PG_FIXTURES = {"pg_server", "postgres_url"}

# One master key for every process of the run, whatever its working directory: a store on
# PostgreSQL is opened by served processes and CLI runs in other folders (its default key
# file, var/master-key, is relative to the working directory).
os.environ.setdefault(
    "LEDGER_MASTER_KEY_FILE", str(Path(tempfile.mkdtemp(prefix="ledger-keys-")) / "master-key")
)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[ThrowawayPostgres]:
    server = ThrowawayPostgres()
    started = time.monotonic()
    try:
        server.start()
    except Exception as exc:
        reason = f"throwaway PostgreSQL could not start: {exc}"
    else:
        reason = ""
    if reason:
        # In CI a missing server must be loud: skipped tests would look like a green run.
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    print(f"\nthrowaway PostgreSQL on port {server.port}, up in {time.monotonic() - started:.1f}s")
    yield server
    server.stop()


@pytest.fixture
def postgres_url(pg_server: ThrowawayPostgres) -> str:
    return pg_server.fresh_database()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/ledger.db"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _PG_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Printed so CI logs show whether the PostgreSQL and browser tests really ran. One
    # outcome per test: a test whose call passed but whose teardown errored counts as failed.
    for marker, name in (("postgres", "postgres"), ("browser", "browser")):
        counts = _outcomes(terminalreporter, marker)
        terminalreporter.write_line(
            f"{name} tests: {counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['skipped']} skipped"
        )


def _outcomes(terminalreporter: pytest.TerminalReporter, marker: str) -> dict[str, int]:
    outcome_of = {"passed": "passed", "skipped": "skipped", "failed": "failed", "error": "failed"}
    rank = {"passed": 0, "skipped": 1, "failed": 2}
    outcomes: dict[str, str] = {}
    for category, reports in terminalreporter.stats.items():
        if category not in outcome_of:
            continue
        for report in reports:
            if marker not in getattr(report, "keywords", {}):
                continue
            new = outcome_of[category]
            if rank[new] >= rank[outcomes.get(report.nodeid, "passed")]:
                outcomes[report.nodeid] = new
    return {k: sum(v == k for v in outcomes.values()) for k in rank}
