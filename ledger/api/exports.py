"""Rows as spreadsheets (API.md 1.1, Exports): CSV in UTF-8 with a byte-order mark, so a
spreadsheet program reads Chinese names, and a real XLSX workbook; the header row holds the
JSON field names. Both stream: a list of any length is never held as one string."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, NamedTuple

from fastapi import Query
from fastapi.responses import StreamingResponse
from openpyxl import Workbook
from pydantic import BaseModel

FORMATS = ("csv", "xlsx")
CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BOM = "\ufeff".encode()
# Rows per CSV chunk sent: few enough to stream, many enough that a chunk is worth a write.
CHUNK_ROWS = 500
# Excel's own limit on a cell's text.
XLSX_MAX_CELL = 32_767


ExportFormat = Annotated[
    Literal["csv", "xlsx"] | None,
    Query(
        alias="format",
        description="csv (UTF-8 with a byte-order mark) or xlsx: every matching row, not a "
        "page, with the JSON field names as the header row",
    ),
]
"""A list endpoint's `format=csv|xlsx` (API.md 1.1, Exports)."""


def every_page(
    read_page: Callable[[str | None], Mapping[str, Any]], key: str = "items"
) -> Iterator[Mapping[str, Any]]:
    """Every row of a paged answer (`{items, next_cursor}`), a page at a time. The first
    page is read at once, so that a refusal (an unknown unit) is an answer of its own and
    not a failure in the middle of a download that has started."""
    first = read_page(None)

    def rows() -> Iterator[Mapping[str, Any]]:
        page = first
        while True:
            yield from page[key]
            cursor = page.get("next_cursor")
            if cursor is None:
                return
            page = read_page(cursor)

    return rows()


def read_each_client(
    rows: Iterable[Mapping[str, Any]], record: Callable[[str], None]
) -> Iterator[Mapping[str, Any]]:
    """The rows of an export holding clients' personal data, recording for the read log
    each client they hold, once, as its rows are sent."""
    recorded: set[str] = set()
    for row in rows:
        client_id = row.get("client_id")
        if client_id is not None and client_id not in recorded:
            recorded.add(client_id)
            record(client_id)
        yield row


def cell(value: Any) -> Any:
    """A JSON value as a spreadsheet cell: nested values as compact JSON, times in RFC 3339."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def _text(value: Any) -> str:
    value = cell(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return _inert(str(value)) if isinstance(value, str) else str(value)


def _inert(text: str) -> str:
    """A text that a spreadsheet would run as a formula (=, +, -, @ first) starts with a
    quote instead; a number such as -5 is left as it is."""
    if text.startswith(("=", "+", "-", "@")) and not _is_number(text):
        return "'" + text
    return text


def csv_chunks(rows: Iterable[Mapping[str, Any]], fields: Sequence[str]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(fields)
    yield BOM + buffer.getvalue().encode()
    buffer.seek(0)
    buffer.truncate()
    for count, row in enumerate(rows, 1):
        writer.writerow([_text(row.get(name)) for name in fields])
        if count % CHUNK_ROWS == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


def _xlsx_cell(value: Any) -> Any:
    value = cell(value)
    return _inert(value)[:XLSX_MAX_CELL] if isinstance(value, str) else value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def xlsx_chunks(
    rows: Iterable[Mapping[str, Any]], fields: Sequence[str], sheet: str = "rows"
) -> Iterator[bytes]:
    """A workbook in write-only mode (rows go to a temporary file, not to memory)."""
    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet(sheet[:31])
    worksheet.append(list(fields))
    for row in rows:
        worksheet.append([_xlsx_cell(row.get(name)) for name in fields])
    with tempfile.TemporaryFile() as out:
        workbook.save(out)
        out.seek(0)
        yield from iter(lambda: out.read(1 << 16), b"")


def export_response(
    rows: Iterable[Mapping[str, Any]], fields: Sequence[str], fmt: str, name: str
) -> StreamingResponse:
    """`rows` as a CSV or XLSX download named `name.csv` / `name.xlsx`."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    chunks = csv_chunks(rows, fields) if fmt == "csv" else xlsx_chunks(rows, fields, name)
    return StreamingResponse(
        chunks,
        media_type=CSV_TYPE if fmt == "csv" else XLSX_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'},
    )


# For a list endpoint's `responses=`: its 200 may also be a CSV or an XLSX download.
EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON; with `format=csv` or `format=xlsx`, every matching row as a file",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def model_fields(model: type[BaseModel]) -> list[str]:
    """The JSON field names of a model, in order (aliases where it has them)."""
    return [field.alias or name for name, field in model.model_fields.items()]


def export_models(
    model: type[BaseModel], rows: Iterable[Any], fmt: str, name: str
) -> StreamingResponse:
    """Rows shaped by `model` exactly as the JSON answer shapes its items, as a download."""

    def shaped() -> Iterator[dict[str, Any]]:
        for row in rows:
            item = model.model_validate(row, from_attributes=not isinstance(row, Mapping))
            yield item.model_dump(mode="json", by_alias=True)

    return export_response(shaped(), model_fields(model), fmt, name)


class Listing(NamedTuple):
    """What a list is asked for: a page (`limit` rows after `cursor`), or with `fmt` every
    row as a download, read `max_limit` rows at a time (`limit` and `cursor` play no part)."""

    limit: int
    cursor: str | None
    fmt: str | None
    max_limit: int

    def answer(
        self,
        read: Callable[..., Mapping[str, Any]],
        page: type[BaseModel],
        item: type[BaseModel],
        name: str,
        record: Callable[[str], None] | None = None,
    ) -> Any:
        """The page `read(limit=, cursor=)` as a `page`, or every row as `item`s in a
        download named `name`; with `record`, a download holds clients' personal data and
        the read log records each client in it."""
        if self.fmt is not None:
            rows = every_page(lambda after: read(limit=self.max_limit, cursor=after))
            if record is not None:
                rows = read_each_client(rows, record)
            return export_models(item, rows, self.fmt, name)
        return page.model_validate(read(limit=self.limit, cursor=self.cursor))
