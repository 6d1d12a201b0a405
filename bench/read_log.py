"""What the read log costs a read: `GET /v1/clients/{id}` timed with the read log recording
and with it switched off, interleaved, over the real app (in process, SQLite).

    python -m bench.read_log [--reads 3000] [--clients 200]

Prints the median and mean of each and the overhead; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from fastapi.testclient import TestClient
from pydantic import SecretStr

from bench.common import sqlite_url
from ledger.api.app import create_app
from ledger.bootstrap import build
from ledger.config import Settings

TOKEN = "bench-admin"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=200)
    args = parser.parse_args()
    with sqlite_url() as url:
        container = build(Settings(database_url=url, admin_token=SecretStr(TOKEN)))
        try:
            ledger = container.ledger
            ledger.create_unit(
                unit_id="B", name="B", kind="branch", parent_id=None, recorded_by="b"
            )
            ledger.create_unit(unit_id="O", name="O", kind="outlet", parent_id="B", recorded_by="b")
            for n in range(args.clients):
                ledger.register_client(
                    client_id=f"C{n}", name="王芳", unit_id="O", tier="gold", recorded_by="b"
                )
            read_log = container.read_log
            recording = read_log.record
            with TestClient(create_app(container)) as api:
                rng = random.Random(5)
                timings: dict[bool, list[float]] = {True: [], False: []}
                for n in range(args.reads * 2):
                    on = n % 2 == 0
                    read_log.record = recording if on else (lambda **_: None)  # type: ignore[method-assign]
                    path = f"/v1/clients/C{rng.randrange(args.clients)}"
                    started = time.perf_counter()
                    answer = api.get(path, headers=HEADERS)
                    timings[on].append(time.perf_counter() - started)
                    assert answer.status_code == 200, answer.text
                read_log.record = recording  # type: ignore[method-assign]
            written = len(read_log.reads(limit=1000)["items"])
        finally:
            container.close()
    for on, label in ((False, "read log off"), (True, "read log on ")):
        values = timings[on]
        print(
            f"{label}: median {statistics.median(values) * 1000:.3f} ms, "
            f"mean {statistics.fmean(values) * 1000:.3f} ms over {len(values)} reads"
        )
    off, on_ = (statistics.median(timings[k]) for k in (False, True))
    mean_off, mean_on = (statistics.fmean(timings[k]) for k in (False, True))
    median_cost = 100 * (on_ - off) / off
    mean_cost = 100 * (mean_on - mean_off) / mean_off
    print(f"overhead: median {median_cost:+.1f}%, mean {mean_cost:+.1f}%")
    print(f"reads written to the log (first page): {written}")


if __name__ == "__main__":
    main()
