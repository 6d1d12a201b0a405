from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from ledger.bootstrap import build
from ledger.cli import app as cli
from ledger.config import Settings
from ledger.projections import rebuild as rebuilding
from support import READ_MODELS
from support.projection_scenarios import build_org


def _organisation(sqlite_url: str) -> int:
    """A ledger holding the test organisation; returns its position."""
    container = build(Settings(database_url=sqlite_url))
    try:
        build_org(container.ledger, datetime.now(UTC) - timedelta(days=10))
        return container.ledger.position
    finally:
        container.close()


def test_rebuild_replays_the_named_read_models_from_the_whole_log(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGER_DATABASE_URL", sqlite_url)
    end = _organisation(sqlite_url)

    result = CliRunner().invoke(cli, ["rebuild", "roster"])
    assert result.exit_code == 0, result.output
    assert f"rebuilt roster up to position {end}" in result.output

    container = build(Settings(database_url=sqlite_url))
    try:
        positions = container.start_projections(follow=False).positions()
        assert positions["roster"] == end
        assert positions["reports"] == 0
    finally:
        container.close()


def test_rebuild_of_several_read_models_runs_them_in_processes(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGER_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("LEDGER_CADENCE_DAYS", "gold=7")
    end = _organisation(sqlite_url)
    calls: list[tuple[list[str], Settings]] = []
    rebuild_in_processes = rebuilding.rebuild_in_processes

    def spying(names: list[str], rebuild_group: Any) -> dict[str, int]:
        # What each process builds its container from: the settings, as a dict.
        calls.append((names, Settings(**rebuild_group.args[0])))
        return rebuild_in_processes(names, rebuild_group)

    monkeypatch.setattr(rebuilding, "rebuild_in_processes", spying)
    result = CliRunner().invoke(cli, ["rebuild"])
    assert result.exit_code == 0, result.output
    assert f"rebuilt {', '.join(READ_MODELS)} up to position {end}" in result.output
    assert [names for names, _ in calls] == [READ_MODELS]
    assert calls[0][1].cadence == {"gold": 7}

    container = build(Settings(database_url=sqlite_url))
    try:
        positions = container.start_projections(follow=False).positions()
        assert set(positions.values()) == {end}
    finally:
        container.close()


def test_rebuild_refuses_an_unknown_projection(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGER_DATABASE_URL", sqlite_url)
    result = CliRunner().invoke(cli, ["rebuild", "nonsense"])
    assert result.exit_code == 1
    assert "unknown projection(s): nonsense" in result.output
