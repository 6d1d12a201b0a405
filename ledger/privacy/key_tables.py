"""Where subject keys and blind indexes are kept, per store: in memory, or on the store's
own SQLite file or PostgreSQL database (`personal_keys`, `blind_index`; see
ledger/privacy/keys.py); and the purge of an erased aggregate's snapshots.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any


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

    # Many subjects at once: the bulk path's (ledger/application/batch_keys.py), and the
    # projections' reader's (a page's clients, KeyRing.load).
    def get_many(self, subjects: Sequence[str]) -> dict[str, tuple[bytes | None, str | None]]:
        """The rows of those of the subjects that have one (as `get`)."""
        return {subject: row for subject in subjects if (row := self.get(subject)) is not None}

    def add_many(
        self, keys: Sequence[tuple[str, bytes, str]], indexes: Sequence[tuple[bytes, str]]
    ) -> int | None:
        """Keys `(subject, wrapped, master_key_id)` (the first writer's key wins, as
        `add`) and blind indexes `(digest, subject)`, in one transaction where there is one;
        the number of keys inserted (a subject that had one is not), None if not known."""
        for subject, wrapped, key_id in keys:
            self.add(subject, wrapped, key_id)
        for digest, subject in indexes:
            self.add_index(subject, [digest])
        return None


class MemoryKeyTable(KeyTable):
    def __init__(self) -> None:
        self.keys: dict[str, tuple[bytes | None, str | None]] = {}
        self.index: dict[bytes, set[str]] = {}
        self.lock = threading.Lock()

    def create_tables(self) -> None:
        pass

    def get(self, subject: str) -> tuple[bytes | None, str | None] | None:
        return self.keys.get(subject)

    def get_many(self, subjects: Sequence[str]) -> dict[str, tuple[bytes | None, str | None]]:
        return {s: self.keys[s] for s in subjects if s in self.keys}

    def add(self, subject: str, wrapped: bytes, master_key_id: str) -> None:
        with self.lock:
            self.keys.setdefault(subject, (wrapped, master_key_id))

    def add_many(
        self, keys: Sequence[tuple[str, bytes, str]], indexes: Sequence[tuple[bytes, str]]
    ) -> int | None:
        with self.lock:
            had = len(self.keys)
            for subject, wrapped, key_id in keys:
                self.keys.setdefault(subject, (wrapped, key_id))
            inserted = len(self.keys) - had
            for digest, subject in indexes:
                self.index.setdefault(digest, set()).add(subject)
        return inserted

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

    def get_many(self, subjects: Sequence[str]) -> dict[str, tuple[bytes | None, str | None]]:
        found = {}
        with self.cursor(commit=False) as c:
            for start in range(0, len(subjects), 500):
                part = subjects[start : start + 500]
                c.execute(
                    "SELECT subject, wrapped, master_key_id FROM personal_keys "
                    f"WHERE subject IN ({','.join([self.mark] * len(part))})",
                    list(part),
                )
                for row in c.fetchall():
                    subject, wrapped, key_id = _triple(row)
                    found[subject] = (bytes(wrapped) if wrapped is not None else None, key_id)
        return found

    def add_many(
        self, keys: Sequence[tuple[str, bytes, str]], indexes: Sequence[tuple[bytes, str]]
    ) -> int | None:
        if self.postgres:
            return self._add_many_columns(keys, indexes)
        inserted = 0
        with self.cursor(commit=True) as c:
            m = self.mark
            if keys:
                c.executemany(
                    f"INSERT INTO personal_keys (subject, wrapped, master_key_id) "
                    f"VALUES ({m}, {m}, {m}) ON CONFLICT (subject) DO NOTHING",
                    # Blobs as bytearrays, bound without a look for adapters
                    # (`ledger.store.sqlite_chain.blob`): the same BLOBs, cheaper.
                    [(subject, bytearray(wrapped), key_id) for subject, wrapped, key_id in keys],
                )
                # The rows inserted, summed over the statement's executions.
                inserted = c.sqlite_cursor.rowcount
            if indexes:
                c.executemany(
                    f"INSERT INTO blind_index (digest, subject) VALUES ({m}, {m}) "
                    "ON CONFLICT DO NOTHING",
                    [(bytearray(digest), subject) for digest, subject in indexes],
                )
        return inserted

    def _add_many_columns(
        self, keys: Sequence[tuple[str, bytes, str]], indexes: Sequence[tuple[bytes, str]]
    ) -> int:
        """PostgreSQL: one statement per table, a binary array per column (a statement
        per row was 1.4 s of a 5,000-row import's 11)."""
        inserted = 0
        with self.cursor(commit=True) as c:
            if keys:
                c.execute(
                    "INSERT INTO personal_keys (subject, wrapped, master_key_id) "
                    "SELECT * FROM unnest(%b::text[], %b::bytea[], %b::text[]) "
                    "ON CONFLICT (subject) DO NOTHING",
                    [list(column) for column in zip(*keys, strict=True)],
                )
                inserted = c.rowcount
            if indexes:
                c.execute(
                    "INSERT INTO blind_index (digest, subject) "
                    "SELECT * FROM unnest(%b::bytea[], %b::text[]) ON CONFLICT DO NOTHING",
                    [list(column) for column in zip(*indexes, strict=True)],
                )
        return inserted


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
