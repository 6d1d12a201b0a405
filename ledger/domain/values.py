"""Closed sets, limits and value checks shared by the aggregates.

Values inside events are plain str, int, Decimal, datetime and date so that they
store and snapshot without custom transcodings beyond the library's own and a date.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from hashlib import sha1
from typing import Any
from uuid import NAMESPACE_URL, UUID, SafeUUID, uuid5

from ledger.domain.errors import InvalidInput

TIERS: tuple[str, ...] = ("standard", "gold", "platinum", "diamond")
VIP_TIERS: tuple[str, ...] = ("gold", "platinum", "diamond")
TIER_RANK: dict[str, int] = {tier: rank for rank, tier in enumerate(TIERS)}

UNIT_KINDS: tuple[str, ...] = ("branch", "department", "sub_branch", "outlet")
UNIT_KIND_RANK: dict[str, int] = {kind: rank for rank, kind in enumerate(UNIT_KINDS)}

STAFF_ROLES: tuple[str, ...] = (
    "president",
    "vice_president",
    "outlet_director",
    "client_manager",
    "wealth_manager",
    "lobby_manager",
    "teller",
)
# The designated manager is the `client_manager` team role; the others form the
# layered maintenance team of DOMAIN.md.
DESIGNATED_MANAGER = "client_manager"
OUTLET_DIRECTOR = "outlet_director"
TEAM_ROLES: tuple[str, ...] = ("client_manager", "president", "vice_president", "outlet_director")
TEAM_BY_TIER: dict[str, tuple[str, ...]] = {
    "diamond": ("president", "vice_president", "outlet_director", "client_manager"),
    "platinum": ("vice_president", "outlet_director", "client_manager"),
    "gold": ("outlet_director", "client_manager"),
    "standard": ("outlet_director", "client_manager"),
}

CHANNELS: tuple[str, ...] = ("visit", "phone", "sms", "letter", "event", "wechat")
CHURN_KINDS: tuple[str, ...] = ("normal", "abnormal")
SOURCES: tuple[str, ...] = ("media", "organisation", "personal_network", "referral")
RISK_APPETITES: tuple[str, ...] = ("conservative", "balanced", "aggressive")
OUTCOMES: tuple[str, ...] = ("confirmed", "waived")
# The parties a determination may name (the seed pursues them separately); none: the case.
PARTIES: tuple[str, ...] = ("designated_manager", "unit_head")
# Why a VIP client is on the at-risk board (DOMAIN.md 1.1).
RISK_REASONS: tuple[str, ...] = (
    "contact_overdue",
    "team_gap",
    "orphaned",
    "manager_departed",
    "assets_down",
    "downgraded",
)
# What the segment report groups by.
SEGMENT_KEYS: tuple[str, ...] = ("risk_appetite", "product_horizon", "source", "tier")
KEY_INFO_FIELDS: tuple[str, ...] = ("address", "phone", "employer")
PROFILE_FIELDS: tuple[str, ...] = (
    *KEY_INFO_FIELDS,
    "risk_appetite",
    "business_interests",
    "product_horizon",
    "personality",
    "hobbies",
    "specialties",
)

ACTIVE = "active"
CHURNED = "churned"
DEPARTED = "departed"
CLIENT_STATUSES: tuple[str, ...] = (ACTIVE, CHURNED)
STAFF_STATUSES: tuple[str, ...] = (ACTIVE, DEPARTED)

MAX_ID = 64
MAX_NAME = 200
MAX_TEXT = 2000
# API.md 1.1, Paging: a list's page is this many rows unless asked, and at most this many
# (churn cases, reports, the maintenance lists, the audit log, a client's history; the
# roster's own are in projections/roster.py).
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# CNY with two decimals, at most 13 digits before the point: 10^13 is beyond any real
# client's annual average assets.
MAX_AMOUNT = Decimal("10000000000000")
AMOUNT_PATTERN = r"^[0-9]{1,13}(\.[0-9]{1,2})?$"
FUTURE_TOLERANCE = timedelta(minutes=5)
# Every time the ledger takes lies here once converted to UTC, so that any view can convert
# it, or move it by a day or an offset, without leaving datetime's years 1 to 9999.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, tzinfo=UTC)
TIME_RANGE = "between 1900-01-01T00:00:00Z and 9999-12-31T00:00:00Z in UTC"
# Free text may run over lines; every other text is one line. Nothing may hold a control
# character (C0, DEL, C1) or a bidi control, which could forge or reorder a printed line.
FREE_TEXT_FIELDS: frozenset[str] = frozenset(
    {
        "purpose",
        "summary",
        "reason",
        "business_interests",
        "product_horizon",
        "personality",
        "hobbies",
        "specialties",
    }
)
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROLS_BUT_LINE_BREAKS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
_AMOUNT = re.compile(AMOUNT_PATTERN)
_EVENT_NAMESPACE = uuid5(NAMESPACE_URL, "urn:ledger:event")


_EVENT_NAMESPACE_BYTES = _EVENT_NAMESPACE.bytes


_URL_NAMESPACE_SHA1 = sha1(NAMESPACE_URL.bytes, usedforsecurity=False)


def _uuid5_bytes(namespace: Any, name: bytes) -> bytearray:
    """`uuid5(<namespace>, name).bytes` from a SHA-1 state of the namespace (`namespace`),
    without the UUID object (both ids below are made once per new event or client)."""
    hashed = namespace.copy()
    hashed.update(name)
    digest = bytearray(hashed.digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return digest


# A bulk load asks for the same few hundred thousand ids again and again.
@lru_cache(maxsize=1 << 16)
def aggregate_uuid(kind: str, business_id: str) -> UUID:
    """The store id of a unit, staff member or client: one per business id, for ever:
    `uuid5(NAMESPACE_URL, f"urn:ledger:{kind}:{business_id}")`, spelled out (from a SHA-1
    state of the namespace, the UUID made without its checking `__init__`) because each
    new client of a name list makes one (5 against 1.5 µs)."""
    name = f"urn:ledger:{kind}:{business_id}".encode()
    number = int.from_bytes(_uuid5_bytes(_URL_NAMESPACE_SHA1, name))
    made = object.__new__(UUID)
    object.__setattr__(made, "int", number)
    object.__setattr__(made, "is_safe", SafeUUID.unknown)
    return made


_EVENT_NAMESPACE_SHA1 = sha1(_EVENT_NAMESPACE_BYTES, usedforsecurity=False)


@lru_cache(maxsize=1 << 12)
def _id_text(number: int) -> bytes:
    # An aggregate's events come together; `str(UUID)` is Python, 1 us each time. Keyed by
    # the id's integer, which hashes in C; a UUID hashes in Python.
    return f"{UUID(int=number)}/".encode()


def event_id(originator_id: UUID, version: int) -> str:
    """A stable id for the event at `version` of an aggregate, derivable from the log:
    `str(uuid5(<event namespace>, "<originator id>/<version>"))`, spelled out on the SHA-1
    digest's hex digits (the version digit set to 5, the variant digit's high bits to 10)
    because building the UUID object was a tenth of a bulk load's time, and the audit view
    makes one for every event of a catch-up (2.4 against 1.2 us)."""
    hashed = _EVENT_NAMESPACE_SHA1.copy()
    hashed.update(_id_text(originator_id.int) + b"%d" % version)
    return _spelled(hashed.hexdigest())


def event_ids(originator_id: UUID) -> Callable[[int], str]:
    """`event_id` of one aggregate's events, by version: the SHA-1 state of its namespace
    and id made once, the version bits set in the hex text (a history answers 10,000 ids
    of one client: 1.5 against 0.95 µs each)."""
    base = _EVENT_NAMESPACE_SHA1.copy()
    base.update(_id_text(originator_id.int))
    fresh = base.copy

    def made(version: int) -> str:
        hashed = fresh()
        hashed.update(b"%d" % version)
        return _spelled(hashed.hexdigest())

    return made


def _spelled(h: str) -> str:
    """A name-based (version 5) UUID's text from its SHA-1 digest's hex digits."""
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


# The variant's hex digit: its two top bits 10 (RFC 4122), the next two the hash's.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def check_identifier(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(field, "must be a non-empty string")
    if len(value) > MAX_ID:
        raise InvalidInput(field, f"must be at most {MAX_ID} characters")
    if not _ID_PATTERN.match(value):
        raise InvalidInput(field, "may hold only letters, digits and . _ : -")
    return value


def text_fault(value: str, *, free: bool) -> str | None:
    """Why `value` is refused as text (free text, or one line), or None."""
    control = (_CONTROLS_BUT_LINE_BREAKS if free else _CONTROLS).search(value)
    if control is None:
        return None
    allowed = "; only line feed and tab are allowed" if free else ""
    return f"must not hold control characters (U+{ord(control.group()):04X}){allowed}"


def check_text(field: str, value: Any, *, limit: int = MAX_TEXT, required: bool = True) -> str:
    """Text of `field`: free text (FREE_TEXT_FIELDS) may hold line feeds and tabs."""
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a string")
    if required and not value.strip():
        raise InvalidInput(field, "must not be blank")
    if len(value) > limit:
        raise InvalidInput(field, f"must be at most {limit} characters")
    fault = text_fault(value, free=field in FREE_TEXT_FIELDS)
    if fault is not None:
        raise InvalidInput(field, fault)
    return value


SATISFACTION_SCALE = range(1, 6)


def check_satisfaction(value: Any) -> int | None:
    """A contact's satisfaction: 1 (poor) to 5 (excellent), or none given."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value not in SATISFACTION_SCALE:
        raise InvalidInput("satisfaction", "must be a whole number from 1 to 5")
    return value


def check_choice(field: str, value: Any, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if value not in choices:
        raise InvalidInput(field, f"must be one of {', '.join(choices)}; got {value!r}")
    return str(value)


def check_aware(field: str, value: Any) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidInput(field, "must be a date-time")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(field, "must carry a timezone offset (naive times are refused)")
    # Aware times compare without converting, so a time whose UTC is beyond year 9999 (or
    # before year 1) is compared, not overflowed.
    if not EARLIEST <= value <= LATEST:
        raise InvalidInput(field, f"must be {TIME_RANGE}")
    return value


def check_not_future(field: str, value: datetime, now: datetime) -> datetime:
    check_aware(field, value)
    if value > now + FUTURE_TOLERANCE:
        raise InvalidInput(field, "must not be more than 5 minutes in the future")
    return value


def amount_fault(text: str) -> str | None:
    """Why `text` is refused as an amount of money, or None."""
    if _AMOUNT.fullmatch(text):
        return None
    if _AMOUNT.fullmatch(text.removeprefix("-")):
        return "must not be negative"
    return "must be digits with up to two decimal places, e.g. 1234.50"


def check_amount(field: str, value: Any) -> Decimal:
    """An amount of money; as text only plain digits with up to two decimals, as HTTP
    takes it (no sign, exponent, spaces or underscores, which `Decimal` would read)."""
    if isinstance(value, (bool, float)):
        raise InvalidInput(field, "must be an exact decimal string, not a float")
    if isinstance(value, str):
        fault = amount_fault(value)
        if fault is not None:
            raise InvalidInput(field, fault)
    try:
        amount = Decimal(value) if isinstance(value, (str, int)) else value
    except (InvalidOperation, ValueError):
        raise InvalidInput(field, f"must be a decimal number; got {value!r}") from None
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise InvalidInput(field, f"must be a decimal number; got {value!r}")
    if amount < 0:
        raise InvalidInput(field, "must not be negative")
    if amount >= MAX_AMOUNT:
        raise InvalidInput(field, "is implausibly large")
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise InvalidInput(field, "has more than two decimal places")
    return amount


def check_date(field: str, value: Any) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidInput(field, "must be a date (YYYY-MM-DD)")
    if not EARLIEST.date() <= value <= LATEST.date():
        raise InvalidInput(field, "must be between 1900-01-01 and 9999-12-31")
    return value
