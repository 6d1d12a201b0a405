"""A client's contacts, kept by version: the versions of its contact events and their
effective times, not their event ids.

Every read of a client loads its snapshot, and a long-lived client's was mostly its
contacts, each keyed by its 36-character event id twice (once as a contact, once as
retractable): 17 ms of CPU to read a client with 10,000 contacts (bench/RESULTS.md, issue
17). An event's id is derived from its client and version (`event_id`), so the versions
hold the same facts; a contact's id is worked out only when a retraction names one.

State version 2 of `Client` (`Client.upcast_v1_v2`): a snapshot taken before holds its
contacts by id (`contacts_by_id`); they are read as they were, and the contacts logged
after it are kept by version.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any
from uuid import UUID


def latest_contact(contacts: Iterable[tuple[str, bool]], at: datetime | None) -> str | None:
    """The effective time (ISO) of the latest contact at or before `at` (any if None) that
    was not retracted, of `(time, retracted)` in version order; of two at one instant, the
    earlier recorded."""
    latest: datetime | None = None
    latest_text = None
    for when, retracted in contacts:
        if retracted:
            continue
        moment = datetime.fromisoformat(when)
        if (at is None or moment <= at) and (latest is None or moment > latest):
            latest, latest_text = moment, when
    return latest_text


class ClientContacts:
    """The contacts `Client` keeps: which versions are contacts, when each took effect, which
    were retracted, and the latest one in force (a read at the present needs only that)."""

    id: UUID
    retractable: dict[str, str]
    retracted: dict[str, str]
    contacts_by_id: dict[str, str]
    # Runs of consecutive versions, [first, last]: a client's contacts mostly follow one
    # another, so a 10,000-contact client keeps a few pairs.
    contact_versions: list[list[int]]
    contact_times: list[str]
    retracted_contacts: list[int]
    latest_contact: str | None

    def init_contacts(self) -> None:
        self.contacts_by_id = {}
        self.contact_versions = []
        self.contact_times = []
        self.retracted_contacts = []
        self.latest_contact = None

    @staticmethod
    def upcast_contacts(state: dict[str, Any]) -> None:
        """A state before version 2: its contacts by id, and the latest of them."""
        contacts: dict[str, str] = state.pop("contacts")
        retracted = state["retracted"]
        state["contacts_by_id"] = contacts
        state["contact_versions"] = []
        state["contact_times"] = []
        state["retracted_contacts"] = []
        state["latest_contact"] = latest_contact(
            ((when, contact_id in retracted) for contact_id, when in contacts.items()), None
        )

    def contact_logged(self, version: int, effective_at: datetime) -> None:
        runs = self.contact_versions
        if runs and runs[-1][1] == version - 1:
            runs[-1][1] = version
        else:
            runs.append([version, version])
        when = effective_at.isoformat()
        self.contact_times.append(when)
        latest = self.latest_contact
        if latest is None or effective_at > datetime.fromisoformat(latest):
            self.latest_contact = when

    def event_retracted(self, retracted_event_id: str, version: int | None = None) -> None:
        """After `retracted` records the retraction: a contact's leaves the latest one;
        `version`: of the contact kept by version it names, if it does (`kept_by_version`)."""
        kind = self.retractable.get(retracted_event_id)
        if kind is None:
            if version is None:
                return
            self.retracted_contacts.append(version)
        elif kind != "contact":
            return
        self.latest_contact = latest_contact(self._contacts(), None)

    @property
    def contact_count(self) -> int:
        return len(self.contacts_by_id) + len(self.contact_times)

    def last_contact_at(self, at: datetime) -> datetime | None:
        latest = self.latest_contact
        if latest is None:
            return None
        moment = datetime.fromisoformat(latest)
        if moment <= at:
            return moment
        earlier = latest_contact(self._contacts(), at)
        return None if earlier is None else datetime.fromisoformat(earlier)

    def _contacts(self) -> Iterator[tuple[str, bool]]:
        """`(time, retracted)` of every contact, in version order."""
        for contact_id, when in self.contacts_by_id.items():
            yield when, contact_id in self.retracted
        retracted = set(self.retracted_contacts)
        times = iter(self.contact_times)
        for first, last in self.contact_versions:
            for version in range(first, last + 1):
                yield next(times), version in retracted
