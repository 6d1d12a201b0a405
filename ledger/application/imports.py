"""Bulk import of a bank's name list (名单): many clients, all or nothing.

Each row becomes the commands a clerk would have sent one by one (register the client,
assign the designated manager, record the profile, report the assets), run by the same
use cases with the same rules, through the bulk path (`LedgerBase.batched`): every row is
checked before anything is written, every bad row is reported (line, column, message),
and only a file without one is written, many clients per transaction. A client already
in the ledger is skipped, so importing the same file again writes nothing new.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as day_time

from eventsourcing.persistence import IntegrityError

from ledger.application.batch import Batch, current_batch
from ledger.application.batch_process import WRITER_INSERTS
from ledger.application.clients import ClientUseCases
from ledger.domain import Client, InvalidInput, NotFound, RuleViolation
from ledger.domain.base import recording_clock
from ledger.domain.client_intake import ClientIntake
from ledger.domain.values import DESIGNATED_MANAGER, check_identifier

COLUMNS = (
    "client_id",
    "name",
    "outlet",
    "tier",
    "designated_manager",
    "registered_on",
    "phone",
    "address",
    "employer",
    "assets",
    "assets_as_of",
    "source",
    "referrer",
)
REQUIRED = ("client_id", "name", "outlet")
PROFILE_COLUMNS = ("phone", "address", "employer")
# The command's name for a value -> the list's column it came from.
COLUMN_OF = {
    "unit_id": "outlet",
    "occurred_at": "registered_on",
    "effective_at": "registered_on",
    "staff_id": "designated_manager",
    "referred_by": "referrer",
    "amount": "assets",
    "as_of": "assets_as_of",
    "unit": "outlet",
    "staff": "designated_manager",
    "client": "referrer",
}
RULE_COLUMN = {
    "home_unit_not_outlet": "outlet",
    "effective_before_registration": "assets_as_of",
    "staff_not_active": "designated_manager",
}
# Rows checked between two hand-overs of their clients to the batch's stored events.
ROWS_PER_GATHER = 500
ASSIGNMENT_REASON = "name-list import"
# From this many rows the events are inserted by a process of their own while the next
# chunk is sealed (batch_process; starting it costs about 0.3 s of CPU).
PIPELINED_ROWS = 5000

Row = tuple[int, dict[str, str]]  # (line in the file, column -> text)


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str


@dataclass
class ImportReport:
    rows: int = 0
    imported: int = 0  # clients written by this import
    skipped: int = 0  # clients the ledger already held
    events: int = 0
    seconds: float = 0.0
    errors: list[RowError] = field(default_factory=list)


Progress = Callable[[str, int, int], None]  # (stage, done, total)


class ImportUseCases(ClientUseCases):
    def import_clients(
        self, rows: Sequence[Row], *, recorded_by: str, progress: Progress | None = None
    ) -> ImportReport:
        started = time.perf_counter()
        report = ImportReport(rows=len(rows))
        writer = WRITER_INSERTS if len(rows) >= PIPELINED_ROWS else None
        with self.batched(writer=writer) as batch:
            self._check_rows(_referrers_first(rows), batch, report, recorded_by, progress)
            if report.errors:
                report.errors.sort(key=lambda error: (error.line, error.field))
            else:
                self._write(batch, report, progress)
        report.seconds = time.perf_counter() - started
        return report

    def _check_rows(
        self,
        rows: list[Row],
        batch: Batch,
        report: ImportReport,
        recorded_by: str,
        progress: Progress | None,
    ) -> None:
        now = self.clock()
        held = self.registered(
            [Client.id_for(row["client_id"]) for _, row in rows if _is_id(row.get("client_id"))]
        )
        seen: dict[str, int] = {}
        for done, (line, row) in enumerate(rows, start=1):
            client_id = row.get("client_id", "")
            if client_id in seen:
                message = f"client {client_id} is also on line {seen[client_id]}"
                report.errors.append(RowError(line, "client_id", message))
                continue
            seen[client_id] = line
            missing = [column for column in REQUIRED if not row.get(column)]
            if missing:
                report.errors += [RowError(line, c, "is required") for c in missing]
                continue
            try:
                if Client.id_for(client_id) in held:
                    report.skipped += 1
                    continue
                self._import_row(row, recorded_by, now)
                report.imported += 1
            except (InvalidInput, RuleViolation, NotFound) as error:
                report.errors.append(_row_error(line, error))
                batch.drop(Client.id_for(client_id))
            if done % ROWS_PER_GATHER == 0:
                batch.gather()
                if progress is not None:
                    progress("checked", done, len(rows))
        batch.gather()
        if progress is not None:
            progress("checked", len(rows), len(rows))

    def _import_row(self, row: dict[str, str], recorded_by: str, now: datetime) -> None:
        """The row's client and its opening events, gathered into the batch: the checks of
        `register_client`, `assign`, `update_profile` and `report_assets`, in that order,
        and `Client`'s commands run on a `ClientIntake` (the events a fresh client would
        record, without building one: a third of an imported event's CPU)."""
        client_id = row["client_id"]
        referred_by = row.get("referrer") or None
        registered_at = self.check_registering(
            client_id,
            row["outlet"],
            referred_by,
            _moment("registered_on", row.get("registered_on"), now),
        )
        with recording_clock(self.clock):
            client = ClientIntake.register(
                client_id=client_id,
                name=row["name"],
                unit_id=row["outlet"],
                tier=row.get("tier") or "standard",
                source=row.get("source") or None,
                referred_by=referred_by,
                recorded_by=recorded_by,
                effective_at=registered_at,
            )
            if row.get("designated_manager"):
                # The list names today's manager: assigned as of the import.
                client.assign(
                    staff_id=row["designated_manager"],
                    role=DESIGNATED_MANAGER,
                    reason=ASSIGNMENT_REASON,
                    recorded_by=recorded_by,
                    effective_at=self.check_assignable(
                        row["designated_manager"], max(now, registered_at)
                    ),
                )
            profile = {column: row[column] for column in PROFILE_COLUMNS if row.get(column)}
            if profile:
                client.update_profile(
                    changes=profile,
                    recorded_by=recorded_by,
                    effective_at=self.effective("effective_at", registered_at),
                )
            if row.get("assets"):
                as_of = _day("assets_as_of", row.get("assets_as_of"))
                self.check_as_of(as_of)
                client.report_assets(amount=row["assets"], as_of=as_of, recorded_by=recorded_by)
            elif row.get("assets_as_of"):
                raise InvalidInput("assets", "is required with assets_as_of")
        batch = current_batch.get()
        assert batch is not None, "rows are imported in a batch (`batched`)"
        batch.add_new(client.id, client.events)

    def _write(self, batch: Batch, report: ImportReport, progress: Progress | None) -> None:
        total = batch.events_gathered

        def written(done: int) -> None:
            if progress is not None:
                progress("written", done, total)

        try:
            report.events = batch.write(written)
        except IntegrityError:
            # Clients registered meanwhile by another writer: write the others.
            batch.skip_registered()
            report.events = batch.write(written)
        report.imported -= len(batch.left_out)
        report.skipped += len(batch.left_out)


def _is_id(value: str | None) -> bool:
    try:
        return check_identifier("client_id", value) is not None
    except InvalidInput:
        return False


def _row_error(line: int, error: InvalidInput | RuleViolation | NotFound) -> RowError:
    if isinstance(error, InvalidInput):
        return RowError(line, COLUMN_OF.get(error.field, error.field), error.detail)
    if isinstance(error, NotFound):
        return RowError(line, COLUMN_OF.get(error.kind, error.kind), error.message)
    return RowError(line, RULE_COLUMN.get(error.rule, "row"), error.message)


def _day(column: str, text: str | None) -> date:
    if not text:
        raise InvalidInput(column, "is required")
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise InvalidInput(column, "must be a date, YYYY-MM-DD") from None


def _moment(column: str, text: str | None, now: datetime) -> datetime:
    """A registration date (midnight UTC) or time; none is today."""
    if not text:
        return now
    if len(text) > 10:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidInput(column, "must be a date or an ISO 8601 time") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return min(now, datetime.combine(_day(column, text), day_time(), tzinfo=UTC))


def _referrers_first(rows: Sequence[Row]) -> list[Row]:
    """Rows in an order where a client referred to by another row comes before it (a
    referrer must exist when its referral is registered); a cycle keeps file order and
    is refused as an unknown referrer."""
    in_file = {row.get("client_id"): (line, row) for line, row in rows}
    placed: set[str | None] = set()
    ordered: list[Row] = []
    pending = list(rows)
    while pending:
        waiting = []
        for line, row in pending:
            referrer = row.get("referrer") or None
            if referrer is None or referrer not in in_file or referrer in placed:
                ordered.append((line, row))
                placed.add(row.get("client_id"))
            else:
                waiting.append((line, row))
        if len(waiting) == len(pending):
            ordered += waiting
            break
        pending = waiting
    return ordered
