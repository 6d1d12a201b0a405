"""API.md 1.1's "Input that is refused", below the API: the domain's own checks refuse the
same times, text and money as the HTTP edge, so a command from any caller (the CLI, a
script, a later endpoint) cannot store them, and `ledger history` never prints a forged
line. `rejected` checks that nothing was written."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from ledger.application import Ledger
from ledger.domain import InvalidInput
from ledger.domain.values import check_aware, check_not_future, check_text
from scenario import NOW, Bank, by, new_id, rejected

PLUS_14 = timezone(timedelta(hours=14))
MINUS_14 = timezone(timedelta(hours=-14))
# Outside [1900-01-01T00:00:00Z, 9999-12-31T00:00:00Z] once converted to UTC; the first two
# cannot even be converted (year 0 and year 10000).
OUT_OF_RANGE = [
    datetime(1, 1, 1, tzinfo=PLUS_14),
    datetime(9999, 12, 31, 23, 59, 59, tzinfo=MINUS_14),
    datetime.min.replace(tzinfo=UTC),
    datetime.max.replace(tzinfo=UTC),
    datetime(1899, 12, 31, 23, 59, 59, tzinfo=UTC),
    datetime(1900, 1, 1, 8, 0, tzinfo=timezone(timedelta(hours=8, minutes=1))),
    datetime(9999, 12, 31, 0, 0, 1, tzinfo=UTC),
]
CONTROLS = ["\x00", "\x1b[2J", "\r", "\x7f", "\x85", "\x9b", "\u202a", "\u202e", "\u2066", "\u2069"]
LINE_BREAKS = ["\n", "\t"]


@pytest.mark.parametrize("moment", OUT_OF_RANGE, ids=str)
def test_a_time_outside_the_range_is_refused_by_the_checks(moment: datetime) -> None:
    with pytest.raises(InvalidInput) as info:
        check_aware("occurred_at", moment)
    assert info.value.field == "occurred_at"
    assert "1900-01-01T00:00:00Z" in info.value.detail
    with pytest.raises(InvalidInput):
        check_not_future("occurred_at", moment, NOW)


def test_the_bounds_of_the_range_are_times() -> None:
    assert check_aware("t", datetime(1900, 1, 1, tzinfo=UTC)).year == 1900
    assert check_aware("t", datetime(9999, 12, 31, tzinfo=UTC)).year == 9999
    assert check_aware("t", datetime(1900, 1, 1, 8, tzinfo=timezone(timedelta(hours=8))))


@pytest.mark.parametrize("moment", OUT_OF_RANGE[:2], ids=str)
def test_a_command_dated_outside_the_range_writes_nothing(
    ledger: Ledger, bank: Bank, client_id: str, moment: datetime
) -> None:
    with rejected(ledger, InvalidInput, field="occurred_at"):
        ledger.register_client(
            client_id=new_id("C"), name="Li Lei", unit_id=bank.outlet, occurred_at=moment, **by()
        )
    with rejected(ledger, InvalidInput, field="effective_at"):
        ledger.change_tier(
            client_id=client_id, tier="gold", reason="grew", effective_at=moment, **by()
        )
    with rejected(ledger, InvalidInput, field="occurred_at"):
        ledger.log_contact(
            client_id=client_id,
            channel="visit",
            staff_id=bank.manager,
            occurred_at=moment,
            **by(),
        )
    with rejected(ledger, InvalidInput, field="effective_at"):
        ledger.depart_staff(staff_id=bank.manager, effective_at=moment, reason="left", **by())


@pytest.mark.parametrize("moment", OUT_OF_RANGE[:2], ids=str)
def test_a_read_at_a_time_outside_the_range_is_refused(
    ledger: Ledger, client_id: str, moment: datetime
) -> None:
    with pytest.raises(InvalidInput) as info:
        ledger.get_client(client_id, as_of=moment)
    assert info.value.field == "as_of"
    with pytest.raises(InvalidInput) as info:
        ledger.get_client(client_id, known_at=moment)
    assert info.value.field == "known_at"


@pytest.mark.parametrize("day", [date(1, 1, 1), date(1899, 12, 31)])
def test_an_asset_date_outside_the_range_is_refused(
    ledger: Ledger, client_id: str, day: date
) -> None:
    with rejected(ledger, InvalidInput, field="as_of"):
        ledger.report_assets(client_id=client_id, amount="1", as_of=day, **by())


# ---- text ------------------------------------------------------------------------------


@pytest.mark.parametrize("control", CONTROLS + LINE_BREAKS, ids=repr)
def test_a_name_holds_no_control_character(ledger: Ledger, bank: Bank, control: str) -> None:
    name = f"Li{control}Lei"
    with rejected(ledger, InvalidInput, field="name"):
        ledger.register_client(client_id=new_id("C"), name=name, unit_id=bank.outlet, **by())
    with rejected(ledger, InvalidInput, field="name"):
        ledger.create_unit(unit_id=new_id("U"), name=name, kind="branch", parent_id=None, **by())
    with rejected(ledger, InvalidInput, field="name"):
        ledger.join_staff(
            staff_id=new_id("S"),
            name=name,
            unit_id=bank.outlet,
            role="teller",
            effective_at=None,
            **by(),
        )
    with rejected(ledger, InvalidInput, field="label"):
        ledger.issue_api_key(role="auditor", staff_id=None, label=name, **by())


@pytest.mark.parametrize("control", CONTROLS + LINE_BREAKS, ids=repr)
@pytest.mark.parametrize("field", ["address", "phone", "employer"])
def test_key_information_holds_no_control_character(
    ledger: Ledger, client_id: str, field: str, control: str
) -> None:
    with rejected(ledger, InvalidInput, field=field):
        ledger.update_profile(client_id=client_id, changes={field: f"1{control}2"}, **by())


@pytest.mark.parametrize("control", CONTROLS, ids=repr)
def test_free_text_holds_no_control_character_but_line_feed_and_tab(
    ledger: Ledger, bank: Bank, client_id: str, control: str
) -> None:
    with rejected(ledger, InvalidInput, field="reason"):
        ledger.change_tier(
            client_id=client_id, tier="gold", reason=f"grew{control}", effective_at=NOW, **by()
        )
    for field in ("purpose", "summary"):
        with rejected(ledger, InvalidInput, field=field):
            ledger.log_contact(
                client_id=client_id,
                channel="visit",
                staff_id=bank.manager,
                occurred_at=NOW,
                **{field: f"talk{control}"},
                **by(),
            )
    with rejected(ledger, InvalidInput, field="hobbies"):
        ledger.update_profile(client_id=client_id, changes={"hobbies": f"go{control}"}, **by())


def test_free_text_takes_line_feeds_and_tabs(ledger: Ledger, bank: Bank, client_id: str) -> None:
    ledger.change_tier(
        client_id=client_id, tier="gold", reason="grew:\n\tdeposits", effective_at=NOW, **by()
    )
    ledger.log_contact(
        client_id=client_id,
        channel="visit",
        staff_id=bank.manager,
        occurred_at=NOW,
        purpose="review\nplan",
        summary="line one\nline two\tend",
        **by(),
    )
    notes = {"business_interests": "a\nb", "personality": "calm\tkind", "specialties": "x\ny"}
    ledger.update_profile(client_id=client_id, changes=notes, **by())
    profile = ledger.get_client(client_id).profile
    assert {name: profile[name] for name in notes} == notes


def test_the_check_decides_by_the_field_whether_text_is_free() -> None:
    assert check_text("reason", "a\nb") == "a\nb"
    with pytest.raises(InvalidInput):
        check_text("name", "a\nb")
    with pytest.raises(InvalidInput):
        check_text("reason", "a\r\nb")


# ---- money -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount",
    ["1_000", " 5 ", "5 ", "1e3", "+5", ".5", "5.", "5\n", "0x10", "١٢٣", "12345678901234"],
)
def test_money_as_text_is_plain_digits_with_up_to_two_decimals(
    ledger: Ledger, client_id: str, amount: Any
) -> None:
    with rejected(ledger, InvalidInput, field="amount"):
        ledger.report_assets(client_id=client_id, amount=amount, as_of=date(2025, 6, 1), **by())


@pytest.mark.parametrize("amount", ["0", "5", "1000.5", "9999999999999.99"])
def test_plain_amounts_are_accepted(ledger: Ledger, client_id: str, amount: str) -> None:
    ledger.report_assets(client_id=client_id, amount=amount, as_of=date(2025, 6, 1), **by())
    assert ledger.get_client(client_id).assets_amount == Decimal(amount)
