"""Name lists (CSV) for the bulk import's tests."""

from __future__ import annotations

from ledger.application.imports import COLUMNS
from support.scenario import REGISTERED_AT, Bank, new_id

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
