"""Idempotency: a write under an Idempotency-Key is claimed in the same transaction as
the write itself, and a retry replays the first answer from the log.

A claim keeps the fingerprint of its request's body (method, path, If-Match and the
canonical JSON: a client's name, phone, what was said in a contact...) sealed under the key
of the aggregate it wrote, as a read model keeps its copies (`KeyRing.seal_text`): a hash in
the clear would let anyone holding the log confirm a guessed name, and would outlive the
client's erasure. Sealed, it is erased with the client: a retry of that key then cannot be
compared with the first request and is refused (use a new key). Claims stored before hold
the hash in the clear and compare as they did."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError

from ledger.application.results import WriteCounters, WriteResult, business_id_of, written
from ledger.domain import RuleViolation
from ledger.domain.base import recording_clock
from ledger.domain.idempotency import IdempotencyKey
from ledger.domain.values import check_text
from ledger.privacy.keys import KeyRing

MAX_IDEMPOTENCY_KEY = 200
# Where a claim's fingerprint is sealed (the associated data of its seal).
FINGERPRINT_PLACE = "idempotency:fingerprint"


@dataclass(frozen=True)
class _Claim:
    scope: str
    key: str
    fingerprint: str


class _ClaimedMeanwhile(Exception):
    """A concurrent request with the same idempotency key committed first."""


# Set only while `LedgerBase.idempotent` runs a write, in that thread or task.
_pending_claim: ContextVar[_Claim | None] = ContextVar("ledger_idempotency_claim", default=None)


class IdempotentWrites(Application):
    """Claims idempotency keys beside the writes they guard, and counts what is saved."""

    clock: Callable[[], datetime]
    counters: WriteCounters
    keyring: KeyRing

    def idempotent(
        self, *, scope: str, key: str, fingerprint: str, write: Callable[[], WriteResult]
    ) -> tuple[WriteResult, bool]:
        """Run `write` at most once per `(scope, key)`; answer `(result, replayed)`.

        The key is claimed by an `IdempotencyKey` aggregate saved in the same `save()` as
        the write, so the claim and the write commit together or not at all. A retry with
        the same fingerprint answers the first result from the log; another fingerprint
        is a 409.
        """
        check_text("Idempotency-Key", key, limit=MAX_IDEMPOTENCY_KEY)
        replay = self._replay(scope, key, fingerprint)
        if replay is not None:
            return replay, True
        token = _pending_claim.set(_Claim(scope, key, fingerprint))
        try:
            return write(), False
        except _ClaimedMeanwhile:
            replay = self._replay(scope, key, fingerprint)
            if replay is None:  # pragma: no cover - the claim was just seen in the store
                raise
            return replay, True
        finally:
            _pending_claim.reset(token)

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        claim = _pending_claim.get()
        record = self._claim_record(claim, objs) if claim is not None else None
        if record is None:
            recordings = super().save(*objs, **kwargs)
            self.counters.written(recordings)
            return recordings
        try:
            recordings = super().save(*objs, record, **kwargs)
            self.counters.written(recordings)
            return recordings
        except IntegrityError:
            if record.id in self.repository:
                raise _ClaimedMeanwhile from None
            raise

    def _claim_record(self, claim: _Claim, objs: tuple[Any, ...]) -> IdempotencyKey | None:
        aggregate = next((obj for obj in objs if isinstance(obj, Aggregate)), None)
        pending = aggregate.pending_events if aggregate is not None else []
        if not pending:
            return None
        first = pending[0]
        subject = str(first.originator_id)
        fingerprint = self.keyring.seal_text(subject, FINGERPRINT_PLACE, claim.fingerprint)
        with recording_clock(self.clock):
            return IdempotencyKey(
                scope=claim.scope,
                key=claim.key,
                fingerprint=fingerprint,
                result_id=business_id_of(aggregate),  # type: ignore[arg-type]
                event_originator_id=first.originator_id,
                event_version=first.originator_version,
                recorded_by=first.recorded_by,  # type: ignore[attr-defined]
                effective_at=self.clock(),
            )

    def _replay(self, scope: str, key: str, fingerprint: str) -> WriteResult | None:
        try:
            record = self.repository.get(IdempotencyKey.id_for(scope, key))
        except AggregateNotFoundError:
            return None
        assert isinstance(record, IdempotencyKey)
        subject = str(record.event_originator_id)
        first = self.keyring.open_text(subject, FINGERPRINT_PLACE, record.fingerprint)
        if first is None:
            raise RuleViolation(
                "idempotency_key_reused",
                "this Idempotency-Key's first request cannot be compared with this one (the "
                "personal data it wrote was erased); use a new key",
            )
        if first != fingerprint:
            raise RuleViolation(
                "idempotency_key_reused",
                "this Idempotency-Key was first used with another request; use a new key",
            )
        version = record.event_version
        (event,) = self.events.get(record.event_originator_id, gt=version - 1, lte=version)
        # The one event's position, not every one of its aggregate (a long client has 10,000).
        positions = self.recorder.event_positions(  # type: ignore[attr-defined]
            record.event_originator_id, (version - 1, version)
        )
        return written(record.result_id, event, positions[version])
