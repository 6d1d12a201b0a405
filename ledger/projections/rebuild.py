"""Rebuilding, or catching up, several read models at once, in a process per core.

Each view has its own tables (its own file on SQLite), and a rebuild is bound by Python,
so separate processes use separate cores where threads would share one. The processes
build their ledger and views through `ledger.bootstrap` (which hands in `rebuild_group`).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from threading import Event

# Each view's own work in a rebuild, how `rebuild_in_processes` shares the views out among
# processes: tenths of a CPU second to rebuild it alone from the first 200,000 events of the
# 100,000-client demo on SQLite, less reading and deserialising the events it reads (which
# every process does once for all its views), measured in session 9 (branch `catch9`).
REBUILD_WEIGHTS = {
    "maintenance": 54,
    "reports": 41,
    "audit": 26,
    "roster": 14,
    "accountability": 12,
}


def rebuild_groups(names: Iterable[str], processes: int) -> list[list[str]]:
    """The views shared out among `processes`, longest first, each to the process with the
    least work so far: about the same work each, and views that share a process share one
    reading of the log."""
    groups: list[list[str]] = [[] for _ in range(max(1, processes))]
    load = [0] * len(groups)
    # A view not yet weighed counts as the heaviest.
    weight = {name: REBUILD_WEIGHTS.get(name, max(REBUILD_WEIGHTS.values())) for name in names}
    for name in sorted(weight, key=lambda n: -weight[n]):
        least = load.index(min(load))
        groups[least].append(name)
        load[least] += weight[name]
    return [group for group in groups if group]


def usable_cores() -> int:
    """The cores this process may run on (its affinity, as a container limits it), not
    every core of the host."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def rebuild_in_processes(
    names: Iterable[str], rebuild_group: Callable[[list[str]], int]
) -> dict[str, int]:
    """Rebuild the named projections in as many processes as there are cores, at most one
    per view; `rebuild_group(names)` (picklable: it runs in a spawned process) rebuilds a
    group of them in one pass and returns the position reached.

    With fewer cores than views some views share a process (`rebuild_groups`), and with it
    one reading of the log: on two cores the reports are rebuilt beside the roster and the
    accountability view, which together take about as long, rather than three processes
    taking turns on two cores."""
    groups = rebuild_groups(dict.fromkeys(names), usable_cores())  # each view once
    if len(groups) == 1:
        # One core: one pass here, with no process to start.
        end = rebuild_group(groups[0])
        return dict.fromkeys(groups[0], end)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(groups), mp_context=context) as pool:
        futures = [(group, pool.submit(rebuild_group, group)) for group in groups]
        return {name: future.result() for group, future in futures for name in group}


def catch_up_in_processes(
    names: Iterable[str], stopping: Event, *, catch_up_group: Callable[[list[str]], object]
) -> None:
    """Catch the named projections up in a process per core, shared out as a rebuild shares
    them (`rebuild_groups`), until they are done or `stopping` is set (the processes are
    ended: a view's transaction in hand rolls back). `catch_up_group(names)` (picklable)
    catches a group up in one pass. A process that fails leaves its views where they got
    to, for the caller's own catch-up; with one core, nothing is done here."""
    groups = rebuild_groups(dict.fromkeys(names), usable_cores())
    if len(groups) == 1:
        return
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=catch_up_group, args=(group,), daemon=True) for group in groups
    ]
    for process in processes:
        process.start()
    try:
        while any(process.is_alive() for process in processes) and not stopping.wait(0.2):
            pass
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join()
