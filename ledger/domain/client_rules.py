"""The rules a client's commands check before they trigger an event.

`ClientRules` is mixed into `Client` (ledger/domain/client.py): each `check_*` raises a
domain error when a command may not happen; the commands themselves stay beside their
events. The input checks here need no client (a registration has none yet).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ledger.domain.client_timeline import ClientTimeline
from ledger.domain.errors import InvalidInput, RuleViolation
from ledger.domain.values import (
    CHANNELS,
    CHURN_KINDS,
    CHURNED,
    MAX_NAME,
    OUTCOMES,
    PARTIES,
    PROFILE_FIELDS,
    RISK_APPETITES,
    SOURCES,
    TEAM_ROLES,
    TIERS,
    check_amount,
    check_choice,
    check_date,
    check_identifier,
    check_satisfaction,
    check_text,
)

PROFILE_LIMIT = 500


def check_registration(
    client_id: str, name: str, tier: str, source: str | None, referred_by: str | None
) -> None:
    check_identifier("client_id", client_id)
    check_text("name", name, limit=MAX_NAME)
    check_choice("tier", tier, TIERS)
    if source is not None:
        check_choice("source", source, SOURCES)
    if referred_by is not None:
        check_identifier("referred_by", referred_by)
        if referred_by == client_id:
            raise InvalidInput("referred_by", "a client cannot refer itself")


def clean_profile(changes: dict[str, Any]) -> dict[str, str | None]:
    """The profile changes as stored: known fields, checked values, None to clear one."""
    if not changes:
        raise InvalidInput("profile", "name at least one profile field to change")
    clean: dict[str, str | None] = {}
    for name, value in changes.items():
        check_choice("profile", name, PROFILE_FIELDS)
        if value is None:
            clean[name] = None
        elif name == "risk_appetite":
            clean[name] = check_choice(name, value, RISK_APPETITES)
        else:
            clean[name] = check_text(name, value, limit=PROFILE_LIMIT)
    return clean


def check_contact(
    channel: str,
    purpose: str | None,
    summary: str | None,
    satisfaction: int | None,
    complaint: bool,
) -> tuple[str | None, str | None]:
    """The purpose and summary as stored."""
    check_choice("channel", channel, CHANNELS)
    purpose = check_text("purpose", purpose, limit=500, required=False)
    summary = check_text("summary", summary, required=False)
    check_satisfaction(satisfaction)
    if not isinstance(complaint, bool):
        raise InvalidInput("complaint", "must be true or false")
    return purpose, summary


def check_event_id(event_id: Any) -> None:
    if not isinstance(event_id, str) or not event_id:
        raise InvalidInput("event_id", "must name an event")


class ClientRules(ClientTimeline):
    """May this command happen to this client? Each check raises the domain error if not."""

    registered_at: datetime
    retractable: dict[str, str]

    def check_after_registration(self, field_name: str, at: datetime) -> None:
        if at < self.registered_at:
            raise RuleViolation(
                "effective_before_registration",
                f"{field_name} {at.isoformat()} precedes the client's registration at "
                f"{self.registered_at.isoformat()}",
            )

    def check_active_at(self, at: datetime, *, doing: str) -> None:
        if self.status_at(at) == CHURNED:
            raise RuleViolation(
                "client_churned", f"client {self.client_id} had churned by then and cannot {doing}"
            )

    def check_status_order(self, at: datetime) -> None:
        """Churns and reactivations form one sequence in effective time; a status change
        may not slip in before the latest one (the churn cases depend on that order)."""
        latest = self.statuses[-1][0]
        if at < latest:
            raise RuleViolation(
                "effective_time_order",
                f"a status change cannot take effect before the latest one at {latest.isoformat()}",
            )

    def check_not_erased(self) -> None:
        if self.is_erased:
            raise RuleViolation(
                "client_erased", f"client {self.client_id}'s personal data was erased"
            )

    def check_assets(self, amount: Any, as_of: date) -> Decimal:
        """The amount as stored, reported as of a day on or after registration."""
        amount = check_amount("amount", amount)
        check_date("as_of", as_of)
        if as_of < self.registered_at.date():
            raise RuleViolation(
                "effective_before_registration",
                f"as_of {as_of} precedes the client's registration on {self.registered_at.date()}",
            )
        return amount

    def check_tier_change(self, tier: str, reason: str, at: datetime) -> str:
        """The tier the client leaves."""
        check_choice("tier", tier, TIERS)
        check_text("reason", reason)
        self.check_after_registration("effective_at", at)
        self.check_active_at(at, doing="change tier")
        previous = self.tier_at(at)
        if previous == tier:
            raise RuleViolation("tier_unchanged", f"client {self.client_id} is already {tier}")
        return previous

    def check_assignment(self, staff_id: str, role: str, reason: str, at: datetime) -> str | None:
        """Who held the role before."""
        check_choice("role", role, TEAM_ROLES)
        check_text("reason", reason)
        self.check_after_registration("effective_at", at)
        previous = self.holder_at(role, at)
        if previous == staff_id:
            raise RuleViolation(
                "already_assigned", f"{staff_id} already holds {role} for client {self.client_id}"
            )
        return previous

    def check_churn(self, kind: str, reason: str, at: datetime) -> None:
        check_choice("kind", kind, CHURN_KINDS)
        check_text("reason", reason)
        self.check_after_registration("effective_at", at)
        if self.statuses[-1][1] == CHURNED:
            raise RuleViolation("already_churned", f"client {self.client_id} has already churned")
        self.check_status_order(at)

    def check_reactivation(self, reason: str, at: datetime) -> None:
        check_text("reason", reason)
        if self.statuses[-1][1] != CHURNED:
            raise RuleViolation("not_churned", f"client {self.client_id} is active")
        self.check_status_order(at)

    def check_determination(
        self, case_id: str, outcome: str, party: str | None, reason: str
    ) -> None:
        check_choice("outcome", outcome, OUTCOMES)
        if party is not None:
            check_choice("party", party, PARTIES)
        check_text("reason", reason)
        if case_id not in self.churn_case_ids:
            raise RuleViolation(
                "unknown_churn_case", f"client {self.client_id} has no churn case {case_id}"
            )

    def check_acknowledgeable(self, assignment_event_id: str) -> str:
        """The assignee of a designated-manager assignment not yet acknowledged."""
        check_event_id(assignment_event_id)
        assignee = self.assignee_of(assignment_event_id)
        if assignee is None:
            raise RuleViolation(
                "not_an_assignment",
                f"event {assignment_event_id} is not a designated-manager assignment of "
                f"client {self.client_id}",
            )
        if assignment_event_id in getattr(self, "acknowledged", {}):
            raise RuleViolation(
                "already_acknowledged", f"assignment {assignment_event_id} was acknowledged"
            )
        return assignee

    def check_retractable(self, retracted_event_id: str) -> None:
        check_event_id(retracted_event_id)
        if (
            retracted_event_id not in self.retractable
            and self.kept_by_version(retracted_event_id) is None
        ):
            raise RuleViolation(
                "not_retractable",
                f"event {retracted_event_id} is not a contact, assets or profile event "
                f"of client {self.client_id}",
            )
        if retracted_event_id in self.retracted:
            raise RuleViolation(
                "already_retracted",
                f"event {retracted_event_id} was already retracted by "
                f"{self.retracted[retracted_event_id]}",
            )

    def check_erasable(self, retention_years: int, at: datetime) -> None:
        """Identity records are kept `retention_years` after the relationship ends
        (anti-money-laundering rules); only then may the personal data go."""
        if self.is_erased:
            raise RuleViolation("already_erased", f"client {self.client_id} is already erased")
        kept_until = self.retained_until(retention_years)
        if kept_until is None:
            raise RuleViolation(
                "retention_period",
                f"client {self.client_id} is active: its records are kept for "
                f"{retention_years} years after it churns",
            )
        if at < kept_until:
            raise RuleViolation(
                "retention_period",
                f"client {self.client_id}'s records are kept until {kept_until.isoformat()}",
            )
