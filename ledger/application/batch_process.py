"""The bulk path on two cores: a batch whose events are written by a process of its own
while the batch's process runs the next commands (`PipelinedBatch`, the demo: the writer
seals, encodes and inserts) or seals the next chunk (`PipelinedInserts`, an import).

A bulk load spends about half its CPU turning events into stored events (personal fields
sealed, JSON) and inserting them with the hash chain and the Merkle tree, and the other
half checking rows and running commands (bench/RESULTS.md §7). `PipelinedBatch` is a
`Batch` whose `gather` hands the gathered domain events to a writer process and whose
`write` asks that process to write them: the writer is a `Batch` itself (the same keys
written before the events sealed under them, the same chunks, the same chain), over its
own connection to the same store. `PipelinedInserts` seals in this process and hands the
writer only the inserts. Nothing is written before `write`, so an import still checks
every row first and writes nothing when one is bad; a writer that fails makes `write`
raise what it raised (an `IntegrityError` too, for `skip_registered`). As in one
process, each chunk is a transaction of its own: a failure part way through leaves the
chunks before it written.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any
from uuid import UUID

from ledger.application.batch import Batch

if TYPE_CHECKING:
    from ledger.application.writes import LedgerBase

WRITER = "ledger.application.batch_writer"  # the writer process's module
# Seconds a closing writer is given to finish before it is stopped.
STOP_WAIT = 30.0


# What the writer process does: seals, encodes and inserts (`PipelinedBatch`), or only
# inserts what the batch's process sealed (`PipelinedInserts`).
WRITER_SEALS = "seals"
WRITER_INSERTS = "inserts"


def pipelined_batch(ledger: LedgerBase, chunk: int, writer: str | None) -> Batch:
    """The batch for a bulk load: with a writer process if asked and the store allows."""
    if writer is None or not can_pipeline(ledger.env):
        return Batch(ledger, chunk)
    return {WRITER_SEALS: PipelinedBatch, WRITER_INSERTS: PipelinedInserts}[writer](ledger, chunk)


class WriterStopped(RuntimeError):
    """The writer process ended without answering (killed, or out of memory)."""


def can_pipeline(env: Any) -> bool:
    """A store another process can open: a SQLite file or PostgreSQL."""
    module = env.get("PERSISTENCE_MODULE", "") or ""
    if "postgres" in module:
        return True
    name = env.get("SQLITE_DBNAME", "") or ""
    return (
        "sqlite" in module and bool(name) and ":memory:" not in name and "mode=memory" not in name
    )


class PipelinedBatch(Batch):
    """A `Batch` written by a writer process (see the module)."""

    def __init__(self, ledger: LedgerBase, chunk: int) -> None:
        super().__init__(ledger, chunk)
        self._writer: _WriterProcess | None = None  # started by the first events
        self._waiting = False  # a write asked for and not yet answered
        self._progress: Callable[[int], None] | None = None

    def map(self, events: Any) -> None:
        if events:
            if self._writer is None:
                self._writer = _WriterProcess(self.ledger.env, self.chunk)
            self._send(("map", events))
            self.events_gathered += len(events)

    def write(self, progress: Callable[[int], None] | None = None, *, wait: bool = True) -> int:
        self.gather()
        if self._writer is None:
            return self.written  # nothing gathered, ever
        self._answer()  # the write before, if it was not waited for
        self._progress = progress
        self._send(("write",))
        self._waiting = True
        if wait:
            self._answer()
        return self.written

    def skip_registered(self) -> None:
        if self._writer is None:
            return
        self._answer()
        self._send(("skip_registered",))
        self.left_out = self._receive()[1]

    def close(self) -> None:
        self._answer()

    def stop(self) -> None:
        if self._writer is not None:
            self._writer.stop()

    def _answer(self) -> None:
        while self._waiting:
            message = self._receive()
            if message[0] == "progress":
                self.written = message[1]
                if self._progress is not None:
                    self._progress(self.written)
                continue
            self._waiting = False
            _, self.written, counts, self.left_out = message
            self.ledger.counters.count(name for name, n in counts.items() for _ in range(n))

    def _send(self, message: tuple[Any, ...]) -> None:
        try:
            self._writer.send(message)  # type: ignore[union-attr]
        except (BrokenPipeError, OSError):
            raise WriterStopped("the batch's writer process has stopped") from None

    def _receive(self) -> Any:
        try:
            message = self._writer.receive()  # type: ignore[union-attr]
        except (EOFError, OSError):
            raise WriterStopped("the batch's writer process has stopped") from None
        if message[0] == "failed":
            self._waiting = False
            raise message[1]
        return message


class PipelinedInserts(Batch):
    """A `Batch` that seals its events itself, once `write` is asked, a chunk at a time,
    while a writer process inserts the chunk before: for an import, whose rows are all
    checked before anything is written, so a writer that sealed them during the checks
    left its inserts nothing to overlap. Each chunk's keys are written (in this process,
    as `Batch.write` writes them) before the chunk is sent; a chunk the writer fails to
    insert is raised here, and the chunks after it are sent again by the next `write`."""

    def __init__(self, ledger: LedgerBase, chunk: int) -> None:
        super().__init__(ledger, chunk)
        self._unmapped: list[Any] = []
        self._writer: _WriterProcess | None = None
        self._sent = 0  # stored[_start:_sent] are with the writer
        self._in_flight: deque[int] = deque()  # their chunks' sizes

    def map(self, events: Any) -> None:
        self._unmapped += events
        self.events_gathered += len(events)

    def write(self, progress: Callable[[int], None] | None = None, *, wait: bool = True) -> int:
        self.gather()
        while self._unmapped or self._sent < len(self.stored) or self._in_flight:
            # One chunk inserting, the next one sealed meanwhile.
            if len(self._in_flight) < 2 and (self._unmapped or self._sent < len(self.stored)):
                if self._sent == len(self.stored):
                    self._seal_next()
                self._send_next()
            else:
                self._take_answer(progress)
        self._all_written()
        self._sent = 0
        return self.written

    def skip_registered(self) -> None:
        super().skip_registered()
        self._sent = self._start

    def stop(self) -> None:
        if self._writer is not None:
            self._writer.stop()

    def _seal_next(self) -> None:
        events, self._unmapped = self._unmapped[: self.chunk], self._unmapped[self.chunk :]
        super().map(events)
        self.events_gathered -= len(events)  # counted when gathered
        # The keys before the events sealed under them; a client whose key another writer
        # made meanwhile is that writer's (its events in a later chunk too).
        losers = {UUID(subject) for subject in self.keys.write()} | self.left_out
        if losers:
            self.left_out |= losers
            kept = [
                (stored, name)
                for stored, name in zip(
                    self.stored[self._sent :], self.types[self._sent :], strict=True
                )
                if stored.originator_id not in losers
            ]
            self.stored[self._sent :] = [stored for stored, _ in kept]
            self.types[self._sent :] = [name for _, name in kept]

    def _send_next(self) -> None:
        end = min(self._sent + self.chunk, len(self.stored))
        if end == self._sent:
            return
        if self._writer is None:
            self._writer = _WriterProcess(self.ledger.env, self.chunk)
        try:
            self._writer.send(
                ("insert", self.stored[self._sent : end], self.types[self._sent : end])
            )
        except (BrokenPipeError, OSError):
            raise WriterStopped("the batch's writer process has stopped") from None
        self._in_flight.append(end - self._sent)
        self._sent = end

    def _take_answer(self, progress: Callable[[int], None] | None) -> None:
        answer = self._receive()
        size = self._in_flight.popleft()
        if answer[0] == "failed":
            # The writer refuses the chunks after a failed one, until told to resume.
            while self._in_flight:
                self._receive()
                self._in_flight.popleft()
            self._sent = self._start
            self._writer.send(("resume",))  # type: ignore[union-attr]
            raise answer[1]
        self.ledger.counters.count(iter(self.types[self._start : self._start + size]))
        self._start += size
        self.written += size
        if progress is not None:
            progress(self.written)

    def _receive(self) -> Any:
        try:
            return self._writer.receive()  # type: ignore[union-attr]
        except (EOFError, OSError):
            raise WriterStopped("the batch's writer process has stopped") from None


class _WriterProcess:
    """The writer: a process of its own, not multiprocessing's (that would run the
    caller's main module again in it, a script without a `__main__` guard too)."""

    def __init__(self, env: Any, chunk: int) -> None:
        to_writer, from_batch = os.pipe()
        to_batch, from_writer = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-m", WRITER, str(to_writer), str(from_writer), str(chunk)],
            pass_fds=(to_writer, from_writer),
            stdin=subprocess.DEVNULL,
        )
        os.close(to_writer)
        os.close(from_writer)
        self.requests = Connection(from_batch, readable=False)
        self.answers = Connection(to_batch, writable=False)
        self.send(("start", dict(env)))

    def send(self, message: tuple[Any, ...]) -> None:
        self.requests.send(message)

    def receive(self) -> Any:
        return self.answers.recv()

    def stop(self) -> None:
        if self.requests.closed:
            return
        with contextlib.suppress(BrokenPipeError, OSError):
            self.requests.send(("close",))
        try:
            self.process.wait(STOP_WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.requests.close()
        self.answers.close()
