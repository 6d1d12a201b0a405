"""One page shape for the reports that are a filter form over a table: what each column
holds and how it is shown, the filters, and the page of rows (or every row as a download)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException, Request, Response
from pydantic import BaseModel

from ledger.api.exports import every_page
from ledger.console.i18n import MESSAGES, translator
from ledger.console.pages.tables import table_page
from ledger.console.web import Viewer


@dataclass(frozen=True)
class Column:
    """`field`: the JSON field name (also the export's header); `kind`: how listing.html
    shows it (client, tier, time, never, money, num, percent, bool, label, labels, data,
    aggregate, acknowledge, erase, or plain text); `prefix`: a label's catalogue prefix."""

    field: str
    kind: str = "text"
    prefix: str = ""
    label: str = ""

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", f"f.{self.field}")


@dataclass(frozen=True)
class Filter:
    """A field of the page's filter form: kind unit, date, text, number or select."""

    name: str
    kind: str
    value: Any = ""
    label: str = ""
    options: Sequence[str] = ()
    prefix: str = ""
    required: bool = False

    def __post_init__(self) -> None:
        if not self.label:
            object.__setattr__(self, "label", f"f.{self.name}")


# Columns shown only on the page (a button), never exported.
ACTIONS = ("acknowledge", "erase")


def exported(columns: Sequence[Column]) -> tuple[str, ...]:
    return tuple(c.field for c in columns if c.kind not in ACTIONS)


def listing(
    request: Request,
    viewer: Viewer,
    *,
    title: str,
    fmt: str | None,
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[Column],
    name: str,
    filters: Sequence[Filter] = (),
    next_cursor: str | None = None,
    model: type[BaseModel] | None = None,
    **context: Any,
) -> Response:
    """The listing page (a filter form, the table, a link to the next page) or, with
    `fmt`, every row as a download whose header row holds the exported columns' fields;
    with `model` (the API's item), each row shaped as the API's download shapes it."""
    if fmt is not None and model is not None:
        rows = shaped(model, rows)
    context.setdefault("summary", ())
    context.setdefault("units", viewer.visible_units())
    context["label"] = labeller(viewer.lang)
    return table_page(
        request,
        viewer,
        "listing.html",
        fmt=fmt,
        rows=rows,
        fields=exported(columns),
        name=name,
        title=title,
        columns=columns,
        filters=filters,
        action=request.url.path,
        next_link=next_link(request, next_cursor),
        **context,
    )


def shaped(model: type[BaseModel], rows: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    for row in rows:
        yield model.model_validate(row).model_dump(mode="json", by_alias=True)


def labeller(lang: str) -> Callable[[str, Any], str]:
    """A value's label (`prefix` + value in the catalogue), or the value itself when the
    catalogue has none (a free-text profile value, `unknown`)."""
    _ = translator(lang)

    def label(prefix: str, value: Any) -> str:
        if value is None:
            return ""
        key = f"{prefix}{value}"
        return _(key) if key in MESSAGES else str(value)

    return label


def next_link(request: Request, cursor: str | None) -> str | None:
    return None if cursor is None else replaced(request, cursor=cursor)


def replaced(request: Request, **changed: str) -> str:
    """This page's path and query with the `changed` parameters set (a next page's link)."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k not in changed]
    query.extend(changed.items())
    return request.url.path + "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in query)


PAGE_ROWS = 100


def whole_number(text: str | None, field: str, *, most: int) -> int | None:
    """A form's number field: blank is none (a browser sends an empty field as `name=`)."""
    text = (text or "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) > most:
        raise HTTPException(422, f"{field}: must be a whole number from 0 to {most}")
    return int(text)


def paged(
    read: Callable[..., Mapping[str, Any]], fmt: str | None, cursor: str | None, most: int
) -> tuple[Iterable[Mapping[str, Any]], str | None]:
    """A page of `PAGE_ROWS` rows and the next page's cursor; for a download, every row
    (read `most` at a time)."""
    if fmt is not None:
        return every_page(lambda after: read(limit=most, cursor=after)), None
    page = read(limit=PAGE_ROWS, cursor=cursor)
    return page["items"], page["next_cursor"]
