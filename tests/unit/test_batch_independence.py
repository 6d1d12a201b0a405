"""A view's rows must not depend on how the log was cut into batches: a client registered
in a batch is worked out from memory, one seen before from its rows, and both must agree,
also when the batch retracts some of what it holds, and however `_flush` splits clients."""

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger.domain import LedgerError
from ledger.domain.values import TIERS
from ledger.projections import runner
from ledger.projections.kit import text
from support.projection_scenarios import BY, build_org, dump

NOW = datetime.now(UTC)


def _random_history(app: Any, rng: random.Random, *, clients: int, steps: int) -> None:
    """Registrations among profile updates (key fields set and cleared), assets reports,
    backdated reassignments, tier changes, churns, reactivations, contacts and retractions.
    Commands the rules refuse are skipped."""
    since = NOW - timedelta(days=300)
    build_org(app, since)
    ids: list[str] = []
    written: dict[str, list[Any]] = {}
    for _ in range(steps):
        r = rng.random()
        at = since + timedelta(days=rng.randrange(1, 299), seconds=rng.randrange(86400))
        try:
            if not ids or (r < 0.15 and len(ids) < clients):
                client_id = f"C{len(ids):03}"
                app.register_client(
                    client_id=client_id,
                    name=client_id,
                    unit_id=rng.choice(("O1", "O2")),
                    tier=rng.choice(TIERS),
                    occurred_at=since,
                    recorded_by=BY,
                )
                ids.append(client_id)
                written[client_id] = []
                continue
            # Mostly the latest clients, so many batches register and update a client.
            client_id = rng.choice(ids[-4:] if rng.random() < 0.6 else ids)
            if r < 0.3:
                fields = rng.sample(["address", "phone", "employer", "hobbies"], 2)
                result = app.update_profile(
                    client_id=client_id,
                    changes={f: rng.choice(("x", "地址", None)) for f in fields},
                    effective_at=at,
                    recorded_by=BY,
                )
            elif r < 0.45:
                result = app.report_assets(
                    client_id=client_id,
                    amount=f"{rng.randrange(1, 900)}.50",
                    as_of=at.date(),
                    recorded_by=BY,
                )
            elif r < 0.55:
                result = app.assign(
                    client_id=client_id,
                    staff_id=rng.choice(("M1", "M2", "M3")),
                    reason="r",
                    effective_at=at,
                    recorded_by=BY,
                )
            elif r < 0.62:
                result = app.change_tier(
                    client_id=client_id,
                    tier=rng.choice(TIERS),
                    reason="r",
                    effective_at=at,
                    recorded_by=BY,
                )
            elif r < 0.67:
                result = app.churn(
                    client_id=client_id,
                    kind="abnormal",
                    reason="r",
                    effective_at=at,
                    recorded_by=BY,
                )
            elif r < 0.72:
                result = app.reactivate(
                    client_id=client_id, reason="r", effective_at=at, recorded_by=BY
                )
            elif r < 0.8:
                result = app.log_contact(
                    client_id=client_id,
                    channel="visit",
                    staff_id="M1",
                    occurred_at=at,
                    recorded_by=BY,
                )
            else:
                if written[client_id]:
                    app.retract(
                        client_id=client_id,
                        event_id=rng.choice(written[client_id]).event_id,
                        reason="r",
                        recorded_by=BY,
                    )
                continue
            written[client_id].append(result)
        except LedgerError:
            continue


def _batches_of(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    monkeypatch.setattr(runner, "CATCH_UP_BATCH", size)


@pytest.mark.parametrize("seed", range(3))
def test_a_rebuild_gives_the_same_rows_whatever_the_batches_and_chunks(
    seed: int, container: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _random_history(container.ledger, random.Random(seed), clients=25, steps=400)
    projections = container.start_projections(follow=False)
    end = container.ledger.position
    _batches_of(monkeypatch, 1)
    assert projections.rebuild() == end
    one_at_a_time = dump(projections.views)
    assert one_at_a_time["reports_profile_updates"] and one_at_a_time["reports_asset_changes"]
    for size, chunk in ((100_000, 500), (5, 2), (13, 3)):
        _batches_of(monkeypatch, size)
        monkeypatch.setattr(text, "CHUNK", chunk)
        assert projections.rebuild() == end
        assert dump(projections.views) == one_at_a_time, (size, chunk)


@pytest.mark.parametrize("seed", range(2))
def test_catching_up_without_a_rebuild_gives_the_rows_of_a_rebuild(
    seed: int, container: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain catch-up keeps the tier counts as it goes; a rebuild counts at the end."""
    _random_history(container.ledger, random.Random(100 + seed), clients=25, steps=400)
    projections = container.start_projections(follow=False)
    end = container.ledger.position
    assert projections.rebuild() == end
    rebuilt = dump(projections.views)
    for size in (1, 7, 100_000):
        for view in projections.views.values():
            view.reset()
        projections._positions.clear()
        _batches_of(monkeypatch, size)
        assert not any(view.rebuilding for view in projections.views.values())
        assert projections.catch_up() == end
        assert dump(projections.views) == rebuilt, size
