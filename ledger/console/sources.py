"""The console's one door into the ledger: the application, the read models, the scope rules
and the request schemas. Every other console module goes through `Sources`, so when the
application or the read models move, only this module changes."""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException, Request

from ledger.api.exports import every_page
from ledger.api.schemas import (  # noqa: F401  (re-exported: the forms validate with them,
    # and the downloads are shaped by the API's items)
    Assignment,
    AuditEventPublic,
    ChurnCasePublic,
    ChurnCreate,
    ClientCreate,
    Complaint,
    ContactCreate,
    DeterminationCreate,
    DigestCheck,
    DutyOverdue,
    ErasableClient,
    ErasureCreate,
    LeaderVisit,
    ReadPublic,
    TierChange,
    UnacknowledgedAssignment,
)
from ledger.application import Principal, check_role
from ledger.bootstrap import Container
from ledger.domain import (  # noqa: F401
    Forbidden,
    InvalidInput,
    LedgerError,
    NotFound,
    RuleViolation,
    values,
)
from ledger.domain.values import (  # noqa: F401  (the closed sets: the console keeps no copy)
    CHANNELS,
    CHURN_KINDS,
    CLIENT_STATUSES,
    OUTCOMES,
    PARTIES,
    PROFILE_FIELDS,
    SEGMENT_KEYS,
    SOURCES,
    TEAM_ROLES,
    TIERS,
    VIP_TIERS,
)
from ledger.integrity import Digest
from ledger.projections.audit import AuditQuery
from ledger.projections.churn_rulings import PENDING, party_outcomes  # noqa: F401
from ledger.projections.maintenance import (  # noqa: F401  (the API's defaults, not a copy)
    DEFAULT_MIN_ASSETS,
    DEFAULT_UNACKNOWLEDGED_DAYS,
)
from ledger.projections.roster import MAX_LIMIT

__all__ = ["AuditQuery", "Forbidden", "LedgerError", "NotFound", "Principal", "Sources"]

# Rows per read of a paged list (the maintenance view's and the audit log's largest page).
PAGE_LIMIT = values.MAX_LIMIT


class Sources:
    """The ledger and its read models as the console's pages need them."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.ledger = container.ledger
        self.settings = container.settings

    @classmethod
    def of(cls, request: Request) -> Sources:
        return cls(request.app.state.container)

    @property
    def views(self) -> Any:
        """The read models (`roster`, `accountability`, `reports`) the container built."""
        return self.container.views

    # ---- who is calling -------------------------------------------------------------

    def identify(self, token: str) -> Principal:
        """The principal of a token; 401 for an unknown or revoked one."""
        principal = self.container.identify(token)
        if principal is None:
            raise HTTPException(401, "the token is unknown or revoked")
        return principal

    def check_unit_scope(self, principal: Principal, unit_id: str) -> None:
        self.ledger.check_unit_scope(principal, unit_id)

    def check_client_scope(self, principal: Principal, client_id: str) -> None:
        self.ledger.check_client_scope(principal, client_id)

    def check_staff_read_scope(self, principal: Principal, staff_id: str) -> None:
        self.ledger.check_staff_read_scope(principal, staff_id)

    @staticmethod
    def check_role(principal: Principal, roles: tuple[str, ...]) -> None:
        check_role(principal, roles, "do this")

    # ---- the organisation -----------------------------------------------------------

    @property
    def position(self) -> int:
        return self.ledger.position

    def staff(self, staff_id: str) -> Any:
        return self.ledger.get_staff(staff_id)

    def unit_ancestry(self, unit_id: str) -> list[str]:
        return self.ledger.unit_ancestry(unit_id)

    def units(self) -> list[dict[str, Any]]:
        """Every unit of the tree `{unit_id, parent_id, name, kind}`, ordered by id."""
        tree = self.views.roster.units
        return tree.view.query(  # type: ignore[no-any-return]
            f"SELECT unit_id, parent_id, name, kind FROM {tree.prefix}_units ORDER BY unit_id"
        )

    def unit(self, unit_id: str) -> dict[str, Any]:
        return self.views.roster.units.unit(unit_id)  # type: ignore[no-any-return]

    def children(self, unit_id: str) -> list[str]:
        return self.views.roster.units.children(unit_id)  # type: ignore[no-any-return]

    # ---- clients ----------------------------------------------------------------------

    def client(
        self, client_id: str, *, as_of: datetime | None = None, known_at: datetime | None = None
    ) -> Any:
        return self.ledger.get_client(client_id, as_of=as_of, known_at=known_at)

    def client_unit(self, client_id: str) -> str:
        return self.ledger.client_unit(client_id)

    def history(self, client_id: str) -> list[Any]:
        return self.ledger.client_history(client_id)

    def record_read(self, principal: Principal, path: str, client_id: str) -> None:
        """The read log: `principal` was shown the client's personal data at `path`."""
        self.container.read_log.record(
            principal=principal.name, role=principal.role, path=path, client_id=client_id
        )

    def find_clients(self, text: str) -> list[str]:
        """Client ids by phone (text of digits) or by name, through the blind indexes."""
        digits = sum(ch.isdigit() for ch in text)
        kind = "phone" if digits >= 5 and not any(ch.isalpha() for ch in text) else "name"
        return self.ledger.find_clients(kind, text)  # type: ignore[no-any-return]

    def roster(self, unit_id: str, **filters: Any) -> dict[str, Any]:
        return self.views.roster.roster(unit_id, **filters)  # type: ignore[no-any-return]

    def roster_rows(self, unit_id: str, **filters: Any) -> Iterator[Mapping[str, Any]]:
        """Every matching roster row, page after page."""
        return every_page(
            lambda cursor: self.roster(unit_id, limit=MAX_LIMIT, cursor=cursor, **filters)
        )

    def roster_summary(self, unit_id: str, **when: Any) -> dict[str, Any]:
        return self.views.roster.roster_summary(unit_id, **when)  # type: ignore[no-any-return]

    # ---- accountability and reports ---------------------------------------------------

    def client_intervals(self, client_id: str) -> dict[str, Any]:
        return self.views.accountability.client_intervals(client_id)  # type: ignore[no-any-return]

    def churn_cases(self, **filters: Any) -> dict[str, Any]:
        return self.views.accountability.churn_cases(**filters)  # type: ignore[no-any-return]

    def churn_case(self, case_id: str) -> dict[str, Any]:
        return self.views.accountability.churn_case(case_id)  # type: ignore[no-any-return]

    def tier_growth(self, unit_id: str, start: datetime, end: datetime) -> dict[str, Any]:
        return self.views.roster.tier_growth(unit_id, start, end)  # type: ignore[no-any-return]

    def completeness(self, unit_id: str, *, target: float | None) -> dict[str, Any]:
        return self.views.reports.completeness(unit_id, target=target)  # type: ignore[no-any-return]

    def overdue_contacts(self, unit_id: str) -> dict[str, Any]:
        return self.views.reports.overdue_contacts(unit_id)  # type: ignore[no-any-return]

    def orphaned_clients(self, unit_id: str) -> dict[str, Any]:
        return self.views.reports.orphaned_clients(unit_id)  # type: ignore[no-any-return]

    def at_risk(self, unit_id: str) -> dict[str, Any]:
        """Every at-risk client of the unit (not a page), who would be accountable flattened
        beside its reasons."""
        view = self.views.maintenance
        rows = every_page(lambda after: view.at_risk(unit_id, limit=1000, cursor=after))
        return {"items": [{**row, **row["accountable"]} for row in rows]}

    def team_gaps(self, unit_id: str) -> dict[str, Any]:
        view = self.views.maintenance
        return {"items": list(every_page(lambda after: view.team_gaps(unit_id, cursor=after)))}

    def manager_portfolio(self, staff_id: str, start: datetime, end: datetime) -> dict[str, Any]:
        return self.views.reports.manager_portfolio(staff_id, start, end)  # type: ignore[no-any-return]

    def complaints(self, unit_id: str, start: datetime, end: datetime) -> dict[str, Any]:
        return self.views.reports.complaints(unit_id, start, end)  # type: ignore[no-any-return]

    def funnel(self, unit_id: str, start: datetime, end: datetime) -> dict[str, Any]:
        return self.views.reports.funnel(unit_id, start, end)  # type: ignore[no-any-return]

    # ---- the maintenance reports (DOMAIN.md 1.1) ----------------------------------------

    def maintenance_page(self, report: str, unit_id: str, **arguments: Any) -> dict[str, Any]:
        """A page (`{items, next_cursor}`) of one of the maintenance view's paged lists:
        `duties_overdue`, `leader_visits` or `unacknowledged_assignments`."""
        if report not in ("duties_overdue", "leader_visits", "unacknowledged_assignments"):
            raise ValueError(f"no paged maintenance report {report}")
        read = getattr(self.views.maintenance, report)
        return read(unit_id, **arguments)  # type: ignore[no-any-return]

    def referral_tree(self, client_id: str) -> dict[str, Any]:
        return self.views.maintenance.referral_tree(client_id)  # type: ignore[no-any-return]

    def referrals(self, unit_id: str, start: datetime, end: datetime) -> dict[str, Any]:
        return self.views.maintenance.referrals(unit_id, start, end)  # type: ignore[no-any-return]

    def segments(self, unit_id: str, by: str, *, as_of: datetime | None) -> dict[str, Any]:
        return self.views.maintenance.segments(unit_id, by, as_of=as_of)  # type: ignore[no-any-return]

    # ---- the audit desk -----------------------------------------------------------------

    def audit_events(
        self, query: AuditQuery, *, limit: int, cursor: str | None = None
    ) -> dict[str, Any]:
        """A page of the audit log, each event with its data read from the store."""
        page = self.views.audit.events(query, limit=limit, cursor=cursor)
        data = self.ledger.events_data(item["position"] for item in page["items"])
        items = [{**item, "data": data.get(item["position"], {})} for item in page["items"]]
        return {"items": items, "next_cursor": page["next_cursor"]}

    def reads(self, *, limit: int, cursor: str | None = None, **query: Any) -> dict[str, Any]:
        """A page of the read log: who was shown a client's personal data."""
        return self.container.read_log.reads(limit=limit, cursor=cursor, **query)  # type: ignore[no-any-return]

    def erasable(self, unit_id: str) -> list[dict[str, Any]]:
        """Churned clients of the unit's subtree whose retention period has passed."""
        self.unit(unit_id)
        roster = self.views.roster
        return self.ledger.erasable_of(lambda moment: roster.churned_before(unit_id, moment))  # type: ignore[no-any-return]

    # ---- integrity --------------------------------------------------------------------

    def digest(self) -> dict[str, Any]:
        return self.container.integrity.digest().as_dict()

    def verify(self, kept: dict[str, Any]) -> dict[str, Any]:
        """Verification against a kept digest (`{position, hash}`, and its tree head if it
        has one); ValueError for one that is not a digest."""
        digest = Digest.from_dict(kept)
        return self.container.integrity.verify(digest).as_dict()

    def bundle(self, client_id: str | None = None) -> Iterator[bytes]:
        """The offline bundle (JSON Lines) of the whole log, or of one client's events with
        their inclusion proofs; spooled to disk past 8 MB and streamed from it."""
        integrity = self.container.integrity
        # Closed by the stream below, once the response has sent it.
        spool = tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+b")  # noqa: SIM115
        text = io.TextIOWrapper(spool, encoding="utf-8")
        if client_id is None:
            integrity.export(text)
        else:
            positions = [e.position for e in self.history(client_id) if e.position is not None]
            integrity.export_events(text, positions, subject={"client_id": client_id})
        text.flush()
        text.detach()
        spool.seek(0)

        def stream() -> Iterator[bytes]:
            with spool:
                yield from iter(lambda: spool.read(1 << 16), b"")

        return stream()

    # ---- writes -----------------------------------------------------------------------

    def write(
        self,
        principal: Principal,
        command: str,
        fields: dict[str, Any],
        *,
        idempotency_key: str,
        fingerprint: str,
    ) -> Any:
        """Run a ledger command once per rendered form: a resend of the same form (same
        key, same fields) answers the first result and appends nothing. Then wait (bounded)
        until the read models hold the write, so the next page shows it."""
        run: Callable[..., Any] = getattr(self.ledger, command)
        if "client_id" in fields:  # a client command; the organisation's are admin's
            self.ledger.check_client_command(principal, command, fields)
        result, _ = self.ledger.idempotent(
            scope=principal.name,
            key=idempotency_key,
            fingerprint=fingerprint,
            write=lambda: run(**fields, recorded_by=principal.name),
        )
        self.container.runner.wait(result.position, timeout=self.settings.read_wait_seconds)
        return result


def fingerprint(path: str, fields: dict[str, str]) -> str:
    digest = hashlib.sha256(path.encode() + b"\n")
    for name in sorted(fields):
        digest.update(f"{name}={fields[name]}\n".encode())
    return digest.hexdigest()


def now() -> datetime:
    return datetime.now(UTC)
