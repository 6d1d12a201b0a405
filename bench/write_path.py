"""The HTTP write path in process: contacts posted through the real app (TestClient) with a
manager key, on a random client of 200, after 200 warm-up writes. Prints CPU and wall time
per write. For a figure that holds on a loaded machine, count instructions instead:

    valgrind --tool=callgrind python -m bench.write_path 300 [--no-projections]
    valgrind --tool=callgrind python -m bench.write_path 0 [--no-projections]

and divide the difference of the two totals by 300 (how issue 11 compared two checkouts).
By default the projections follow in this process (one write at a time: a batch of one
event each); with `--no-projections` only the request's own path is counted, as in the
server when its projections run in a child process.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from pydantic import SecretStr

from ledger.api.app import create_app
from ledger.bootstrap import build
from ledger.config import Settings

CLIENTS = 200
WARM_UP = 200


def main(writes: int, follow: bool = True) -> None:
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as folder:
        container = build(
            Settings(database_url=f"sqlite:///{folder}/ledger.db", admin_token=SecretStr("t"))
        )
        ledger = container.ledger
        parent = None
        for kind in ("branch", "department", "sub_branch", "outlet"):
            ledger.create_unit(
                unit_id=kind, name=kind, kind=kind, parent_id=parent, recorded_by="bench"
            )
            parent = kind
        since = datetime.now(UTC) - timedelta(days=30)
        ledger.join_staff(
            staff_id="m",
            name="M",
            unit_id="outlet",
            role="client_manager",
            effective_at=since,
            recorded_by="bench",
        )
        _, token = ledger.issue_api_key(
            role="manager", staff_id="m", label="bench", recorded_by="bench"
        )
        clients = [f"c{n}" for n in range(CLIENTS)]
        for client_id in clients:
            ledger.register_client(
                client_id=client_id,
                name="n",
                unit_id="outlet",
                occurred_at=since,
                recorded_by="bench",
            )
        pick = random.Random(1).choice
        with TestClient(create_app(container, follow=follow)) as api:
            headers = {"Authorization": f"Bearer {token}"}

            def post() -> None:
                answer = api.post(
                    f"/v1/clients/{pick(clients)}/contacts",
                    headers=headers,
                    json={
                        "channel": "phone",
                        "staff_id": "m",
                        "occurred_at": (datetime.now(UTC) - timedelta(seconds=1)).isoformat(),
                        "purpose": "review",
                    },
                )
                assert answer.status_code == 201, answer.text

            for _ in range(WARM_UP):
                post()
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(writes):
                post()
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        container.close()
    if writes:
        print(
            f"{writes} writes: CPU {cpu * 1000 / writes:.3f} ms/write, "
            f"wall {wall * 1000 / writes:.3f} ms/write"
        )


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(int(arguments[0]) if arguments else 2000, follow="--no-projections" not in sys.argv)
