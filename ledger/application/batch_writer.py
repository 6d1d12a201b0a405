"""The writer process of a pipelined batch (`ledger.application.batch_process`): a `Batch`
over its own connection to the store, fed the batch's domain events, asked to write them.

    python -m ledger.application.batch_writer <requests fd> <answers fd> <chunk>

Requests: ("start", env), then for `PipelinedBatch` ("map", events), ("write",),
("skip_registered",), and for `PipelinedInserts` ("insert", stored events, their types),
("resume",); ("close",). Answers: ("progress", written), ("written", written, counts by
type, left out), ("skipped", left out), ("inserted", count), ("refused",), ("failed",
error).
"""

from __future__ import annotations

import pickle
import sys
from multiprocessing.connection import Connection
from typing import Any

from ledger.application.batch import Batch, collector_paused
from ledger.application.persistence import LedgerPersistence
from ledger.application.results import WriteCounters


class Writer(LedgerPersistence):
    """The ledger's store, mapper and key ring, without its use cases."""

    name = "Ledger"  # the same environment as the ledger's

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(env)
        self.counters = WriteCounters()


def _serve(requests: Connection, answers: Connection, chunk: int) -> None:
    """The writer process: a batch over its own connection to the store."""
    _, env = requests.recv()
    writer = Writer(env)
    batch = Batch(writer, chunk)  # type: ignore[arg-type]
    refusing = False  # an insert failed: refuse the ones after it until told to resume
    try:
        with collector_paused():
            while True:
                message = requests.recv()
                kind = message[0]
                try:
                    if kind == "close":
                        return
                    if kind == "resume":
                        refusing = False
                    elif kind == "insert" and refusing:
                        answers.send(("refused",))
                    elif kind == "insert":
                        batch.insert(message[1])
                        answers.send(("inserted", len(message[1])))
                    else:
                        _handle(batch, answers, message)
                except Exception as error:  # the batch's process raises it
                    refusing = kind == "insert"
                    answers.send(("failed", _picklable(error)))
    except EOFError:
        return  # the batch's process is gone
    finally:
        writer.close()


def _handle(batch: Batch, connection: Connection, message: tuple[Any, ...]) -> None:
    kind = message[0]
    if kind == "map":
        batch.map(message[1])
    elif kind == "write":
        before = dict(batch.ledger.counters.events)

        def progress(written: int) -> None:
            connection.send(("progress", written))

        written = batch.write(progress)
        counts = {
            name: n - before.get(name, 0)
            for name, n in batch.ledger.counters.events.items()
            if n != before.get(name, 0)
        }
        connection.send(("written", written, counts, set(batch.left_out)))
    elif kind == "skip_registered":
        batch.skip_registered()
        connection.send(("skipped", set(batch.left_out)))
    else:
        raise ValueError(f"unknown message {kind!r}")


def _picklable(error: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error


if __name__ == "__main__":
    _serve(
        Connection(int(sys.argv[1]), writable=False),
        Connection(int(sys.argv[2]), readable=False),
        int(sys.argv[3]),
    )
