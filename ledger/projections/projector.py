"""The projections in a process of their own, beside the server that writes (`ledger serve`
on a store other processes can open).

Why: a server on two cores spent about half of its CPU keeping five read models level with
its writes, in the same interpreter as the requests (one lock between them). In a child
process they run on the other core, in batches a little larger.

How the two talk, over two pipes:
- the server nudges the child after each save it makes (SQLite has no LISTEN/NOTIFY; the
  child also looks every quarter second for other writers); its end closing tells the
  child to stop, so a server killed outright leaves no projector behind;
- the child reports each view's position and failures after every batch, into the server's
  runner: reads with `after=` are woken as when the projections ran in the server, and
  `/v1/health` shows what fails.
A child that exits is started again (after a pause that grows while it keeps exiting) and,
while it is down, `/v1/health` says so.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from ledger.projections.recovery import failure_text
from ledger.store.sqlite import stop_waking, wake, wake_on_save

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from ledger.projections.runner import ProjectionRunner

log = logging.getLogger(__name__)

# The pause before starting a child that exited, doubled while it keeps exiting quickly.
RESTART_FIRST = 0.5
RESTART_LONGEST = 30.0
# A child that ran this long before exiting is restarted after the first pause again.
RAN_WELL = 60.0

# The bytes the server writes to the child: a save was made; a read waits for one (the
# child pulls the log at most once per `projection_pull_gap_seconds`, unless hurried).
NUDGE, HURRY = b"\0", b"!"

# What runs in the child: given the pipes (reports, nudges), it builds its ledger and
# follows the store until the nudges' pipe closes (bootstrap hands it in: picklable).
ChildMain = Callable[[Connection, Connection], None]


def _exit_text(code: int | None) -> str:
    if code is None:
        return "did not exit"
    if code < 0:
        return f"killed by signal {-code}"
    return f"exit code {code}"


class _Nudge:
    """What a local save sets (`ledger.store.sqlite.wake_on_save`): a byte to the child,
    never waiting (a child that does not read loses nudges, not the server its time)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        os.set_blocking(fd, False)

    def set(self) -> None:
        self._write(NUDGE)

    def hurry(self) -> None:
        self._write(HURRY)

    def _write(self, byte: bytes) -> None:
        with contextlib.suppress(OSError):  # full (the child is behind) or closed
            os.write(self.fd, byte)


class ProjectorProcess:
    """A projector child process for `runner`, supervised (see the module's note)."""

    def __init__(self, runner: ProjectionRunner, child_main: ChildMain) -> None:
        self.runner = runner
        self.child_main = child_main
        self.restarts = 0
        self.last_exit: str | None = None
        self._process: BaseProcess | None = None
        # Set and cleared by the supervisor alone, which alone waits for the child: asked
        # from a request thread, `is_alive()` could reap the dead child first, and the
        # supervisor's `join` then read no exit status ("did not exit", a CI run).
        self._running = False
        self._nudge: _Nudge | None = None
        self._nudges: Connection | None = None
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._db_name: str | None = getattr(runner.app.recorder, "db_name", None)

    # ---- what the server sees ---------------------------------------------------------

    @property
    def is_running(self) -> bool:
        return self._running

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if self._running and process is not None else None

    def hurry(self) -> None:
        """A read waits for a position: the child pulls now rather than after its gap."""
        nudge = self._nudge
        if nudge is not None:
            nudge.hurry()

    def problem(self) -> str | None:
        """Why the projections are not being kept, while the child is down."""
        if self.is_running or self._stopping.is_set():
            return None
        return (
            f"the projector process {self.last_exit or 'has not started'}; "
            f"restarting (restarts so far: {self.restarts})"
        )

    # ---- running ----------------------------------------------------------------------

    def start(self) -> None:
        self._stopping.clear()
        self.runner.remote = self
        reports = self._spawn()
        self._running = True
        self._supervisor = threading.Thread(
            target=self._supervise, args=(reports,), daemon=True, name="projector-supervisor"
        )
        self._supervisor.start()

    def _spawn(self) -> Connection:
        context = multiprocessing.get_context("spawn")
        reports_in, reports_out = context.Pipe(duplex=False)
        nudges_in, nudges_out = context.Pipe(duplex=False)
        process = context.Process(
            target=self.child_main, args=(reports_out, nudges_in), name="ledger-projector"
        )
        process.start()
        # The child holds its own ends now: closing ours lets each side see the other go.
        reports_out.close()
        nudges_in.close()
        self._process, self._nudges = process, nudges_out
        self._nudge = _Nudge(nudges_out.fileno())
        if self._db_name is not None:
            wake_on_save(self._db_name, self._nudge)
        return reports_in

    def _supervise(self, reports: Connection) -> None:
        pause = RESTART_FIRST
        while True:
            started = time.monotonic()
            self._receive(reports)
            reports.close()
            process = self._process
            assert process is not None
            process.join()
            self._let_go()
            if self._stopping.is_set():
                self._running = False
                return
            self.last_exit = _exit_text(process.exitcode)
            self._running = False  # after `last_exit`: health reads it once this is False
            log.error("projector process %s; restarting in %.1f s", self.last_exit, pause)
            self.runner.progress.notify()
            if self._stopping.wait(pause):
                return
            pause = (
                RESTART_FIRST
                if time.monotonic() - started > RAN_WELL
                else min(pause * 2, RESTART_LONGEST)
            )
            reports = self._spawn()
            self.restarts += 1
            self._running = True

    def _receive(self, reports: Connection) -> None:
        """Each report into the runner, until the child goes."""
        runner = self.runner
        positions = runner.progress.positions
        while True:
            try:
                report: dict[str, Any] = reports.recv()
            except (EOFError, OSError):
                return
            for name, position in report["positions"].items():
                if position > positions.get(name, 0):
                    positions[name] = position
            runner.failures.clear()
            runner.failures.update(report["failures"])
            runner.progress.notify()

    def _let_go(self) -> None:
        if self._nudge is not None and self._db_name is not None:
            stop_waking(self._db_name, self._nudge)
        if self._nudges is not None:
            with contextlib.suppress(OSError):
                self._nudges.close()
        self._nudge = self._nudges = None

    def stop(self, timeout: float = 20.0) -> None:
        """Ask the child to stop (its nudges' pipe closes), and wait for it."""
        self._stopping.set()
        process = self._process
        self._let_go()
        if process is not None:
            process.join(timeout)
            if process.is_alive():
                process.terminate()
                process.join(5)
        if self._supervisor is not None:
            self._supervisor.join(timeout=10)
        if self.runner.remote is self:
            self.runner.remote = None


# ---- in the child ---------------------------------------------------------------------


def follow_and_report(runner: ProjectionRunner, reports: Connection, nudges: Connection) -> None:
    """In the projector child: follow the store, woken by the server's nudges, reporting
    every batch applied, until the server's end of `nudges` closes."""
    # Ctrl-C in a terminal reaches the whole process group: the server decides when the
    # child stops, by closing the pipe.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sending = threading.Lock()

    def report() -> None:
        failures = dict(runner.failures)
        if runner.error is not None:  # following stopped (the store went away): recovering
            failures["projections"] = failure_text(runner.error)
        state = {"positions": dict(runner.progress.positions), "failures": failures}
        with sending:
            try:
                reports.send(state)
            except OSError:  # the server is gone
                runner.stop()

    def listen() -> None:
        db_name = getattr(runner.app.recorder, "db_name", None)
        while True:
            try:
                nudged = os.read(nudges.fileno(), 4096)
            except OSError:
                nudged = b""
            if not nudged:
                runner.stop()
                return
            if HURRY in nudged:
                runner.hurry()
            elif db_name is not None:
                wake(db_name)

    runner.progress.listeners.append(report)
    runner.start()
    report()
    threading.Thread(target=listen, daemon=True, name="projector-nudges").start()
    while not runner.halted.is_set() and (runner.is_running or runner.is_recovering):
        runner.halted.wait(0.5)
    runner.stop()
