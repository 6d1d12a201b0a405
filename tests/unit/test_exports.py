"""Rows to CSV and XLSX (API.md 1.1, Exports), and the console's small pure parts."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from ledger.api.exports import CHUNK_ROWS, csv_chunks, every_page, xlsx_chunks
from ledger.console.charts import bar_chart, intervals_timeline
from ledger.console.i18n import choose, translator

FIELDS = ("client_id", "name", "tier", "last_contact_at", "prior_holders", "in_scope")
ROWS = [
    {
        "client_id": "C1",
        "name": "王芳",
        "tier": "gold",
        "last_contact_at": datetime(2026, 3, 2, 7, 0, tzinfo=UTC),
        "prior_holders": ["E1", "E2"],
        "in_scope": True,
    },
    {"client_id": "C2", "name": '=HYPERLINK("x")', "tier": None, "in_scope": False},
]


def test_csv_starts_with_a_byte_order_mark_and_the_json_field_names() -> None:
    data = b"".join(csv_chunks(ROWS, FIELDS))
    assert data.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert table[0] == list(FIELDS)
    assert table[1] == ["C1", "王芳", "gold", "2026-03-02T07:00:00+00:00", '["E1","E2"]', "true"]
    # Absent and null are empty; a text a spreadsheet would run as a formula is inert.
    assert table[2] == ["C2", '\'=HYPERLINK("x")', "", "", "", "false"]


def test_csv_streams_in_chunks_and_keeps_every_row() -> None:
    rows = ({"client_id": f"C{n}", "amount": Decimal("-1.50")} for n in range(CHUNK_ROWS * 2 + 3))
    chunks = list(csv_chunks(rows, ("client_id", "amount")))
    assert len(chunks) == 4  # header, two full chunks, the rest
    table = list(csv.reader(io.StringIO(b"".join(chunks).decode("utf-8-sig"))))
    assert len(table) == CHUNK_ROWS * 2 + 4
    assert table[-1] == [f"C{CHUNK_ROWS * 2 + 2}", "-1.50"]


def test_xlsx_is_a_workbook_with_the_same_header_and_cells() -> None:
    sheet = load_workbook(io.BytesIO(b"".join(xlsx_chunks(ROWS, FIELDS)))).active
    table = list(sheet.iter_rows(values_only=True))
    assert list(table[0]) == list(FIELDS)
    assert table[1][:3] == ("C1", "王芳", "gold")
    assert table[1][5] is True
    assert table[2][1] == '\'=HYPERLINK("x")'


def test_languages_follow_the_cookie_then_the_browser_then_chinese() -> None:
    assert choose(None, None) == "zh"
    assert choose(None, "fr-FR, en;q=0.8, zh;q=0.5") == "en"
    assert choose(None, "zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert choose("en", "zh-CN") == "en"
    assert choose("xx", "de") == "zh"
    assert translator("zh")("tier.diamond") == "钻石卡"
    assert translator("en")("tier.diamond") == "Diamond"


def test_charts_escape_their_labels() -> None:
    svg = str(bar_chart(["<script>x</script>", "O2"], [3, -1], "增量"))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert svg.count('class="bar') == 2 and 'class="bar negative"' in svg
    lanes = [("管户经理", "<b>E1</b>", datetime(2026, 1, 1, tzinfo=UTC), None)]
    timeline = str(
        intervals_timeline(
            lanes, datetime(2026, 6, 1, tzinfo=UTC), 90, {"title": "t", "churn": "流失"}
        )
    )
    assert "<b>" not in timeline and 'class="interval open"' in timeline
    assert "style=" not in svg + timeline


def test_every_page_follows_the_cursor_to_the_last_page() -> None:
    pages = {
        None: {"items": [{"n": 1}, {"n": 2}], "next_cursor": "2"},
        "2": {"items": [{"n": 3}], "next_cursor": None},
    }
    asked: list[str | None] = []

    def read(cursor: str | None) -> dict:
        asked.append(cursor)
        return pages[cursor]

    assert [row["n"] for row in every_page(read)] == [1, 2, 3]
    assert asked == [None, "2"]


def test_every_page_reads_the_first_page_before_any_row_is_asked_for() -> None:
    def unknown(cursor: str | None) -> dict:
        raise LookupError("unknown unit")

    with pytest.raises(LookupError):
        every_page(unknown)
