"""Name lists (CSV) for the bulk import's tests."""

from __future__ import annotations

import threading
from functools import partial

from ledger.application import Ledger
from ledger.application.imports import COLUMNS
from ledger.name_lists import read_name_list
from support.scenario import ADMIN, REGISTERED_AT, Bank, new_id

HEADER = ",".join(COLUMNS)


def name_list(bank: Bank, *rows: dict[str, str]) -> bytes:
    lines = [HEADER]
    for row in rows:
        cells = {
            "outlet": bank.outlet,
            "tier": "gold",
            "designated_manager": bank.manager,
            "registered_on": REGISTERED_AT.date().isoformat(),
            **row,
        }
        lines.append(",".join(cells.get(column, "") for column in COLUMNS))
    return ("\n".join(lines) + "\n").encode()


def a_row(**cells: str) -> dict[str, str]:
    return {"client_id": new_id("C"), "name": "Wang Fang", **cells}


def import_with_one_client_registered_meanwhile(
    ledger: Ledger, bank: Bank, *, writer: str | None
) -> None:
    """Two rows checked and gathered; another writer (another thread, outside the batch)
    registers the first client before the batch is written: the other is written, that
    one is reported skipped and keeps the other writer's registration."""
    taken, free = a_row(), a_row()
    rows = read_name_list(name_list(bank, taken, free))
    with ledger.batched(writer=writer) as batch:
        ledger._import_row(rows[0][1], ADMIN, ledger.clock())
        ledger._import_row(rows[1][1], ADMIN, ledger.clock())
        batch.gather()
        registered_meanwhile(ledger, bank, taken["client_id"])
        report = type("R", (), {"imported": 2, "skipped": 0, "events": 0})()
        ledger._write(batch, report, None)  # type: ignore[arg-type]
    assert (report.imported, report.skipped) == (1, 1)
    assert ledger.get_client(taken["client_id"]).name == "Li Wei"
    assert ledger.get_client(free["client_id"]).name == "Wang Fang"


def registered_meanwhile(ledger: Ledger, bank: Bank, client_id: str) -> None:
    """The client registered as "Li Wei" by another writer: another thread, outside the
    batch this one is in."""
    meanwhile = threading.Thread(
        target=partial(
            ledger.register_client,
            client_id=client_id,
            name="Li Wei",
            unit_id=bank.outlet,
            recorded_by=ADMIN,
        )
    )
    meanwhile.start()
    meanwhile.join()
