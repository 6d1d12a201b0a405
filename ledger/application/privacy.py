"""Erasure of a client's personal data (PIPL), after the anti-money-laundering retention
period: the fact recorded as an event, then the client's key destroyed and its snapshots
deleted. The read models purge what they keep when they see the event."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from ledger.application.clients import ClientUseCases
from ledger.application.results import WriteResult
from ledger.config import DEFAULT_RETENTION_YEARS
from ledger.domain import Client, RuleViolation
from ledger.privacy.key_tables import purge_snapshots


class PrivacyUseCases(ClientUseCases):
    retention_years = DEFAULT_RETENTION_YEARS

    def erase_client(
        self, *, client_id: str, reason: str, legal_basis: str, recorded_by: str
    ) -> WriteResult:
        subject = Client.id_for(client_id)
        if self.load(Client, client_id).is_erased:
            # A crash after the event and before the key went: finish the erasure now.
            self._destroy(subject)
        plain = self.plain_personal_fields(subject)
        if plain:
            raise RuleViolation(
                "personal_data_stored_plain",
                f"client {client_id} has personal data stored in plain text before it was "
                f"sealed ({', '.join(plain)}): destroying a key cannot erase it, and the hash "
                "chain forbids rewriting it (see README, Personal data)",
            )
        result = self.update(
            Client,
            client_id,
            None,
            Client.erase,
            reason=reason,
            legal_basis=legal_basis,
            retention_years=self.retention_years,
            recorded_by=recorded_by,
            effective_at=self.clock(),
        )
        self._destroy(subject)
        return result

    def _destroy(self, subject: Any) -> None:
        self._clients.forget(subject)
        self.keyring.erase(str(subject))
        if self.snapshots is not None:
            purge_snapshots(self.snapshots.recorder, subject)

    def plain_personal_fields(self, subject: Any) -> list[str]:
        """`version:field` of the client's personal values held plain (a store from before)."""
        return [
            f"{stored.originator_version}:{path}"
            for stored in self.recorder.select_events(subject)
            for path in self.mapper.plain_fields(stored)  # type: ignore[attr-defined]
        ]

    def erasable(self, client_ids: Iterable[str], *, at: datetime | None = None) -> list[dict]:
        """Of `client_ids`, those whose retention period has passed and that are not erased
        yet: `{client_id, churned_at, retained_until}`."""
        at = at or self.clock()
        found = []
        for client_id in client_ids:
            client = self.load(Client, client_id)
            until = client.retained_until(self.retention_years)
            if until is not None and until <= at and not client.is_erased:
                found.append(
                    {
                        "client_id": client_id,
                        "churned_at": client.statuses[-1][0],
                        "retained_until": until,
                    }
                )
        return found

    def erasable_of(self, churned_by: Callable[[datetime], Iterable[str]]) -> list[dict]:
        """`erasable` of the clients `churned_by(moment)` names (a read model's clients
        churned now that began a churned spell by `moment`): only clients churned at least
        as many 365-day years ago can have passed the period (a calendar year is never
        shorter), so only those are loaded and checked."""
        at = self.clock()
        return self.erasable(churned_by(at - timedelta(days=365 * self.retention_years)), at=at)

    def find_clients(self, kind: str, value: str) -> list[str]:
        """Client ids whose `kind` (`name`, a whole name or one word of it; `phone`) is
        `value`, normalised, by blind index: never a scan of plain values."""
        found = []
        for subject in self.keyring.find(kind, value):
            client = self.repository.get(UUID(subject))
            if isinstance(client, Client):
                found.append(client.client_id)
        return found
