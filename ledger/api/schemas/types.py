"""The input types every body shares: times, identifiers, text, money, and the closed sets.

Closed sets are Literals and identifiers carry their pattern here, for the documentation;
the domain checks everything again, so a rule lives in one place even if this drifts.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from ledger.domain.api_key import ROLES as KEY_ROLES
from ledger.domain.values import (
    AMOUNT_PATTERN,
    CHANNELS,
    CHURN_KINDS,
    CLIENT_STATUSES,
    EARLIEST,
    LATEST,
    OUTCOMES,
    PARTIES,
    RISK_APPETITES,
    RISK_REASONS,
    SEGMENT_KEYS,
    SOURCES,
    STAFF_ROLES,
    STAFF_STATUSES,
    TEAM_ROLES,
    TIERS,
    TIME_RANGE,
    UNIT_KINDS,
    amount_fault,
    text_fault,
)

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _rfc3339_text(value: object) -> object:
    # Pydantic would read a bare number as a Unix time; the contract speaks RFC 3339 only.
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError(
            "must be an RFC 3339 date-time with an offset, e.g. 2025-03-31T09:00:00+08:00"
        )
    return value


def _in_range(value: datetime) -> datetime:
    # Compared, not converted: converting 0001-01-01T00:00:00+14:00 to UTC overflows.
    if not EARLIEST <= value <= LATEST:
        raise ValueError(f"must be {TIME_RANGE}")
    return value


Moment = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339_text),
    AfterValidator(_in_range),
    Field(
        description="RFC 3339 with an offset, e.g. 2025-03-31T09:00:00+08:00, "
        "from 1900-01-01T00:00:00Z to 9999-12-31T00:00:00Z"
    ),
]
"""An input time: an RFC 3339 string with an offset (a naive time is a 422), within the
range every view can convert."""


def _iso_date_text(value: object) -> object:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be a date, YYYY-MM-DD")
    return value


def _day_in_range(value: date) -> date:
    if not EARLIEST.date() <= value <= LATEST.date():
        raise ValueError("must be between 1900-01-01 and 9999-12-31")
    return value


Day = Annotated[date, BeforeValidator(_iso_date_text), AfterValidator(_day_in_range)]


def _one_line(value: str) -> str:
    fault = text_fault(value, free=False)
    if fault is not None:
        raise ValueError(fault)
    return value


def _free(value: str) -> str:
    fault = text_fault(value, free=True)
    if fault is not None:
        raise ValueError(fault)
    return value


OneLine = AfterValidator(_one_line)
"""Names, labels and key information: no control character, line feed and tab included."""
FreeText = AfterValidator(_free)
"""Reasons, summaries and notes: line feed and tab, but no other control character."""
ONE_LINE = "one line: no control characters"
FREE_TEXT = "line feeds and tabs allowed, no other control characters"

Identifier = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
]
# `\S`: at least one character that is not white space (the domain refuses blank text).
Name = Annotated[
    str, Field(min_length=1, max_length=200, pattern=r"\S", description=ONE_LINE), OneLine
]
Text = Annotated[
    str, Field(min_length=1, max_length=2000, pattern=r"\S", description=FREE_TEXT), FreeText
]
OptionalText = Annotated[str, Field(max_length=2000, description=FREE_TEXT), FreeText]


def _amount(value: str) -> str:
    fault = amount_fault(value)
    if fault is not None:
        raise ValueError(fault)
    return value


Amount = Annotated[
    str,
    AfterValidator(_amount),
    Field(
        json_schema_extra={"pattern": AMOUNT_PATTERN},
        description="a decimal string in CNY: digits, at most two decimal places",
        examples=["1234567.89"],
    ),
]
"""Money as input: a JSON string of plain digits (no sign, exponent, spaces or `_`)."""
Money = Annotated[
    str,
    Field(
        max_length=40,
        description="a decimal string in CNY, at most two decimal places",
        examples=["1234567.89"],
    ),
]
# The closed sets are the domain's (ledger/domain/values.py); the schema only lists them.
Tier = Literal[TIERS]  # type: ignore[valid-type]
UnitKind = Literal[UNIT_KINDS]  # type: ignore[valid-type]
StaffRole = Literal[STAFF_ROLES]  # type: ignore[valid-type]
TeamRole = Literal[TEAM_ROLES]  # type: ignore[valid-type]
Channel = Literal[CHANNELS]  # type: ignore[valid-type]
Source = Literal[SOURCES]  # type: ignore[valid-type]
RiskAppetite = Literal[RISK_APPETITES]  # type: ignore[valid-type]
ChurnKind = Literal[CHURN_KINDS]  # type: ignore[valid-type]
Outcome = Literal[OUTCOMES]  # type: ignore[valid-type]
Party = Literal[PARTIES]  # type: ignore[valid-type]
KeyRole = Literal[KEY_ROLES]  # type: ignore[valid-type]
Status = Literal[CLIENT_STATUSES]  # type: ignore[valid-type]
StaffStatus = Literal[STAFF_STATUSES]  # type: ignore[valid-type]
RiskReason = Literal[RISK_REASONS]  # type: ignore[valid-type]
SegmentKey = Literal[SEGMENT_KEYS]  # type: ignore[valid-type]


class Body(BaseModel):
    """A request body: unknown fields are refused, so a typo is a 422, not silence."""

    model_config = ConfigDict(extra="forbid")


NextCursor = Annotated[
    str | None,
    Field(description="pass it as `cursor` for the next page; null on the last page"),
]
"""A page's pointer to the next one, in every paged answer but the maintenance reports'."""


class FromTo(BaseModel):
    # `from` is a Python keyword: the fields are named start/end and serialised by alias.
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)
