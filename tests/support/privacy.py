"""The personal-data mapper alone (ledger.privacy), on a key ring a test chooses."""

from __future__ import annotations

from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, UUIDAsHex

from ledger.privacy import KeyRing, MasterKey, MemoryKeyTable, PersonalDataMapper
from ledger.privacy.cipher import new_key


def mapper_on(keyring: KeyRing | None = None) -> PersonalDataMapper:
    """On `keyring`, else on a key ring of its own in memory."""
    transcoder = JSONTranscoder()
    transcoder.register(UUIDAsHex())
    transcoder.register(DatetimeAsISO())
    keyring = keyring or KeyRing(MasterKey(new_key()), MemoryKeyTable())
    return PersonalDataMapper(transcoder, keyring)
