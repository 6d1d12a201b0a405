"""Compliance's determination on a churn case: was the loss someone's responsibility?

A churn case is named by the event id of the churn, which only the accountability read
model maps back to its client. The application does not know the read models: it asks
through the `ChurnCases` port, which the composition root (`ledger.bootstrap`) wires.
"""

from __future__ import annotations

from typing import Any, Protocol

from ledger.application.clients import ClientUseCases
from ledger.application.results import WriteResult
from ledger.config import DEFAULT_READ_WAIT_SECONDS
from ledger.domain import Client, InvalidInput, NotFound


class ChurnCases(Protocol):
    def client_of_case(self, case_id: str, *, after: int | None, timeout: float) -> str | None:
        """The client a churn case belongs to, once the cases have been projected up to
        log position `after` (waiting up to `timeout` seconds for that); None if the case
        is unknown, or the position was not reached in time."""

    def facts_of_case(self, case_id: str, *, after: int, timeout: float) -> dict[str, Any] | None:
        """The case's facts (`accountability_tier`, `designated_manager`, `unit_head`,
        `prior_holders`) once projected up to `after` (waiting up to `timeout`), or as far
        as they are projected by then; None if the case is unknown."""


class NoChurnCases:
    """Until wired, every case is unknown."""

    def client_of_case(self, case_id: str, *, after: int | None, timeout: float) -> str | None:
        return None

    def facts_of_case(self, case_id: str, *, after: int, timeout: float) -> dict[str, Any] | None:
        return None


class AccountabilityUseCases(ClientUseCases):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.churn_cases: ChurnCases = NoChurnCases()
        # Seconds to wait for the read model to see a case not yet projected (a churn just
        # recorded); the composition root sets LEDGER_READ_WAIT_SECONDS.
        self.case_wait = DEFAULT_READ_WAIT_SECONDS

    def determine(
        self,
        *,
        client_id: str,
        case_id: str,
        outcome: str,
        reason: str,
        recorded_by: str,
        party: str | None = None,
        facts: dict[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> WriteResult:
        return self.update(
            Client,
            client_id,
            expected_version,
            Client.determine,
            case_id=case_id,
            outcome=outcome,
            reason=reason,
            party=party,
            facts=facts,
            recorded_by=recorded_by,
            effective_at=self.clock(),
        )

    def determine_case(
        self,
        *,
        case_id: str,
        outcome: str,
        reason: str,
        party: str | None = None,
        client_id: str | None = None,
        recorded_by: str,
        expected_version: int | None = None,
    ) -> WriteResult:
        """`determine` on the case's own client; a `client_id` given must be that client.
        The determination keeps the case's facts as the ledger knows them now (the read
        model caught up with the log's end, within the wait), so that a later change to
        them turns it stale."""
        case_client = self.client_of_case(case_id)
        if client_id is not None and client_id != case_client:
            raise InvalidInput("client_id", f"case {case_id} is a churn of client {case_client}")
        facts = self.churn_cases.facts_of_case(case_id, after=self.position, timeout=self.case_wait)
        return self.determine(
            client_id=case_client,
            case_id=case_id,
            outcome=outcome,
            reason=reason,
            party=party,
            facts=facts,
            recorded_by=recorded_by,
            expected_version=expected_version,
        )

    def client_of_case(self, case_id: str) -> str:
        """A case the read model does not know yet may be a churn just recorded: wait
        (bounded) for it to reach the log's current end before calling it unknown."""
        client_id = self.churn_cases.client_of_case(case_id, after=None, timeout=0)
        if client_id is None:
            client_id = self.churn_cases.client_of_case(
                case_id, after=self.position, timeout=self.case_wait
            )
        if client_id is None:
            raise NotFound("churn case", case_id)
        return client_id
