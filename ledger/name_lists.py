"""A name list (名单) as a bank keeps it, CSV or XLSX, read into rows for the import.

The first row names the columns (`ledger.application.imports.COLUMNS`, in any order;
unknown columns are refused, so a typo never drops a column silently). Each later row,
with its line number in the file; blank rows are skipped. Cells are text as written
(a spreadsheet's dates and numbers are written back as ISO dates and plain numbers)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ledger.application.imports import COLUMNS, Row
from ledger.domain import InvalidInput

XLSX_MAGIC = b"PK\x03\x04"


def read_name_list(data: bytes) -> list[Row]:
    """Rows of a CSV (UTF-8, with or without BOM) or XLSX file, told apart by content."""
    if data.startswith(XLSX_MAGIC):
        table = _xlsx_rows(data)
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidInput("file", "a CSV name list must be UTF-8") from None
        table = list(csv.reader(io.StringIO(text, newline="")))
    if not table:
        raise InvalidInput("file", "the name list is empty")
    header = [_cell(value).strip().lower() for value in table[0]]
    unknown = [name for name in header if name and name not in COLUMNS]
    if unknown:
        raise InvalidInput("file", f"unknown column(s): {', '.join(unknown)}")
    if "client_id" not in header:
        raise InvalidInput("file", "the first row must name the columns, client_id among them")
    rows: list[Row] = []
    for line, values in enumerate(table[1:], start=2):
        cells = {
            name: _cell(value).strip() for name, value in zip(header, values, strict=False) if name
        }
        if any(cells.values()):
            rows.append((line, cells))
    return rows


def _xlsx_rows(data: bytes) -> list[list[Any]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds on a damaged file
        raise InvalidInput("file", "not a readable XLSX workbook") from None
    try:
        return [list(row) for row in workbook.worksheets[0].iter_rows(values_only=True)]
    finally:
        workbook.close()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        midnight = value.time() == datetime.min.time()
        return value.date().isoformat() if midnight else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return str(Decimal(repr(value))) if not value.is_integer() else str(int(value))
    return str(value)
