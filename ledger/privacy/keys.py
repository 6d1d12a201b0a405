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

import os
import stat
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger.privacy.cipher import (
    ERASED,
    MasterKey,
    blind_digest,
    blind_terms,
    is_sealed,
    new_key,
    open_sealed,
    seal,
    synthetic_nonce,
)

INDEX_SUBJECT = "blind-index"
# Opened texts kept in memory per process, at most (each a few hundred bytes).
MAX_OPENED_TEXTS = 200_000


class SubjectErased(Exception):
    """The subject's key was destroyed: nothing can be sealed for it any more."""


class KeyTable(ABC):
    """Where wrapped keys and blind indexes are kept."""

    @abstractmethod
    def create_tables(self) -> None: ...

    @abstractmethod
    def get(self, subject: str) -> tuple[bytes | None, str | None] | None:
        """`(wrapped, master_key_id)`, `(None, None)` once erased, None if never made."""

    @abstractmethod
    def add(self, subject: str, wrapped: bytes, master_key_id: str) -> None:
        """Insert unless the subject has a row (the first writer's key wins)."""

    @abstractmethod
    def erase(self, subject: str) -> None:
        """Destroy the subject's key and its blind indexes, keeping the erased row."""

    @abstractmethod
    def wrapped_keys(self) -> list[tuple[str, bytes, str]]: ...

    @abstractmethod
    def rewrap(self, rows: list[tuple[str, bytes, str]]) -> None:
        """Replace every wrapped key at once (one transaction)."""

    @abstractmethod
    def add_index(self, subject: str, digests: list[bytes]) -> None: ...

    @abstractmethod
    def find(self, digest: bytes) -> list[str]: ...

    @abstractmethod
    def erased_subjects(self) -> set[str]: ...


class MemoryKeyTable(KeyTable):
    def __init__(self) -> None:
        self.keys: dict[str, tuple[bytes | None, str | None]] = {}
        self.index: dict[bytes, set[str]] = {}
        self.lock = threading.Lock()

    def create_tables(self) -> None:
        pass

    def get(self, subject: str) -> tuple[bytes | None, str | None] | None:
        return self.keys.get(subject)

    def add(self, subject: str, wrapped: bytes, master_key_id: str) -> None:
        with self.lock:
            self.keys.setdefault(subject, (wrapped, master_key_id))

    def erase(self, subject: str) -> None:
        with self.lock:
            self.keys[subject] = (None, None)
            for subjects in self.index.values():
                subjects.discard(subject)

    def wrapped_keys(self) -> list[tuple[str, bytes, str]]:
        return [(s, w, k) for s, (w, k) in self.keys.items() if w is not None and k is not None]

    def rewrap(self, rows: list[tuple[str, bytes, str]]) -> None:
        with self.lock:
            for subject, wrapped, key_id in rows:
                self.keys[subject] = (wrapped, key_id)

    def add_index(self, subject: str, digests: list[bytes]) -> None:
        with self.lock:
            for digest in digests:
                self.index.setdefault(digest, set()).add(subject)

    def find(self, digest: bytes) -> list[str]:
        return sorted(self.index.get(digest, ()))

    def erased_subjects(self) -> set[str]:
        return {s for s, (w, _) in self.keys.items() if w is None}


class SQLKeyTable(KeyTable):
    """On the store's own datastore (SQLite file or PostgreSQL database), in its own short
    transactions: a key is made before the event it seals is inserted, so a refused insert
    leaves at most an unused key."""

    def __init__(self, datastore: Any, *, postgres: bool) -> None:
        self.datastore = datastore
        self.postgres = postgres
        self.mark = "%s" if postgres else "?"
        self.blob = "BYTEA" if postgres else "BLOB"

    @contextmanager
    def cursor(self, *, commit: bool) -> Iterator[Any]:
        with self.datastore.transaction(commit=commit) as cursor:
            yield cursor

    def run(self, sql: str, params: tuple[Any, ...] = (), *, commit: bool = False) -> list[Any]:
        with self.cursor(commit=commit) as c:
            c.execute(sql.replace("?", self.mark), params)
            return list(c.fetchall()) if sql.startswith("SELECT") else []

    def create_tables(self) -> None:
        with self.cursor(commit=True) as c:
            if self.postgres:
                # Processes starting together: PostgreSQL's IF NOT EXISTS is not atomic.
                c.execute("SELECT pg_advisory_xact_lock(1515)")
            c.execute(
                "CREATE TABLE IF NOT EXISTS personal_keys (subject TEXT PRIMARY KEY, "
                f"wrapped {self.blob}, master_key_id TEXT, erased_at TEXT)"
            )
            c.execute(
                f"CREATE TABLE IF NOT EXISTS blind_index (digest {self.blob} NOT NULL, "
                "subject TEXT NOT NULL, PRIMARY KEY (digest, subject))"
            )

    def get(self, subject: str) -> tuple[bytes | None, str | None] | None:
        rows = self.run(
            "SELECT wrapped, master_key_id FROM personal_keys WHERE subject = ?", (subject,)
        )
        if not rows:
            return None
        wrapped, key_id = _pair(rows[0])
        return (bytes(wrapped) if wrapped is not None else None, key_id)

    def add(self, subject: str, wrapped: bytes, master_key_id: str) -> None:
        self.run(
            "INSERT INTO personal_keys (subject, wrapped, master_key_id) VALUES (?, ?, ?) "
            "ON CONFLICT (subject) DO NOTHING",
            (subject, wrapped, master_key_id),
            commit=True,
        )

    @contextmanager
    def scrubbing(self) -> Iterator[Any]:
        """A write transaction whose deleted or replaced bytes are overwritten, not left
        in the SQLite file's free pages."""
        with self.cursor(commit=True) as c:
            if not self.postgres:
                c.execute("PRAGMA secure_delete = ON")
            yield c

    def erase(self, subject: str) -> None:
        with self.scrubbing() as c:
            m = self.mark
            c.execute(
                f"INSERT INTO personal_keys (subject, wrapped, master_key_id, erased_at) "
                f"VALUES ({m}, NULL, NULL, {m}) ON CONFLICT (subject) DO UPDATE SET "
                "wrapped = NULL, master_key_id = NULL, erased_at = excluded.erased_at",
                (subject, datetime.now(UTC).isoformat()),
            )
            c.execute(f"DELETE FROM blind_index WHERE subject = {m}", (subject,))

    def wrapped_keys(self) -> list[tuple[str, bytes, str]]:
        rows = self.run(
            "SELECT subject, wrapped, master_key_id FROM personal_keys WHERE wrapped IS NOT NULL"
        )
        return [(s, bytes(w), k) for s, w, k in map(_triple, rows)]

    def rewrap(self, rows: list[tuple[str, bytes, str]]) -> None:
        with self.scrubbing() as c:
            m = self.mark
            c.executemany(
                f"UPDATE personal_keys SET wrapped = {m}, master_key_id = {m} "
                f"WHERE subject = {m} AND wrapped IS NOT NULL",
                [(wrapped, key_id, subject) for subject, wrapped, key_id in rows],
            )

    def add_index(self, subject: str, digests: list[bytes]) -> None:
        with self.cursor(commit=True) as c:
            m = self.mark
            c.executemany(
                f"INSERT INTO blind_index (digest, subject) VALUES ({m}, {m}) "
                "ON CONFLICT DO NOTHING",
                [(digest, subject) for digest in digests],
            )

    def find(self, digest: bytes) -> list[str]:
        rows = self.run(
            "SELECT subject FROM blind_index WHERE digest = ? ORDER BY subject", (digest,)
        )
        return [_first(row) for row in rows]

    def erased_subjects(self) -> set[str]:
        rows = self.run("SELECT subject FROM personal_keys WHERE wrapped IS NULL")
        return {_first(row) for row in rows}


def _values(row: Any) -> tuple[Any, ...]:
    # psycopg's rows here are dicts; sqlite3's are tuples or Rows.
    return tuple(row.values()) if isinstance(row, dict) else tuple(row)


def _pair(row: Any) -> tuple[Any, Any]:
    first, second = _values(row)
    return first, second


def _triple(row: Any) -> tuple[Any, Any, Any]:
    first, second, third = _values(row)
    return first, second, third


def _first(row: Any) -> str:
    return str(_values(row)[0])


class KeyRing:
    """Subject keys, unwrapped once per process and cached; erasure forgets them."""

    def __init__(self, master: MasterKey, table: KeyTable | None) -> None:
        self.master = master
        self.table: KeyTable = table or MemoryKeyTable()
        self._aeads: dict[str, AESGCM | None] = {}
        # Texts already opened, by subject, so that erasure can drop them with the key.
        self._texts: dict[str, dict[str, Any]] = {}
        self._text_count = 0
        self._index: bytes | None = None
        self._lock = threading.Lock()

    def _load(self, subject: str, *, create: bool) -> AESGCM | None:
        row = self.table.get(subject)
        if row is None and create:
            self.table.add(subject, self.master.wrap(new_key(), subject), self.master.key_id)
            row = self.table.get(subject)
        if row is None:
            return None  # never made: the subject's values were stored plain
        wrapped, _ = row
        aead = AESGCM(self.master.unwrap(wrapped, subject)) if wrapped is not None else None
        with self._lock:
            self._aeads[subject] = aead
        return aead

    def for_sealing(self, subject: str) -> AESGCM:
        aead = self._aeads.get(subject)
        if aead is None:
            aead = self._load(subject, create=True)
            if aead is None:
                raise SubjectErased(subject)
        return aead

    def for_opening(self, subject: str) -> AESGCM | None:
        """The subject's key, or None once it is erased."""
        if subject in self._aeads:
            return self._aeads[subject]
        return self._load(subject, create=False)

    def erase(self, subject: str) -> None:
        self.table.erase(subject)
        self.forget(subject)

    def forget(self, subject: str) -> None:
        """Drop the cached key and texts (erased, maybe by another process)."""
        with self._lock:
            self._aeads[subject] = None
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
        if not is_sealed(value):
            return None if value == ERASED else value
        aead = self.for_opening(subject)
        if aead is None:
            return None
        return open_sealed(aead, value, f"{subject}\x00{field}".encode()).decode()

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


def load_master_key(text: str | None, path: Path) -> tuple[MasterKey, str]:
    """The master key and where it came from: `LEDGER_MASTER_KEY`, else the file at `path`,
    created (mode 0600) on first start."""
    if text:
        return MasterKey.from_text(text), "LEDGER_MASTER_KEY"
    if not path.exists():
        write_key_file(path, MasterKey.generate_text())
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise PermissionError(f"{path} must be readable by its owner only (mode {mode:o})")
    return MasterKey.from_text(path.read_text()), str(path)


def write_key_file(path: Path, text: str, *, replace: bool = False) -> None:
    """Written whole or not at all, mode 0600 from the start; unless `replace`, a file
    that exists (another process starting at the same moment made it) is kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    spare = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    descriptor = os.open(spare, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text + "\n")
        file.flush()
        os.fsync(file.fileno())
    try:
        if replace:
            os.replace(spare, path)
        else:
            os.link(spare, path)  # atomic, and refused if the file exists
    except FileExistsError:
        pass
    finally:
        spare.unlink(missing_ok=True)


def master_key_for(env: Any) -> tuple[MasterKey, str]:
    """The master key of an application's environment (the library's `Environment`, which
    also reads `LEDGER_MASTER_KEY`): the key itself, else its file (`MASTER_KEY_FILE`,
    by default `master-key` beside a SQLite store, `var/master-key` beside PostgreSQL);
    an in-memory store gets a key of its own that dies with it."""
    text = env.get("MASTER_KEY")
    if text:
        return MasterKey.from_text(text), "LEDGER_MASTER_KEY"
    module = env.get("PERSISTENCE_MODULE", "")
    path = env.get("MASTER_KEY_FILE")
    if not path:
        if "sqlite" in module:
            path = str(Path(env.get("SQLITE_DBNAME")).parent / "master-key")
        elif "postgres" in module:
            path = "var/master-key"
        else:
            return MasterKey(new_key()), "memory"
    return load_master_key(None, Path(path))


def key_table_for(recorder: Any) -> KeyTable:
    datastore = getattr(recorder, "datastore", None)
    if datastore is None:
        return MemoryKeyTable()
    return SQLKeyTable(datastore, postgres=type(datastore).__name__.startswith("Postgres"))


def purge_snapshots(recorder: Any, originator_id: Any) -> None:
    """Delete an aggregate's snapshots (sealed under a key about to be, or just, destroyed);
    the aggregate then loads from its events."""
    datastore = getattr(recorder, "datastore", None)
    if datastore is None:  # the in-memory store
        recorder._stored_events_index.pop(str(originator_id), None)
        return
    postgres = type(datastore).__name__.startswith("Postgres")
    table = recorder.events_table_name
    if postgres and getattr(datastore, "schema", None):
        table = f"{datastore.schema}.{table}"
    with datastore.transaction(commit=True) as c:
        if not postgres:
            c.execute("PRAGMA secure_delete = ON")
        mark = "%s" if postgres else "?"
        c.execute(
            f"DELETE FROM {table} WHERE originator_id = {mark}",
            (_id_param(originator_id, postgres),),
        )


def _id_param(originator_id: Any, postgres: bool) -> Any:
    # SQLite stores ids as hex text; PostgreSQL as uuid.
    return originator_id if postgres else originator_id.hex
