"""The one list of personal fields: which fields of which events (and which aggregates'
snapshots) are sealed under their subject's key, and which are found by blind index.

An event class that carries personal data registers its fields here (a module that adds
such events calls `register` beside this list). A path is a field name, or `field.*` for
every value of a dict field (a profile update's changes). The subject whose key seals a
field is the event's aggregate (its originator id): erasing a client erases its own events.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from eventsourcing.domain import CanInitAggregate

from ledger.domain.client import Client
from ledger.domain.prospect import Prospect
from ledger.privacy.deferred import defer


@dataclass(frozen=True)
class PersonalFields:
    paths: tuple[str, ...]
    # Field path (or `field.<key>` for one value of a dict field) -> the lookup kind.
    indexed: dict[str, str] = field(default_factory=dict)
    # Whole fields opened when first read rather than on load (ledger.privacy.deferred).
    deferred: tuple[str, ...] = ()
    # Whether any field is opened on load (set from the above).
    opens_on_load: bool = field(init=False, default=False)

    @property
    def names(self) -> tuple[str, ...]:
        """The fields that are personal whole, opened on load."""
        return self._names[0]

    @property
    def whole_names(self) -> tuple[str, ...]:
        """The fields that are personal whole, opened on load or on first read."""
        return self._names[2]

    @property
    def dict_names(self) -> tuple[str, ...]:
        """The dict fields whose every value is personal (`field.*`)."""
        return self._names[1]

    def __post_init__(self) -> None:
        whole = tuple(p for p in self.paths if "." not in p and p not in self.deferred)
        each = tuple(p.removesuffix(".*") for p in self.paths if p.endswith(".*"))
        object.__setattr__(self, "_names", (whole, each, whole + self.deferred))
        object.__setattr__(self, "opens_on_load", bool(whole or each))


# Event class -> its personal fields.
EVENTS: dict[type, PersonalFields] = {}
# Aggregate classes whose snapshots are sealed whole (their state holds the fields above).
SNAPSHOTS: set[type] = set()


def register(cls: type, *paths: str, indexed: dict[str, str] | None = None) -> None:
    # A whole field of an event that does not create its aggregate is opened on first read
    # (the library passes a created event's fields to the aggregate's `__init__` as stored).
    deferred = ()
    if not issubclass(cls, CanInitAggregate):
        deferred = tuple(p for p in paths if "." not in p)
        for name in deferred:
            defer(cls, name)
    EVENTS[cls] = PersonalFields(tuple(paths), dict(indexed or {}), deferred)


def register_snapshots(cls: type) -> None:
    SNAPSHOTS.add(cls)


# A client's name and profile, what was said in contacts, and the free-text reasons about
# the person (why a tier changed, why the client left or came back). Kept plain: who held
# the client and why (`Assigned.reason`), retractions (bookkeeping) and a churn case's
# ruling (`ChurnDetermined`): the accountability record must outlive an erasure whole.
register(
    Client.Registered,
    "name",
    indexed={"name": "name"},
)
register(Client.ProfileUpdated, "changes.*", indexed={"changes.phone": "phone"})
register(Client.ContactLogged, "purpose", "summary")
register(Client.TierChanged, "reason")
register(Client.Churned, "reason")
register(Client.Reactivated, "reason")
register_snapshots(Client)
# A prospect's name, sealed under the prospect's own key (it is not yet a client).
register(Prospect.Recorded, "name")
