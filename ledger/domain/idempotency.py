"""A claimed idempotency key: which request first used it and which event it wrote.

It is saved in the same transaction as the write it guards, so a key is claimed if and
only if its write happened; a retry finds it and answers from the event it points to.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from ledger.domain.base import LedgerAggregate
from ledger.domain.values import aggregate_uuid


class IdempotencyKey(LedgerAggregate):
    class Claimed(LedgerAggregate.Created, LedgerAggregate.Event):
        scope: str
        key: str
        fingerprint: str
        result_id: str
        event_originator_id: UUID
        event_version: int

    def __init__(
        self,
        scope: str,
        key: str,
        fingerprint: str,
        result_id: str,
        event_originator_id: UUID,
        event_version: int,
        recorded_by: str,
        effective_at: datetime,
    ) -> None:
        self.scope = scope
        self.key = key
        self.fingerprint = fingerprint
        self.result_id = result_id
        self.event_originator_id = event_originator_id
        self.event_version = event_version

    @staticmethod
    def id_for(scope: str, key: str) -> UUID:
        # Keys are scoped to the caller, so two callers never collide on a key.
        return aggregate_uuid("idempotency", f"{scope}\n{key}")

    # A claim has no rule to check: it is made by calling the class with the fields of
    # `__init__`, which the library turns into its one created event (`Claimed`), with
    # the id `create_id` gives.
    create_id = id_for
