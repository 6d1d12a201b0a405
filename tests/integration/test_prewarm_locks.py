"""The store's files asked ahead by `ledger serve` leave its SQLite locks alone: asked in the
serving process, closing the descriptor would drop every POSIX lock the process holds on the
file, its SQLite connections' included."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from ledger.store.prewarm import prewarm, prewarm_in_child

PROBE = (
    "import sqlite3, sys\n"
    "c = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)\n"
    "c.execute('BEGIN IMMEDIATE')\n"
)


def _another_process_can_write(path: Path) -> bool:
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)], capture_output=True, text=True, check=False
    )
    assert probe.returncode == 0 or "locked" in probe.stderr, probe.stderr
    return probe.returncode == 0


def test_asking_the_files_ahead_keeps_the_serving_process_s_locks(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")  # this process holds the file's write lock
    try:
        assert not _another_process_can_write(path)
        assert prewarm_in_child([path]) == 1
        assert not _another_process_can_write(path)
        # What it avoids: the same asked in this process loses the lock.
        assert prewarm([path], budget=1 << 20) == [path]
        assert _another_process_can_write(path)
    finally:
        holder.close()
