"""The event store: the library's own SQLite and PostgreSQL persistence, selected by URL.

`LEDGER_DATABASE_URL` is translated into the library's environment variables, so the
library stays configured the way its documentation describes.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError

SQLITE_FACTORY = "ledger.store.sqlite:LedgerSQLiteFactory"
POSTGRES_FACTORY = "ledger.store.postgres:LedgerPostgresFactory"
MEMORY_FACTORY = "ledger.store.memory:LedgerPOPOFactory"


# A store that cannot be reached right now (database down or restarting, no free pooled
# connection, SQLite locked too long): the library wraps its drivers' errors in its own two
# classes; psycopg's are listed for a failure raised outside the library's connection context.
STORE_UNAVAILABLE: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
)


class DatabaseURLError(ValueError):
    """LEDGER_DATABASE_URL names no store the ledger can use."""


def store_kind(database_url: str) -> str:
    """`sqlite`, `postgres` or `memory`, as `/v1/health` reports it."""
    scheme = urlsplit(database_url).scheme
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgresql", "postgres"):
        return "postgres"
    if scheme == "memory":
        return "memory"
    raise DatabaseURLError(
        f"LEDGER_DATABASE_URL must start with sqlite:///, postgresql:// or memory://; "
        f"got {redact_url(database_url)!r}"
    )


def redact_url(database_url: str) -> str:
    """The URL as it may be printed or logged: without user and password, and with the
    value of every query parameter masked (libpq takes `?password=` too). Written for
    mistyped URLs as well: whatever precedes the last `@` is taken for credentials."""
    scheme, separator, rest = database_url.partition("://")
    if not separator:
        scheme, rest = "", database_url
    elif scheme in ("sqlite", "memory"):
        return database_url  # a file path: no credentials, and an `@` in it is not one
    rest, question, query = rest.partition("#")[0].partition("?")
    # A password may hold `/` or `@`: the host starts after the last `@`.
    host_and_path = rest.rpartition("@")[2]
    masked = "&".join(
        name + ("=***" if equals else "")
        for name, equals, _ in (part.partition("=") for part in query.split("&") if part)
    )
    return f"{scheme}{separator}{host_and_path}{question}{masked}"


def library_environment(database_url: str) -> dict[str, str]:
    """The eventsourcing environment variables (unprefixed) for a database URL."""
    kind = store_kind(database_url)
    if kind == "memory":
        return {"PERSISTENCE_MODULE": MEMORY_FACTORY}
    parts = urlsplit(database_url)
    if kind == "sqlite":
        # sqlite:///relative/path or sqlite:////absolute/path, as SQLAlchemy spells it.
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if not path:
            raise DatabaseURLError("LEDGER_DATABASE_URL sqlite:/// needs a file path")
        return {
            "PERSISTENCE_MODULE": SQLITE_FACTORY,
            "SQLITE_DBNAME": path,
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname or not parts.hostname:
        raise DatabaseURLError("LEDGER_DATABASE_URL postgresql:// needs a host and a database name")
    return {
        "PERSISTENCE_MODULE": POSTGRES_FACTORY,
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": parts.hostname,
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or ""),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_POOL_SIZE": "10",
        "POSTGRES_MAX_OVERFLOW": "10",
        # Also the longest a request waits for a pooled connection before a 503.
        "POSTGRES_CONNECT_TIMEOUT": "2",
        "POSTGRES_PRE_PING": "y",
    }
