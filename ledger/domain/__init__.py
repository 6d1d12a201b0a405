"""The domain: aggregates, events, rules and errors. It knows no framework."""

from ledger.domain.client import Client, ClientState
from ledger.domain.errors import (
    AlreadyExists,
    Forbidden,
    InvalidInput,
    LedgerError,
    NotFound,
    RuleViolation,
    StaleVersion,
)
from ledger.domain.staff import Staff
from ledger.domain.unit import Unit

__all__ = [
    "AlreadyExists",
    "Client",
    "ClientState",
    "Forbidden",
    "InvalidInput",
    "LedgerError",
    "NotFound",
    "RuleViolation",
    "Staff",
    "StaleVersion",
    "Unit",
]
