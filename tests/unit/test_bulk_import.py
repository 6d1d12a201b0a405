"""The bulk path and the name-list import: all rows checked by the single commands' rules,
every bad row reported with nothing written, the same file twice writes nothing new."""

from __future__ import annotations

import gc
import io
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace
from uuid import UUID, uuid4, uuid5

import pytest
from openpyxl import Workbook

from ledger.application import Ledger
from ledger.application.batch import in_recorded_order
from ledger.domain import InvalidInput
from ledger.domain.values import _EVENT_NAMESPACE, event_id
from ledger.name_lists import read_name_list
from support.name_lists import a_row, import_with_one_client_registered_meanwhile, name_list
from support.scenario import ADMIN, REGISTERED_AT, Bank, Clock, new_id, record_prospect


def test_event_ids_are_the_uuid5_they_always_were() -> None:
    for version in (1, 2, 99, 10_000):
        originator = uuid4()
        expected = str(uuid5(_EVENT_NAMESPACE, f"{originator}/{version}"))
        assert event_id(originator, version) == expected


def test_a_name_list_is_written_as_the_single_commands_would(ledger: Ledger, bank: Bank) -> None:
    full = a_row(
        phone="13912345678",
        address="88 Yan'an Road",
        employer="own firm",
        assets="1200000.50",
        assets_as_of=REGISTERED_AT.date().isoformat(),
        source="media",
    )
    referred = a_row(source="referral", referrer=full["client_id"], designated_manager="")
    before = ledger.position
    # The referral comes first in the file: its referrer is registered before it anyway.
    report = ledger.import_clients(
        read_name_list(name_list(bank, referred, full)), recorded_by=ADMIN
    )
    assert report.errors == []
    assert (report.rows, report.imported, report.skipped, report.events) == (2, 2, 0, 5)
    assert ledger.position == before + 5
    client = ledger.get_client(full["client_id"])
    assert (client.tier, client.unit_id, client.designated_manager) == (
        "gold",
        bank.outlet,
        bank.manager,
    )
    assert client.profile["phone"] == "13912345678"
    assert client.assets_amount == Decimal("1200000.50")
    assert ledger.get_client(referred["client_id"]).referred_by == full["client_id"]


def test_every_bad_row_is_reported_and_nothing_is_written(ledger: Ledger, bank: Bank) -> None:
    good = a_row()
    rows = name_list(
        bank,
        good,
        a_row(tier="platinium"),
        a_row(outlet=bank.sub_branch),
        a_row(designated_manager="E-nobody"),
        a_row(assets="-5", assets_as_of="2025-01-01"),
        a_row(referrer="C-nobody"),
        {"client_id": good["client_id"], "name": "Li Wei"},
        {"client_id": new_id("C"), "name": ""},
    )
    before = ledger.position
    report = ledger.import_clients(read_name_list(rows), recorded_by=ADMIN)
    assert [(e.line, e.field) for e in report.errors] == [
        (3, "tier"),
        (4, "outlet"),
        (5, "designated_manager"),
        (6, "assets"),
        (7, "referrer"),
        (8, "client_id"),
        (9, "name"),
    ]
    assert all(error.message for error in report.errors)
    assert report.events == 0
    assert ledger.position == before
    with pytest.raises(Exception):  # noqa: B017 - not found, whatever the store says
        ledger.get_client(good["client_id"])


def test_importing_the_same_file_again_writes_nothing_new(ledger: Ledger, bank: Bank) -> None:
    data = name_list(bank, a_row(), a_row())
    first = ledger.import_clients(read_name_list(data), recorded_by=ADMIN)
    position = ledger.position
    again = ledger.import_clients(read_name_list(data), recorded_by=ADMIN)
    assert (first.imported, again.imported, again.skipped, again.events) == (2, 0, 2, 0)
    assert ledger.position == position


def test_a_client_registered_meanwhile_is_skipped_and_the_rest_written(
    ledger: Ledger, bank: Bank
) -> None:
    import_with_one_client_registered_meanwhile(ledger, bank, writer=None)


def test_a_batch_answers_its_gathered_clients_and_writes_them_in_one_go(
    ledger: Ledger, bank: Bank
) -> None:
    client_id = new_id("C")
    before = ledger.position
    with ledger.batched() as batch:
        ledger.register_client(
            client_id=client_id, name="Wang Fang", unit_id=bank.outlet, recorded_by=ADMIN
        )
        result = ledger.change_tier(
            client_id=client_id,
            tier="gold",
            reason="review",
            effective_at=ledger.clock(),
            recorded_by=ADMIN,
        )
        assert (result.type, result.version, result.position) == ("TierChanged", 2, 0)
        assert ledger.position == before  # nothing written yet
        assert batch.write() == 2
    assert ledger.get_client(client_id).tier == "gold"


def test_a_batch_gathers_prospects_and_their_conversions_too(ledger: Ledger, bank: Bank) -> None:
    client_id = new_id("C")
    before = ledger.position
    with ledger.batched() as batch:
        prospect_id = record_prospect(ledger, bank, occurred_at=REGISTERED_AT)
        result = ledger.convert_prospect(
            prospect_id=prospect_id, client_id=client_id, tier="gold", recorded_by=ADMIN
        )
        assert (result.type, result.position) == ("Registered", 0)
        assert ledger.position == before  # nothing written yet
        assert batch.write() == 3
    assert ledger.get_client(client_id).name == "Li Lei"
    assert ledger.position == before + 3


def test_the_cyclic_collector_is_paused_while_batches_run(ledger: Ledger) -> None:
    assert gc.isenabled()
    with ledger.batched():
        assert not gc.isenabled()
        with ledger.batched():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_xlsx_name_list_reads_like_the_csv(bank: Bank) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["client_id", "name", "outlet", "registered_on", "phone", "assets"])
    sheet.append(
        ["C1001", "Wang Fang", bank.outlet, REGISTERED_AT.replace(tzinfo=None), 13912345678, 12.5]
    )
    sheet.append([None, None, None, None, None, None])
    buffer = io.BytesIO()
    book.save(buffer)
    ((line, row),) = read_name_list(buffer.getvalue())
    assert line == 2
    assert row["phone"] == "13912345678"
    assert row["assets"] == "12.5"
    assert row["registered_on"].startswith(REGISTERED_AT.date().isoformat())


def test_a_name_list_with_an_unknown_column_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown column"):
        read_name_list(b"client_id,name,nickname\nC1,Wang,Wangzi\n")


def test_a_batch_writes_its_events_in_the_order_they_were_recorded(
    ledger: Ledger, bank: Bank, clock: Clock
) -> None:
    """Gathered aggregate by aggregate, a prospect dropped after another client registered
    went back in time: the store refused the insert and every event was stamped again."""
    client_id = new_id("C")
    before = ledger.position
    stamps = []
    with ledger.batched() as batch:
        stamps.append(clock.advance(seconds=1))
        prospect_id = record_prospect(ledger, bank)
        stamps.append(clock.advance(seconds=1))
        ledger.register_client(
            client_id=client_id, name="Wang Fang", unit_id=bank.outlet, recorded_by=ADMIN
        )
        stamps.append(clock.advance(seconds=1))
        ledger.drop_prospect(prospect_id=prospect_id, reason="moved away", recorded_by=ADMIN)
        clock.advance(seconds=1)  # written later still
        assert batch.write() == 3
    written = ledger.recorder.select_notifications(start=before + 1, limit=10)
    events = [ledger.mapper.to_domain_event(n) for n in written]
    assert [type(e).__qualname__ for e in events] == [
        "Prospect.Recorded",
        "Client.Registered",
        "Prospect.Dropped",
    ]
    assert [e.timestamp for e in events] == stamps  # as recorded, not stamped again


def test_events_whose_clock_went_back_are_kept_in_version_order() -> None:
    one, other = uuid4(), uuid4()

    def event(originator: UUID, version: int, second: int) -> SimpleNamespace:
        at = REGISTERED_AT + timedelta(seconds=second)
        return SimpleNamespace(originator_id=originator, originator_version=version, timestamp=at)

    back = [event(one, 1, 5), event(one, 2, 3), event(other, 1, 4)]
    assert in_recorded_order(back) == back  # one's versions would swap: left to the insert
    interleaved = [event(one, 1, 1), event(one, 2, 3), event(other, 1, 2)]
    assert in_recorded_order(interleaved) == [interleaved[0], interleaved[2], interleaved[1]]
