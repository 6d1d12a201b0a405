"""The ledger's files are private to the account that runs it: its directory 0700; the
database files (the store, each read model's, their -wal and -shm), the admin token and the
export bundles 0600. `ledger` sets its umask to 077, so whatever it creates is private; what
an older version created (0644) is made private when the ledger opens it."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TextIO

PRIVATE_UMASK = 0o077
PRIVATE_FILE = 0o600
PRIVATE_DIRECTORY = 0o700
# What SQLite keeps beside a database file (it gives them the database file's mode).
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def private_process() -> None:
    """From now on this process creates files 0600 and directories 0700."""
    os.umask(PRIVATE_UMASK)


def private_directory(path: Path) -> None:
    """`path` exists, and holds nothing another account may list or read."""
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIRECTORY)
    _chmod(path, PRIVATE_DIRECTORY)


def private_sqlite_files(database: str | Path) -> None:
    for suffix in SQLITE_COMPANIONS:
        _chmod(Path(f"{database}{suffix}"), PRIVATE_FILE)


def _chmod(path: Path, mode: int) -> None:
    # Not ours (or gone meanwhile): leave it as it is rather than fail to start.
    with contextlib.suppress(FileNotFoundError, PermissionError):
        if path.stat().st_mode & 0o777 != mode:
            path.chmod(mode)


def open_private(path: Path) -> TextIO:
    """`path` opened for writing text, 0600 even if it existed with another mode."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    os.fchmod(descriptor, PRIVATE_FILE)
    return os.fdopen(descriptor, "w", encoding="utf-8")
