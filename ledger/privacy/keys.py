"""Subject keys: made on a subject's first personal write, kept wrapped by the master key in
a table beside the events (never in an event), cached unwrapped in memory, destroyed by
erasure; and the blind indexes a client is found by.

`personal_keys(subject, wrapped, master_key_id, erased_at)`: an erased subject keeps its
row, wrapped NULL, so no later write can make it a fresh key. `blind_index(digest,
subject)`: HMAC-SHA-256 of a normalised value under the index key (itself a random key kept
wrapped in `personal_keys` under the subject `blind-index`, so rotation re-wraps it and the
index stays valid).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.privacy.cipher import (
    ERASED,
    KeyMismatch,
    MasterKey,
    MasterKeyError,
    blind_digest,
    blind_terms,
    is_sealed,
    new_key,
    open_sealed,
    seal,
    synthetic_nonce,
)
from ledger.privacy.key_tables import (
    KeyTable,
    MemoryKeyTable,
    SQLKeyTable,
    key_table_for,
    purge_snapshots,
)
from ledger.privacy.master_key import load_master_key, master_key_for, write_key_file

# Re-exported: callers import the key tables and the master key from here.
__all__ = [
    "INDEX_SUBJECT",
    "KeyRing",
    "KeyTable",
    "MemoryKeyTable",
    "SQLKeyTable",
    "SubjectErased",
    "WrongMasterKey",
    "key_table_for",
    "load_master_key",
    "master_key_for",
    "purge_snapshots",
    "write_key_file",
]

INDEX_SUBJECT = "blind-index"
# Opened texts kept in memory per process, at most (each a few hundred bytes): a catch-up
# opens every client's name and profile once, 444,000 texts at 1,000,000 events, and held
# up to 200,000 of them (~50 MB) for nothing.
MAX_OPENED_TEXTS = 50_000
# Subject keys kept unwrapped per process, at most (or one page's of a catch-up, read
# together): a catch-up of the 1,000,000-event log opened 111,000 clients' and kept them.
# More than the three pages of up to 5,000 clients a catch-up holds at once (`ReadAhead`):
# dropped while still to be used, each was read again alone.
MAX_KEYS = 32_768
# Of those, the AESGCM contexts kept made, at most: ~2.6 KB each (16,384 took 41 MiB of each
# catch-up process), and made again in ~5 us; a client's events mostly come together.
MAX_CONTEXTS = 2_048
_UNKNOWN = object()
# A read model's copy among the opened texts (the log's are kept with their event's version).
_VIEW_COPY = -1


class WrongMasterKey(MasterKeyError):
    """A master key that is not the one this store's keys were wrapped with."""


class SubjectErased(Exception):
    """The subject's key was destroyed: nothing can be sealed for it any more."""


class KeyRing:
    """Subject keys, unwrapped once per process and cached; erasure forgets them."""

    def __init__(self, master: MasterKey, table: KeyTable | None) -> None:
        self.master = master
        self.table: KeyTable = table or MemoryKeyTable()
        self._keys: dict[str, bytes | None] = {}  # None: erased
        self._contexts: dict[str, AESGCM] = {}
        # Texts already opened, by subject, so that erasure can drop them with the key.
        self._texts: dict[str, dict[str, Any]] = {}
        self._text_count = 0
        self._index: bytes | None = None
        self._lock = threading.Lock()
        # Erasures this process saw: keys read from the table before one are not kept
        # after it (an erasure landing while a page read its keys brought the key back).
        self._forgotten = 0

    def _load(self, subject: str, *, create: bool) -> bytes | None:
        forgotten = self._forgotten
        row = self.table.get(subject)
        made: tuple[bytes, bytes] | None = None
        if row is None and create:
            key = new_key()
            made = (key, self.master.wrap(key, subject))
            self.table.add(subject, made[1], self.master.key_id)
            row = self.table.get(subject)
        if row is None:
            return None  # never made: the subject's values were stored plain
        wrapped, _ = row
        if wrapped is None:
            key = None
        elif made is not None and bytes(wrapped) == made[1]:
            key = made[0]  # the key just made, not unwrapped again
        else:  # another writer's key won, or one made before
            key = self.master.unwrap(wrapped, subject)
        self._keep({subject: key}, forgotten)
        return key

    def _keep(self, keys: dict[str, bytes | None], forgotten: int) -> None:
        """Keep the keys unwrapped, unless an erasure came since they were read (`forgotten`:
        `_forgotten` before the read; they are read again when next needed); when that would
        pass `MAX_KEYS`, start again from empty (the table has every key)."""
        with self._lock:
            if self._forgotten != forgotten:
                return
            if len(self._keys) + len(keys) > MAX_KEYS:
                self._keys.clear()
            self._keys.update(keys)

    def _context(self, subject: str, key: bytes) -> AESGCM:
        aead = self._contexts.get(subject)
        if aead is None:
            aead = AESGCM(key)
            with self._lock:
                if len(self._contexts) >= MAX_CONTEXTS:
                    self._contexts.clear()
                self._contexts[subject] = aead
        return aead

    def load(self, subjects: Iterable[str]) -> None:
        """The keys of many subjects unwrapped with one read of the key table, not one each
        (a rebuild reads pages of events of thousands of clients)."""
        keys, forgotten = self._keys, self._forgotten
        missing = list({s for s in subjects if s not in keys})
        if not missing:
            return
        rows = self.table.get_many(missing)
        unwrapped = {
            subject: self.master.unwrap(wrapped, subject) if wrapped is not None else None
            for subject, (wrapped, _) in rows.items()
        }
        self._keep(unwrapped, forgotten)

    def for_sealing(self, subject: str) -> AESGCM:
        key = self._keys.get(subject)
        if key is None:
            key = self._load(subject, create=True)
            if key is None:
                raise SubjectErased(subject)
        return self._context(subject, key)

    def for_opening(self, subject: str) -> AESGCM | None:
        """The subject's key, or None once it is erased."""
        key = self._keys.get(subject, _UNKNOWN)
        if key is _UNKNOWN:
            key = self._load(subject, create=False)
        return None if key is None else self._context(subject, key)  # type: ignore[arg-type]

    def erase(self, subject: str) -> None:
        self.table.erase(subject)
        self.forget(subject)

    def forget(self, subject: str) -> None:
        """Drop the cached key and texts (erased, maybe by another process)."""
        with self._lock:
            self._forgotten += 1
            self._keys[subject] = None
            self._contexts.pop(subject, None)
            self._texts.pop(subject, None)

    def opened_texts(self, subject: str) -> dict[str, Any]:
        texts = self._texts.get(subject)
        if texts is None:
            texts = self._texts.setdefault(subject, {})
        return texts

    def remember_text(self, texts: dict[str, Any], place: str, text: Any) -> None:
        self._text_count += 1
        if self._text_count > MAX_OPENED_TEXTS:
            # Bounded memory: start again from empty (a rebuild reads each text once).
            with self._lock:
                self._texts.clear()
                self._text_count = 0
            return
        texts[place] = text

    def is_erased(self, subject: str) -> bool:
        row = self.table.get(subject)
        return row is not None and row[0] is None

    # ---- sealed text outside the log (the read models' copies) ------------------------

    def seal_text(self, subject: str, field: str, value: str) -> str:
        if is_sealed(value) or value == ERASED:
            return value
        aad = f"{subject}\x00{field}".encode()
        plain = value.encode()
        # Deterministic, so a rebuilt read model holds the same bytes as the one it replaces.
        nonce = synthetic_nonce(self._index_key(), plain, aad)
        return seal(self.for_sealing(subject), plain, aad, nonce)

    def open_text(self, subject: str, field: str, value: str) -> str | None:
        """A read model's sealed copy opened, or None once the subject is erased. Kept
        opened by subject, as the log's texts are, so erasure drops it with the key: a
        report that lists a thousand complaints again opens none of them again."""
        if not is_sealed(value):
            return None if value == ERASED else value
        texts = self.opened_texts(subject)
        known = texts.get(value)
        if known is not None and known[0] == _VIEW_COPY and known[1] == field:
            return known[2]
        aead = self.for_opening(subject)
        if aead is None:
            return None
        text = open_sealed(aead, value, f"{subject}\x00{field}".encode()).decode()
        self.remember_text(texts, value, (_VIEW_COPY, field, text))
        return text

    # ---- blind indexes ----------------------------------------------------------------

    def _index_key(self) -> bytes:
        if self._index is None:
            self._index = self._load_index_key()
        return self._index

    def _load_index_key(self) -> bytes:
        row = self.table.get(INDEX_SUBJECT)
        if row is None:
            wrapped = self.master.wrap(new_key(), INDEX_SUBJECT)
            self.table.add(INDEX_SUBJECT, wrapped, self.master.key_id)
            row = self.table.get(INDEX_SUBJECT)
        assert row is not None and row[0] is not None
        return self.master.unwrap(row[0], INDEX_SUBJECT)

    def index(self, subject: str, kind: str, value: str) -> None:
        key = self._index_key()
        digests = [blind_digest(key, kind, term) for term in blind_terms(kind, value)]
        if digests:
            self.table.add_index(subject, digests)

    def find(self, kind: str, value: str) -> list[str]:
        terms = blind_terms(kind, value)
        if not terms:
            return []
        return self.table.find(blind_digest(self._index_key(), kind, terms[0]))

    # ---- the master key ----------------------------------------------------------------

    def check_master(self, source: str) -> None:
        """Refuse a master key that did not wrap this store's keys, at start rather than at
        the first read of a client (a 500 per request). One wrapped key is enough: rotation
        re-wraps them all in one transaction."""
        row = self.table.get(INDEX_SUBJECT)
        if row is not None:
            subject, (wrapped, key_id) = INDEX_SUBJECT, row
        else:  # no client registered yet: a prospect's key, if there is one
            rows = self.table.wrapped_keys()
            if not rows:
                return  # a new store, or one written before personal data was sealed
            subject, wrapped, key_id = rows[0]
        if wrapped is None:
            return
        try:
            self.master.unwrap(wrapped, subject)
        except KeyMismatch:
            raise WrongMasterKey(
                f"the master key from {source} does not open this store's keys: they were "
                f"wrapped by the master key with id {key_id}, and this one's id is "
                f"{self.master.key_id}. Start with the key the store was made with (a copy "
                "of it, or, if `ledger keys rotate` stopped part way, the key file's .new)"
            ) from None

    # ---- rotation ----------------------------------------------------------------------

    def rotate(self, new_master: MasterKey) -> int:
        """Every key re-wrapped under `new_master` in one transaction; no event changes."""
        rows = [
            (
                subject,
                new_master.wrap(self.master.unwrap(wrapped, subject), subject),
                new_master.key_id,
            )
            for subject, wrapped, _ in self.table.wrapped_keys()
        ]
        self.table.rewrap(rows)
        self.master = new_master
        return len(rows)
