"""Where the master key comes from: `LEDGER_MASTER_KEY`, else a file of mode 0600."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path
from typing import Any

from ledger.privacy.cipher import MasterKey, new_key

# Beside PostgreSQL the master key file is relative to the working folder by default.
POSTGRES_MASTER_KEY_FILE = "var/master-key"


def load_master_key(text: str | None, path: Path) -> tuple[MasterKey, str]:
    """The master key and where it came from: `LEDGER_MASTER_KEY`, else the file at `path`,
    created (mode 0600) on first start."""
    if text:
        return MasterKey.from_text(text, "LEDGER_MASTER_KEY"), "LEDGER_MASTER_KEY"
    if not path.exists():
        write_key_file(path, MasterKey.generate_text())
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise PermissionError(f"{path} must be readable by its owner only (mode {mode:o})")
    return MasterKey.from_text(path.read_text(), str(path)), str(path)


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
        return MasterKey.from_text(text, "LEDGER_MASTER_KEY"), "LEDGER_MASTER_KEY"
    module = env.get("PERSISTENCE_MODULE", "")
    path = env.get("MASTER_KEY_FILE")
    if not path:
        if "sqlite" in module:
            path = str(Path(env.get("SQLITE_DBNAME")).parent / "master-key")
        elif "postgres" in module:
            path = POSTGRES_MASTER_KEY_FILE
        else:
            return MasterKey(new_key()), "memory"
    return load_master_key(None, Path(path))
