"""The application service: the only place that loads and saves aggregates, and the home
of the rules that span aggregates (the unit, staff member and referring client must exist;
a departed staff member can be neither assigned nor log a contact; a client id is unique
for ever; a manager key acts within its unit's subtree).

`Ledger` is one eventsourcing `Application`, assembled from one class per group of use
cases, each in its own module over the write machinery of `writes.py`:

- `organisation.py`: units and staff;
- `clients.py`: a client's life, from registration to retraction;
- `imports.py`: a bank's name list, imported all or nothing through the bulk path;
- `outreach.py`: prospects and campaigns (the fund manager's half);
- `accountability.py`: determinations on churn cases (through the `ChurnCases` port);
- `history.py`: a client as of a time, as known at a time, and its events;
- `audit.py`: the data of the events the audit log lists;
- `privacy.py`: erasure of a client's personal data, and finding clients by blind index;
- `access.py`: API keys, the caller (`Principal`), roles and a manager key's scope.
"""

from __future__ import annotations

from ledger.application.access import AccessUseCases, ApiKeySummary, Principal, check_role
from ledger.application.accountability import AccountabilityUseCases, ChurnCases
from ledger.application.audit import AuditUseCases
from ledger.application.caches import TURN_WAIT
from ledger.application.clients import ClientUseCases
from ledger.application.history import HistoryEntry, HistoryUseCases
from ledger.application.imports import ImportReport, ImportUseCases, RowError
from ledger.application.organisation import OrganisationUseCases, StaffSummary, UnitSummary
from ledger.application.outreach import OutreachUseCases
from ledger.application.privacy import PrivacyUseCases
from ledger.application.writes import CONFLICT_RETRIES, WriteResult
from ledger.domain import Client


class Ledger(
    AccountabilityUseCases,
    ImportUseCases,
    OutreachUseCases,
    PrivacyUseCases,
    ClientUseCases,
    AccessUseCases,
    AuditUseCases,
    HistoryUseCases,
    OrganisationUseCases,
):
    # The name keys the library's environment variables and the read models' tracking rows.
    name = "Ledger"
    # A client with 10,000 contacts loads from its latest snapshot, not by replay.
    snapshotting_intervals = {Client: 100}


__all__ = [
    "CONFLICT_RETRIES",
    "TURN_WAIT",
    "ApiKeySummary",
    "ChurnCases",
    "HistoryEntry",
    "ImportReport",
    "Ledger",
    "Principal",
    "RowError",
    "StaffSummary",
    "UnitSummary",
    "WriteResult",
    "check_role",
]
