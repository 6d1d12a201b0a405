"""After `ledger serve` starts on SQLite, the store's files are asked of the kernel ahead of
the first reads.

A read model's file is read by page, at random: after a restart, or after anything else
filled the machine's page cache, the first reads of a large view come from the disk. At the
100,000-client demo a run right after a rebuild's 14 GiB of writes missed 8 of its 28 reads'
p99 of 20 ms (660 ms for overdue contacts) where the next, warm, met all (bench/RESULTS.md
section 17). `posix_fadvise(WILLNEED)` has the kernel read a file in the background; the
process's own memory does not grow (the pages are the kernel's cache, shared, and given back
under pressure). Files are asked in the order given (the views first: most reads are
theirs) while their sizes fit in a share of the memory the machine has available, so a
store larger than the machine's memory does not push everything else out for nothing.
PostgreSQL keeps its own cache (its `pg_prewarm` is the server's to run).

The files are asked in a child process, never in the serving one: SQLite's locks are POSIX
record locks, which belong to the process, and closing any descriptor of a file drops every
lock the process holds on it, SQLite's own connections' included (with them asked in the
serving process, writes after a restart failed on the lost locks: the crash test,
tests/e2e/test_fault_crash.py).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger("ledger.prewarm")

# The share of the machine's available memory the files asked ahead may fill.
MEMORY_SHARE = 0.5


def available_memory() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (None where there is none)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def prewarm(paths: Iterable[str | Path], budget: int | None = None) -> list[Path]:
    """Ask the kernel to read each existing file ahead, in order, while their sizes fit in
    `budget` bytes (by default a share of the available memory); answers the files asked.
    Never in a process with SQLite connections to them (see above)."""
    if not hasattr(os, "posix_fadvise"):
        return []
    if budget is None:
        available = available_memory()
        if available is None:
            return []
        budget = int(available * MEMORY_SHARE)
    asked = []
    for path in map(Path, paths):
        try:
            size = path.stat().st_size
        except OSError:
            continue
        if size > budget:
            break
        budget -= size
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        finally:
            os.close(fd)
        asked.append(path)
    return asked


def prewarm_in_child(paths: Iterable[str | Path]) -> int | None:
    """`prewarm(paths)` in a child process (see above): the number of files asked, or None
    if the child could not run."""
    # This file run alone (-I: nothing but the standard library on its path), so the child
    # starts in ~20 ms rather than importing the ledger's packages first.
    command = [sys.executable, "-I", __file__, *map(str, paths)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError:
        return None
    if done.returncode != 0 or not done.stdout.strip().isdigit():
        return None
    return int(done.stdout)


def prewarm_in_background(paths: Iterable[str | Path]) -> threading.Thread:
    """`prewarm_in_child(paths)` waited for by a daemon thread: a start does not wait for
    the disk."""
    files = list(paths)

    def run() -> None:
        asked = prewarm_in_child(files)
        if asked is None:
            log.warning("could not ask the kernel to read the store's files ahead")
        else:
            log.info("asked the kernel to read %d store file(s) ahead", asked)

    thread = threading.Thread(target=run, name="ledger-prewarm", daemon=True)
    thread.start()
    return thread


if __name__ == "__main__":
    print(len(prewarm(sys.argv[1:])))
