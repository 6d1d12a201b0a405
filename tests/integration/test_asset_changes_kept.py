"""The reports view's asset changes (`asset_changes.py`): while it follows the log, new
statements are worked out from the statement before the earliest of them on, not from all
of the client's statements. Random statements (backdated, on the same day, a client's first),
retractions and backdated reassignments, caught up a few at a time: after every catch-up the
kept changes are what working every statement out again gives, and a rebuild keeps the same;
on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import itertools
import random
from datetime import date, timedelta
from typing import Any

import pytest

from ledger.bootstrap import Container
from ledger.domain import RuleViolation
from ledger.projections import asset_changes
from ledger.projections.asset_changes import statement
from ledger.projections.runner import ProjectionRunner
from support.projection_scenarios import ProjectionCase
from support.scenario import NOW, STAFF_SINCE, build_bank, by, register

CHANGES = "SELECT aid, version, effective_at, delta, manager FROM reports_asset_changes"


def kept(container: Container) -> list[tuple[Any, ...]]:
    view = container.views.by_name["reports"]
    return sorted(tuple(row.values()) for row in view.query(CHANGES))


def worked_out_whole(container: Container) -> list[tuple[Any, ...]]:
    """Every client's changes worked out from all its statements and its intervals as they
    stand: each statement after the first, its amount less the previous one's (effective
    order, then log order), credited to the designated manager of its time."""
    view = container.views.by_name["reports"]
    held: dict[str, list[Any]] = {}
    for row in view.query("SELECT aid, seq, version, effective_at, amount FROM reports_assets"):
        held.setdefault(row["aid"], []).append(statement(row))
    intervals = view.query("SELECT aid, valid_from, valid_to, manager FROM reports_intervals")

    def manager_at(key: str, at: str) -> str | None:
        for row in intervals:
            ends = row["valid_to"]
            if row["aid"] == key and row["valid_from"] <= at and (ends is None or at < ends):
                return row["manager"]
        return None

    rows = []
    for key, statements in held.items():
        ordered = sorted(statements, key=lambda s: (s[0], s[1]))
        for before, after in itertools.pairwise(ordered):
            rows.append(
                (key, after[2], after[0], str(after[3] - before[3]), manager_at(key, after[0]))
            )
    return sorted(rows)


class AssetChangesCase(ProjectionCase):
    """Abstract: subclasses give `database_url`."""

    @pytest.mark.parametrize(("seed", "tails_at_most"), [(0, 64), (1, 64), (2, 1)])
    def test_new_statements_keep_what_working_out_every_statement_gives(
        self,
        container: Container,
        projections: ProjectionRunner,
        seed: int,
        tails_at_most: int,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # With 1, a batch with new statements of two clients or more works them out whole.
        monkeypatch.setattr(asset_changes, "TAILS_AT_MOST", tails_at_most)
        ledger, rnd = container.ledger, random.Random(seed)
        bank = build_bank(ledger, staff_since=STAFF_SINCE)
        registered = NOW - timedelta(days=300)
        clients = [register(ledger, bank, at=registered, tier="gold") for _ in range(3)]
        for client in clients:
            ledger.assign(client_id=client, staff_id=bank.manager, reason="list",
                          effective_at=registered, **by())  # fmt: skip
        statements: dict[str, list[str]] = {client: [] for client in clients}
        first_day = registered.date() + timedelta(days=1)
        compared = retracted = reassigned = 0
        for _ in range(14):
            for _ in range(rnd.randint(1, 6)):
                client, pick = rnd.choice(clients), rnd.random()
                if pick < 0.75 or not statements[client]:
                    as_of = first_day + timedelta(days=rnd.choice((0, 10, 100, 200, 250)))
                    written = ledger.report_assets(
                        client_id=client,
                        amount=f"{rnd.randint(1, 90) * 10000}.00",
                        as_of=min(as_of, date.today()),
                        **by(),
                    )
                    statements[client].append(written.event_id)
                elif pick < 0.88:
                    gone = statements[client].pop(rnd.randrange(len(statements[client])))
                    ledger.retract(client_id=client, event_id=gone, reason="wrong", **by())
                    retracted += 1
                else:
                    with contextlib.suppress(RuleViolation):  # the manager already holds it
                        ledger.assign(
                            client_id=client,
                            staff_id=rnd.choice((bank.manager, bank.other_manager)),
                            reason="moved",
                            effective_at=registered + timedelta(days=rnd.randint(5, 280)),
                            **by(),
                        )
                        reassigned += 1
            projections.catch_up()
            rows = kept(container)
            assert rows == worked_out_whole(container)
            compared += len(rows)
        assert compared > 50 and retracted and reassigned  # the cases happened
        projections.rebuild(["reports"])
        assert kept(container) == rows


class TestAssetChangesOnSQLite(AssetChangesCase):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url


class TestAssetChangesOnPostgres(AssetChangesCase):
    @pytest.fixture
    def database_url(self, postgres_url: str) -> str:
        return postgres_url
