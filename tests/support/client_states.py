"""Client states as snapshots kept them, for the tests of the client's state versions
(ledger/domain/client_contacts.py, client_assets.py)."""

from __future__ import annotations

from copy import deepcopy
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from eventsourcing.domain import Snapshot

from ledger.domain import Client, RuleViolation
from ledger.domain.values import event_id

REGISTERED = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
BY = "admin"


def registered() -> Client:
    return Client.register(
        client_id="C1", name="Wang", unit_id="O1", recorded_by=BY, effective_at=REGISTERED
    )


def replay(events: list[Any], client: Client | None = None) -> Client:
    for event in events:
        client = event.mutate(client)
    assert client is not None
    return client


def from_snapshot(client: Client, state: dict[str, Any]) -> Client:
    """The client read back from a snapshot of `state` (a copy, as a stored one is)."""
    snapshot = Snapshot(  # type: ignore[call-arg]
        originator_id=client.id,
        originator_version=client.version,
        timestamp=client.modified_on,
        topic=Snapshot.take(client).topic,
        state=deepcopy(state),
    )
    return snapshot.mutate(None)  # type: ignore[return-value]


def assets_v2(client: Client, state: dict[str, Any]) -> dict[str, Any]:
    """`state` with its statements as state version 2 kept them: typed, each by its event
    id, retractable as assets (ledger/domain/client_assets.py)."""
    statements = [
        [
            datetime.fromisoformat(when),
            ref if isinstance(ref, str) else event_id(client.id, ref),
            Decimal(amount),
            date.fromisoformat(as_of),
        ]
        for when, ref, amount, as_of in state["assets"]
    ]
    del state["retracted_assets"]
    state["assets"] = statements
    state["retractable"] = {
        **state["retractable"],
        **{entry[1]: "assets" for entry in statements},
    }
    return state


def retract_as_expected(
    client: Client, target: str, expected: str | None, retracted: set[str], at: datetime
) -> None:
    """Retract `target`: refused for the rule `expected`, or done (then noted in
    `retracted`) when None."""
    try:
        client.retract(retracted_event_id=target, reason="wrong", recorded_by=BY, effective_at=at)
    except RuleViolation as error:
        assert error.rule == expected
    else:
        assert expected is None
        retracted.add(target)
