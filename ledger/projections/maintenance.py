"""The maintenance read model (DOMAIN.md 1.1): layered duties, team gaps, leader visits,
unacknowledged assignments, the at-risk board, referrals and segments.

A read model of its own rather than more parts of `reports`: a new view starts from the
start of the log and catches up by itself, so a ledger that already runs gets these reports
from every event it holds, with no migration of the reports' tables.

What it keeps, and how a page is read, is in `maintenance_files.py`; the rules folded over
a client's file in `maintenance_rules.py` and `maintenance_filters.py`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ledger.domain.values import ACTIVE
from ledger.projections.kit import (
    BatchView,
    Part,
    RecordedTimes,
    StaffTable,
    UnitHeads,
    UnitTree,
    ViewProjection,
)
from ledger.projections.kit.text import from_utc_text, utc_text
from ledger.projections.maintenance_files import (
    MAX_LIMIT,
    PREFERENCES,
    Candidates,
    ClientFiles,
    Page,
)
from ledger.projections.maintenance_filters import condition, matches
from ledger.projections.maintenance_interface import (
    DEFAULT_LIMIT,
    DEFAULT_MIN_ASSETS,
    DEFAULT_UNACKNOWLEDGED_DAYS,
    MaintenanceView,
)
from ledger.projections.maintenance_known_reports import referrals_as_known, segments_as_known
from ledger.projections.maintenance_latest import LatestContacts
from ledger.projections.maintenance_rules import (
    LEADER_CHANNELS,
    ClientFile,
    Contact,
    Moment,
    Organisation,
    accountable,
    assets_at,
    duties_overdue,
    last_leader_visit,
    referral_tree,
    risk_reasons,
    status_at,
    team_gaps,
    tier_at,
    unacknowledged,
)
from ledger.projections.maintenance_standing import REPORT_COLUMNS
from ledger.projections.maintenance_standings import ClientStandings

__all__ = [
    "DEFAULT_LIMIT",
    "DEFAULT_MIN_ASSETS",
    "DEFAULT_UNACKNOWLEDGED_DAYS",
    "MAX_LIMIT",
    "PREFERENCES",
    "MaintenanceView",
    "SQLMaintenanceView",
]


class SQLMaintenanceView(BatchView, MaintenanceView):
    """Options: `cadence` (days per tier), `duty_cadence` (days per role and tier) and
    `churn_lookback_days` (from Settings). (Each query's signature repeats the interface's,
    as an implementation of an abstract method must.)"""

    view_name = "maintenance"
    # 2: a file's statements kept apart from it (`maintenance_assets`), which an earlier
    # version would not read or write.
    generation = 2
    # As known at a past time, fold every file of the subtree rather than the clients whose
    # standing moved since: what the tests hold the kept standings' answers to.
    fold_every_file = False

    def compose(self) -> list[Part]:
        # Recorded times: the reports read as known at a past time (API.md 1.1, Audit).
        self.units, self.recorded = UnitTree(self), RecordedTimes(self)
        self.staff = StaffTable(self, roles=True, recorded=self.recorded)
        self.heads = UnitHeads(self, vacancies=False)
        self.heads.listeners.append(
            lambda c, _, tracking, event: self.recorded.note(c, tracking, event)
        )
        self.latest = LatestContacts(self)
        self.files = ClientFiles(
            self, self.units, self.staff, self.heads, self.recorded, self.latest
        )
        self.standings = ClientStandings(self, self.files, self.staff, self.heads)
        # The latest contacts filled (an upgrade) before the standings read them.
        parts = [self.units, self.recorded, self.staff, self.heads, self.files, self.latest]
        return [*parts, self.standings]

    def _upto(self, known_at: datetime | None) -> int | None:
        return None if known_at is None else self.recorded.position_known_at(known_at)

    def _standing_page(
        self,
        unit_id: str,
        evaluate: Any,
        limit: int,
        cursor: str | None,
        at: str,
        condition: str,
        *params: Any,
        upto: int | None = None,
    ) -> Page:
        """A page of a report that reads no contacts, over `_standing` candidates."""
        candidates = self._standing(unit_id, at, condition, *params, upto=upto)
        return self.files.page(
            unit_id,
            evaluate,
            limit=limit,
            cursor=cursor,
            candidates=candidates,
            upto=upto,
        )

    def _standing(
        self, unit_id: str, at: str, condition: str, *params: Any, upto: int | None = None
    ) -> Candidates:
        """A page's clients: those whose standing meets `condition` at `at` (see
        `maintenance_standing.py`), and those that changed after `at`, folded anew; with
        `upto` (a report as known at a past time), and those whose standing moved after it
        (the standings are kept as of now)."""
        if upto is not None and self.fold_every_file:
            return self.files.subtree(unit_id)

        def read(after: str, size: int) -> list[dict[str, Any]]:
            where = f"s.stable_from > ? OR ({condition})"
            return self.standings.candidates(unit_id, where, (at, *params), after, size, upto=upto)

        return read

    def _lookback(self) -> timedelta:
        return timedelta(days=int(self.options["churn_lookback_days"]))

    def duties_overdue(
        self,
        unit_id: str,
        *,
        as_of: datetime | None = None,
        role: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        known_at: datetime | None = None,
    ) -> Page:
        at = as_of or datetime.now(UTC)
        cadence = self.options["duty_cadence"]
        due = "duty_due" if role is None else f"due_{role}"
        assert due in REPORT_COLUMNS, role
        upto = self._upto(known_at)
        return self.files.page(
            unit_id,
            lambda file, contacts, org: duties_overdue(file, at, contacts, org, cadence, role),
            contacts=lambda keys: self.files.contacts(keys, _just_after(at), upto=upto),
            limit=limit,
            cursor=cursor,
            candidates=self._standing(
                unit_id, utc_text(at), f"s.{due} < ?", utc_text(at), upto=upto
            ),
            upto=upto,
        )

    def team_gaps(
        self,
        unit_id: str,
        *,
        as_of: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        known_at: datetime | None = None,
    ) -> Page:
        moment = utc_text(as_of or datetime.now(UTC))

        def evaluate(file: ClientFile, _: list[Contact], org: Organisation) -> list[dict[str, Any]]:
            if status_at(file, moment) != ACTIVE:
                return []
            missing = team_gaps(file, moment, org)
            if not missing:
                return []
            return [
                {"client_id": file["client_id"], "tier": tier_at(file, moment), "missing": missing}
            ]

        return self._standing_page(
            unit_id, evaluate, limit, cursor, moment, "s.gap = 1", upto=self._upto(known_at)
        )

    def leader_visits(
        self,
        unit_id: str,
        start: datetime,
        end: datetime,
        *,
        min_assets: Decimal,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        known_at: datetime | None = None,
    ) -> Page:
        low, high = utc_text(start), utc_text(end)
        # Assets in force just before `end`: the period's last statement.
        last_moment = utc_text(end - timedelta(microseconds=1))

        def evaluate(
            file: ClientFile, contacts: list[Contact], org: Organisation
        ) -> list[dict[str, Any]]:
            assets = assets_at(file, last_moment)
            if status_at(file, last_moment) != ACTIVE or assets is None or assets < min_assets:
                return []
            visit = last_leader_visit(file, low, high, contacts, org)
            return [
                {
                    "client_id": file["client_id"],
                    "assets": str(assets),
                    "visited_by_leader": visit is not None,
                    "last_leader_visit_at": from_utc_text(visit),
                }
            ]

        # Floats below the amount by more than their rounding: a prefilter. A client that
        # changed after `end` may have had, then, any assets up to its largest statement.
        floor = float(min_assets) * 0.999

        def read(after: str, size: int) -> list[dict[str, Any]]:
            where = (
                "(s.stable_from > ? AND s.peak_value >= ?) "
                "OR (s.active = 1 AND s.assets_value >= ?)"
            )
            params = (last_moment, floor, floor)
            return self.standings.candidates(unit_id, where, params, after, size, upto=upto)

        upto = self._upto(known_at)
        return self.files.page(
            unit_id,
            evaluate,
            limit=limit,
            cursor=cursor,
            candidates=self.files.subtree(unit_id)
            if upto is not None and self.fold_every_file
            else read,
            # A visit of the period is a group's latest before its end if any is.
            contacts=lambda keys: self.files.contacts(
                keys, high, since=low, channels=LEADER_CHANNELS, upto=upto
            ),
            upto=upto,
        )

    def unacknowledged_assignments(
        self,
        unit_id: str,
        *,
        older_than_days: int,
        as_of: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        known_at: datetime | None = None,
    ) -> Page:
        at = as_of or datetime.now(UTC)
        moment, before = utc_text(at), utc_text(at - timedelta(days=older_than_days))

        def evaluate(file: ClientFile, _: list[Contact], org: Organisation) -> list[dict[str, Any]]:
            if status_at(file, moment) != ACTIVE:
                return []
            found = unacknowledged(file, before, moment)
            return [found] if found else []

        return self._standing_page(
            unit_id,
            evaluate,
            limit,
            cursor,
            moment,
            "s.unack_at < ?",
            before,
            upto=self._upto(known_at),
        )

    def at_risk(
        self,
        unit_id: str,
        *,
        as_of: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        known_at: datetime | None = None,
    ) -> Page:
        when = Moment(as_of or datetime.now(UTC), self._lookback())
        cadence: dict[str, int] = self.options["cadence"]

        def evaluate(
            file: ClientFile, contacts: list[Contact], org: Organisation
        ) -> list[dict[str, Any]]:
            last = max((c.occurred_at for c in contacts), default=None)
            reasons = risk_reasons(file, when, org, last_contact=last, cadence=cadence)
            if not reasons:
                return []
            return [
                {
                    "client_id": file["client_id"],
                    "tier": tier_at(file, when.text),
                    "reasons": reasons,
                    "accountable": accountable(file, when, org),
                }
            ]

        upto = self._upto(known_at)
        return self.files.page(
            unit_id,
            evaluate,
            contacts=lambda keys: self.files.contacts(
                keys, _just_after(when.at), latest_only=True, upto=upto
            ),
            limit=limit,
            cursor=cursor,
            candidates=self._standing(
                unit_id,
                when.text,
                "s.board_always = 1 OR s.board_due < ? OR s.board_until > ?",
                when.text,
                when.text,
                upto=upto,
            ),
            upto=upto,
        )

    def referral_tree(self, client_id: str) -> dict[str, Any]:
        return referral_tree(client_id, self.files.referred(client_id))

    def referrals(
        self, unit_id: str, start: datetime, end: datetime, known_at: datetime | None = None
    ) -> dict[str, Any]:
        """Clients of the subtree registered in `[start, end)` through a referrer, credited
        to the referrer's designated manager at the registration (以点带面), with their
        assets at `end`."""
        self.units.unit(unit_id)
        upto = self._upto(known_at)
        if upto is not None and self.fold_every_file:
            return referrals_as_known(self, self.view_name, unit_id, start, end, upto)
        return self.standings.referrals(unit_id, utc_text(start), utc_text(end), upto)

    def segments(
        self,
        unit_id: str,
        by: str,
        *,
        as_of: datetime | None = None,
        known_at: datetime | None = None,
    ) -> dict[str, Any]:
        moment = utc_text(as_of or datetime.now(UTC))
        upto = self._upto(known_at)
        if upto is not None and self.fold_every_file:
            return segments_as_known(self.files, unit_id, by, moment, upto)
        self.units.unit(unit_id)
        return self.standings.segments(unit_id, by, moment, upto)

    def matching(
        self,
        unit_id: str,
        filters: dict[str, Any],
        *,
        as_of: datetime | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page:
        moment = utc_text(as_of or datetime.now(UTC))

        def evaluate(file: ClientFile, _: list[Contact], org: Organisation) -> list[str]:
            return [file["client_id"]] if matches(file, filters, moment) else []

        where, params = condition(filters)
        return self._standing_page(unit_id, evaluate, limit, cursor, moment, where, *params)


def _just_after(at: datetime) -> str:
    """Contacts up to and including `at`: those before the next microsecond."""
    return utc_text(at + timedelta(microseconds=1))


class MaintenanceProjection(ViewProjection):
    name = "maintenance"
