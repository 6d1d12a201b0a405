"""Domain errors: every refusal of the ledger is one of these, naming a field or a rule."""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every error the domain and application raise on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(LedgerError):
    """A value is malformed or outside its closed set (HTTP 422)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.detail = message


class RuleViolation(LedgerError):
    """The command conflicts with what the ledger already holds (HTTP 409)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


class NotFound(LedgerError):
    """An id names nothing the ledger knows (HTTP 404)."""

    def __init__(self, kind: str, identifier: str) -> None:
        super().__init__(f"unknown {kind}: {identifier!r}")
        self.kind = kind
        self.identifier = identifier


class Forbidden(LedgerError):
    """The caller may not do this: its role, or a manager key's scope (HTTP 403)."""


class AlreadyExists(RuleViolation):
    """An id is taken for ever (HTTP 409)."""

    def __init__(self, kind: str, identifier: str) -> None:
        super().__init__(f"duplicate_{kind}_id", f"{kind} {identifier!r} already exists")
        self.kind = kind
        self.identifier = identifier


class StaleVersion(RuleViolation):
    """The caller's expected version is not the aggregate's (HTTP 409)."""

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(
            "stale_version", f"expected version {expected}, but the ledger holds {actual}"
        )
        self.expected = expected
        self.actual = actual
