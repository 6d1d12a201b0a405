"""A new client's opening events (registration, then its first assignment, profile and
assets), recorded as `Client`'s own commands record them, without the library's aggregate.

A name list's import registers clients by the hundred thousand, each with three commands
after its registration; through the library's aggregate each command built the event,
mutated the client and keyed its timelines on a derived event id, 32 of the 84 µs an
imported event cost (bench/RESULTS.md §7). `ClientIntake` runs `Client`'s own command
methods (`register`, `assign`, `update_profile`, `report_assets`, with their checks) on
the state those checks read of a client just registered; each event is constructed as the
library's `_create` and `trigger_event` construct it and kept, not applied: so one of each
at most. Any other command needs the client itself.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from functools import cache
from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from ledger.domain.base import LedgerAggregate
from ledger.domain.client import Client
from ledger.domain.client_rules import ClientRules
from ledger.domain.values import ACTIVE

_CLIENT_TOPIC = get_topic(Client)


class ClientIntake(ClientRules):
    """A client being registered (`ClientIntake.register`, with `Client.register`'s
    arguments), with its opening commands; `events` are what a new `Client` would have
    pending after the same calls (same classes, fields, versions)."""

    id: UUID
    client_id: str
    version: int
    registered_at: datetime
    erased_at: datetime | None
    events: list[LedgerAggregate.Event]

    # The events the command methods name as `self.<Event>`.
    Registered = Client.Registered
    Assigned = Client.Assigned
    ProfileUpdated = Client.ProfileUpdated
    AssetsReported = Client.AssetsReported

    id_for = staticmethod(Client.id_for)
    register = classmethod(Client.register.__func__)  # type: ignore[attr-defined]
    assign = Client.assign
    update_profile = Client.update_profile
    report_assets = Client.report_assets

    @classmethod
    def _create(cls, event_class: Any, *, id: UUID, **fields: Any) -> ClientIntake:
        """What `Client.register` makes: the registration, as the library's `_create`
        constructs it, and the state the checks of the commands above read of it."""
        intake = cls.__new__(cls)
        intake.id = id
        intake.client_id = fields["client_id"]
        intake.version = 1
        intake.registered_at = fields["effective_at"]
        intake.team_history = {}
        intake.statuses = [[fields["effective_at"], ACTIVE, None, None]]
        intake.erased_at = None
        intake.events = [
            _constructed(
                event_class,
                {
                    "originator_topic": _CLIENT_TOPIC,
                    "originator_id": id,
                    "originator_version": 1,
                    "timestamp": event_class.create_timestamp(),
                    **fields,
                },
            )
        ]
        return intake

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        self.check_not_erased()
        if event_class in map(type, self.events):
            # Its events are not applied: a second one would be checked on a stale state.
            raise TypeError(f"a client's intake records one {event_class.__name__} at most")
        self.version += 1
        self.events.append(
            _constructed(
                event_class,
                {
                    "originator_id": self.id,
                    "originator_version": self.version,
                    "timestamp": event_class.create_timestamp(),
                    **kwargs,
                },
            )
        )


@cache
def _field_names(event_class: type) -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(event_class))


def _constructed(event_class: Any, values: dict[str, Any]) -> Any:
    """`event_class(**values)`, without the frozen dataclass's `__init__`, which sets each
    field through a guarded `object.__setattr__` (2.5 against 0.7 µs an event): its fields
    in their order, as the library's mapper rebuilds a stored event, and its own check.
    Values that are not exactly its fields (one left to its default) go to `__init__`."""
    names = _field_names(event_class)
    if len(values) != len(names):
        return event_class(**values)
    try:
        fields = {name: values[name] for name in names}
    except KeyError:
        return event_class(**values)
    event = object.__new__(event_class)
    object.__setattr__(event, "__dict__", fields)
    event.__post_init__()
    return event
