"""Every body and answer of the HTTP contract, so /openapi.json describes all of it.

Closed sets are Literals and identifiers carry their pattern here, for the documentation;
the domain checks everything again, so a rule lives in one place even if this drifts.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
)

from ledger.domain.api_key import ROLES as KEY_ROLES
from ledger.domain.campaign import MAX_ATTENDEES
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


# ---- problems -------------------------------------------------------------------------


class FieldError(BaseModel):
    field: str
    message: str
    line: int | None = Field(default=None, description="the line of an imported file")


class Problem(BaseModel):
    """RFC 9457 problem details, served as application/problem+json."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None
    rule: str | None = Field(default=None, description="the domain rule a 409 violates")


# ---- writes ---------------------------------------------------------------------------


class ImportPublic(BaseModel):
    """A name list written: how many rows, clients written, clients already held."""

    rows: int
    imported: int
    skipped: int
    events: int
    position: int = Field(description="the log's position after the import (for `after=`)")


class WritePublic(BaseModel):
    id: str = Field(description="the aggregate's business id (client, staff, unit or key id)")
    event_id: str
    type: str = Field(description="the event's past-tense name, e.g. TierChanged")
    version: int = Field(description="the aggregate's version after the write")
    position: int = Field(description="the event's place in the global log")
    recorded_at: AwareDatetime
    recorded_by: str


# ---- organisation ---------------------------------------------------------------------


class UnitCreate(Body):
    unit_id: Identifier
    name: Name
    kind: UnitKind
    parent_id: Identifier | None = None


class HeadAppointment(Body):
    staff_id: Identifier
    effective_at: Moment


class UnitPublic(BaseModel):
    unit_id: str
    name: str
    kind: UnitKind
    parent_id: str | None
    head_staff_id: str | None
    children: list[str]
    version: int


class StaffCreate(Body):
    staff_id: Identifier
    name: Name
    unit_id: Identifier
    role: StaffRole
    effective_at: Moment | None = None


class StaffTransfer(Body):
    unit_id: Identifier
    effective_at: Moment


class StaffDeparture(Body):
    effective_at: Moment
    reason: Text


class StaffPublic(BaseModel):
    staff_id: str
    name: str
    unit_id: str
    role: StaffRole
    status: StaffStatus
    version: int


# ---- clients --------------------------------------------------------------------------


class ClientCreate(Body):
    client_id: Identifier
    name: Name
    unit_id: Identifier = Field(description="the client's home unit, an outlet")
    tier: Tier = "standard"
    occurred_at: Moment | None = Field(default=None, description="defaults to now")
    source: Source | None = None
    referred_by: Identifier | None = Field(default=None, description="a referring client id")


class Acknowledgement(Body):
    """Empty: the assignment is in the path and the assignee is the caller."""


class ProspectCreate(Body):
    prospect_id: Identifier
    name: Name
    unit_id: Identifier = Field(description="the outlet the prospect would be a client of")
    source: Source
    owner_staff_id: Identifier
    occurred_at: Moment | None = Field(default=None, description="defaults to now")


class ProspectConversion(Body):
    client_id: Identifier
    tier: Tier = "standard"
    occurred_at: Moment | None = Field(default=None, description="defaults to now")


class ProspectDrop(Body):
    reason: Text
    effective_at: Moment | None = Field(default=None, description="defaults to now")


class CampaignCreate(Body):
    campaign_id: Identifier
    name: Name
    channel: Channel
    staff_id: Identifier = Field(description="the staff member who ran it")
    occurred_at: Moment | None = Field(default=None, description="defaults to now")
    client_ids: list[Identifier] = Field(
        min_length=1, max_length=MAX_ATTENDEES, description="the attending clients"
    )


KeyInformation = Annotated[str, Field(max_length=500, description=ONE_LINE), OneLine] | None
ProfileNote = Annotated[str, Field(max_length=500, description=FREE_TEXT), FreeText] | None


class ClientProfileUpdate(Body):
    """Only the fields sent change; `null` clears a field."""

    address: KeyInformation = None
    phone: KeyInformation = None
    employer: KeyInformation = None
    risk_appetite: RiskAppetite | None = None
    business_interests: ProfileNote = None
    product_horizon: ProfileNote = None
    personality: ProfileNote = None
    hobbies: ProfileNote = None
    specialties: ProfileNote = None
    effective_at: Moment | None = Field(default=None, description="defaults to now")


class AssetsReport(Body):
    amount: Amount
    as_of: Day


class TierChange(Body):
    tier: Tier
    reason: Text
    effective_at: Moment


class Assignment(Body):
    staff_id: Identifier
    role: TeamRole = "client_manager"
    reason: Text
    effective_at: Moment


class ContactCreate(Body):
    channel: Channel
    staff_id: Identifier
    occurred_at: Moment
    purpose: Annotated[str, Field(max_length=500, description=FREE_TEXT), FreeText] | None = None
    summary: OptionalText | None = None
    satisfaction: (
        Annotated[
            StrictInt, Field(ge=1, le=5, description="the client's satisfaction, 1 (poor) to 5")
        ]
        | None
    ) = None
    complaint: Annotated[StrictBool, Field(description="the client complained")] = False


class ChurnCreate(Body):
    kind: ChurnKind
    reason: Text
    effective_at: Moment


class Reactivation(Body):
    reason: Text
    effective_at: Moment


class Retraction(Body):
    event_id: Annotated[str, Field(min_length=1, max_length=64), OneLine]
    reason: Text


class AssetsPublic(BaseModel):
    amount: Money
    as_of: date


class ClientPublic(BaseModel):
    client_id: str
    name: str | None = Field(description="null once erased, as every personal field")
    unit_id: str
    tier: Tier
    status: Status
    designated_manager: str | None
    team: dict[str, str] = Field(description="team role -> staff id")
    profile: dict[str, str] | None
    assets: AssetsPublic | None
    last_contact_at: AwareDatetime | None
    version: int
    source: str | None = None
    referred_by: str | None = None
    erased: bool = Field(default=False, description="the client's personal data was erased")


class HistoryEventPublic(BaseModel):
    event_id: str
    type: str
    version: int
    position: int | None
    occurred_at: AwareDatetime
    recorded_at: AwareDatetime
    recorded_by: str
    data: dict[str, Any]
    retracted_by: str | None


class ErasureCreate(Body):
    reason: Text
    legal_basis: Text


class ErasableClient(BaseModel):
    client_id: str
    churned_at: AwareDatetime
    retained_until: AwareDatetime


class ErasablePublic(BaseModel):
    unit_id: str
    items: list[ErasableClient]


class ClientHistoryPublic(BaseModel):
    client_id: str
    events: list[HistoryEventPublic]


# ---- accountability (writes) ------------------------------------------------------------


class DeterminationCreate(Body):
    outcome: Outcome
    reason: Text
    party: Party | None = Field(
        default=None,
        description="the party the determination is on (pursued separately); none: the whole case",
    )
    client_id: Identifier | None = Field(
        default=None,
        description=(
            "not needed: the churn-case read model resolves the case to its client; if "
            "sent, it must name that client"
        ),
    )


# ---- projections: rosters ---------------------------------------------------------------


class TierCounts(BaseModel):
    standard: int
    gold: int
    platinum: int
    diamond: int


class RosterItem(BaseModel):
    client_id: str
    name: str | None = Field(description="null once the client's personal data is erased")
    unit_id: str
    tier: Tier
    status: Status
    designated_manager: str | None


class RosterPage(BaseModel):
    items: list[RosterItem]
    next_cursor: str | None = Field(
        description="pass it as `cursor` for the next page; null on the last page"
    )


class RosterSummaryPublic(BaseModel):
    unit_id: str
    as_of: AwareDatetime
    known_at: AwareDatetime | None = Field(
        default=None, description="the recorded time the counts were read as of (null: now)"
    )
    counts: TierCounts = Field(description="active clients of the unit's subtree per tier")
    vip: int = Field(description="gold, platinum and diamond together")


# ---- projections: accountability ---------------------------------------------------------


class _FromTo(BaseModel):
    # `from` is a Python keyword: the fields are named start/end and serialised by alias.
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class IntervalPublic(_FromTo):
    role: TeamRole
    staff_id: str
    start: AwareDatetime = Field(alias="from")
    end: AwareDatetime | None = Field(alias="to", description="null while the role is held")


class ClientIntervalsPublic(BaseModel):
    client_id: str
    intervals: list[IntervalPublic]


class ResponsiblePublic(BaseModel):
    client_id: str
    at: AwareDatetime
    designated_manager: str | None
    team: dict[str, str] = Field(description="team role -> staff id at `at`")
    unit_head: str | None


class CaseFactsPublic(BaseModel):
    accountability_tier: Tier | None
    designated_manager: str | None
    unit_head: str | None
    prior_holders: list[str]


class DeterminationPublic(BaseModel):
    party: Party | None = Field(description="null: the whole case")
    outcome: Outcome
    reason: str
    event_id: str
    decided_at: AwareDatetime
    decided_by: str
    recorded_at: AwareDatetime
    recorded_by: str
    facts: CaseFactsPublic | None = Field(
        description="the case's facts it was made on (null for one made before 1.1)"
    )
    stale: bool = Field(description="the case's facts have changed since")


class LateChangePublic(BaseModel):
    event_id: str
    type: str
    effective_at: AwareDatetime
    recorded_at: AwareDatetime
    recorded_by: str


class ChurnCasePublic(BaseModel):
    case_id: str = Field(description="the churn event's event_id")
    client_id: str
    unit_id: str
    kind: ChurnKind
    effective_at: AwareDatetime
    fiscal_year: int
    accountability_tier: Tier | None = Field(
        description="the highest tier held in the fiscal year up to the churn"
    )
    in_scope: bool
    designated_manager: str | None
    unit_head: str | None
    prior_holders: list[str]
    determination: DeterminationPublic | None = Field(description="the latest, which stands")
    determinations: list[DeterminationPublic] = Field(
        description="the latest per party (party null: the whole case)"
    )
    determination_history: list[DeterminationPublic] = Field(
        description="all of them, oldest first"
    )
    pending: bool = Field(
        description="in scope, and no determination that is not stale covers every party"
    )
    late_changes: list[LateChangePublic] = Field(
        description="events that moved the case's facts, recorded after the churn or late"
    )


class ChurnCasesPublic(BaseModel):
    items: list[ChurnCasePublic]
    next_cursor: str | None = Field(
        default=None, description="pass it as `cursor` for the next page; null on the last page"
    )


class PartyCounts(BaseModel):
    as_designated_manager: int
    as_unit_head: int


class StaffRecordPublic(BaseModel):
    staff_id: str
    fiscal_year: int
    as_designated_manager: int
    as_unit_head: int
    as_prior_holder: int
    confirmed: PartyCounts
    waived: PartyCounts
    pending: PartyCounts
    known_at: AwareDatetime | None = None


# ---- projections: reports -----------------------------------------------------------------


class GrowthPublic(BaseModel):
    start: int
    end: int
    change: int
    growth_rate: float | None = Field(description="change / start, e.g. 0.1478; null if start is 0")


class SiblingRank(BaseModel):
    unit_id: str
    vip_growth_rate: float | None


class TierGrowthPublic(_FromTo):
    unit_id: str
    start: AwareDatetime = Field(alias="from")
    end: AwareDatetime = Field(alias="to")
    tiers: dict[str, GrowthPublic]
    vip: GrowthPublic
    share_of_parent: dict[str, float | None]
    sibling_ranking: list[SiblingRank]


class CompletenessByUnit(BaseModel):
    unit_id: str
    vip_active: int
    complete: int
    rate: float | None


class CompletenessPublic(BaseModel):
    unit_id: str
    vip_active: int
    complete: int
    rate: float | None
    target: float
    meets_target: bool
    by_unit: list[CompletenessByUnit]


class OverdueContact(BaseModel):
    client_id: str
    tier: Tier
    last_contact_at: AwareDatetime | None = Field(description="null: never contacted")
    days_overdue: int
    designated_manager: str | None


class OverdueContactsPublic(BaseModel):
    items: list[OverdueContact]
    next_cursor: str | None = Field(
        description="pass it as `cursor` for the next page; null on the last page"
    )


class OrphanedClient(BaseModel):
    client_id: str
    tier: Tier
    former_manager: str
    since: AwareDatetime = Field(description="the designated manager's departure")


class OrphanedClientsPublic(BaseModel):
    items: list[OrphanedClient]
    next_cursor: str | None = Field(
        description="pass it as `cursor` for the next page; null on the last page"
    )


class FunnelStage(BaseModel):
    prospects: int
    converted: int
    dropped: int
    conversion_rate: float | None = Field(description="converted / prospects; null: none")


class FunnelPublic(_FromTo):
    unit_id: str
    start: AwareDatetime = Field(alias="from")
    end: AwareDatetime = Field(alias="to")
    by_source: dict[Source, FunnelStage]


class Complaint(BaseModel):
    client_id: str
    staff_id: str = Field(description="who took the contact")
    designated_manager: str | None = Field(description="the client's manager at the time")
    occurred_at: AwareDatetime
    summary: str | None = Field(description="what was said; null once the client is erased")


class ComplaintsPublic(BaseModel):
    items: list[Complaint]
    by_manager: dict[str, int] = Field(description="complaints per designated manager")


class ManagerPortfolioPublic(_FromTo):
    staff_id: str
    start: AwareDatetime = Field(alias="from")
    end: AwareDatetime = Field(alias="to")
    clients: TierCounts = Field(description="active clients held as designated manager at `to`")
    assets_change: Money


# ---- integrity -------------------------------------------------------------------------


class DigestPublic(BaseModel):
    position: int = Field(description="the latest position of the log (0 when empty)")
    hash: str = Field(description="the chain hash at that position, 64 hex digits")
    recorded_at: AwareDatetime | None
    tree_size: int = Field(description="leaves of the Merkle tree: the events up to position")
    root_hash: str = Field(description="RFC 9162 Merkle tree hash of those leaves, 64 hex digits")


class DigestCheck(Body):
    position: int = Field(ge=0, le=2**62, strict=True)
    hash: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="64 hex digits")
    # A digest kept from GET /v1/integrity/digest is sent back as it was; its time is
    # informational and plays no part in the check.
    recorded_at: Moment | None = None
    # Its tree head, when given, is checked too: the tree recomputed from the events.
    tree_size: int | None = Field(default=None, ge=0, le=2**62, strict=True)
    root_hash: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")


class VerificationPublic(BaseModel):
    ok: bool
    checked: int = Field(description="events that hashed correctly before the first mismatch")
    first_mismatch: int | None


class InclusionProofPublic(BaseModel):
    position: int
    leaf_index: int = Field(description="the event's place among the log's events, from 0")
    tree_size: int
    root_hash: str
    leaf_hash: str = Field(description="SHA-256(0x00 || the event's canonical bytes)")
    audit_path: list[str] = Field(description="RFC 9162 2.1.3 inclusion proof, leaf upward")


class ConsistencyProofPublic(BaseModel):
    first: int
    second: int
    first_root: str
    second_root: str
    proof: list[str] = Field(description="RFC 9162 2.1.4 consistency proof")


# ---- API keys --------------------------------------------------------------------------


class ApiKeyCreate(Body):
    role: KeyRole
    staff_id: Identifier | None = Field(
        default=None, description="required for a manager: the staff member it acts as"
    )
    label: Name
    expires_at: Moment | None = Field(default=None, description="refused with 401 from then on")


class ApiKeyIssued(WritePublic):
    key_id: str
    token: str = Field(description="shown once; send it as `Authorization: Bearer <token>`")
    role: KeyRole
    staff_id: str | None
    label: str
    expires_at: datetime | None = None


class ApiKeyPublic(BaseModel):
    key_id: str
    role: KeyRole
    staff_id: str | None
    label: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(
        description="to the minute, as this process saw it (not kept across restarts)"
    )


class ApiKeysPublic(BaseModel):
    items: list[ApiKeyPublic]


# ---- health ----------------------------------------------------------------------------


class HealthPublic(BaseModel):
    status: Literal["ok", "degraded"]
    store: str
    position: int
    projections: dict[str, int]
    errors: dict[str, str] = Field(
        default_factory=dict,
        description="per read model stopped on an event: the position and the error "
        "(it is retried with backoff; `status` is then `degraded`, answered with 503)",
    )
    warnings: dict[str, str] = Field(
        default_factory=dict,
        description="`chain`: the first position the hash chain does not cover (a store "
        "from before the chain, until `ledger chain backfill`); `status` stays `ok`",
    )


# ---- audit --------------------------------------------------------------------------------


class AuditEventPublic(BaseModel):
    position: int
    event_id: str
    aggregate_id: str = Field(description="the business id (client, unit, staff, key id)")
    aggregate_type: str
    type: str
    version: int
    occurred_at: AwareDatetime = Field(description="the effective time")
    recorded_at: AwareDatetime
    recorded_by: str
    data: dict[str, Any]


class AuditEventsPage(BaseModel):
    items: list[AuditEventPublic]
    next_cursor: str | None = Field(
        description="pass it as `cursor` for the next page; null on the last page"
    )


class ReadPublic(BaseModel):
    at: AwareDatetime
    principal: str
    role: KeyRole
    path: str
    client_id: str


class ReadsPage(BaseModel):
    items: list[ReadPublic]
    next_cursor: str | None = Field(
        description="pass it as `cursor` for the next page; null on the last page"
    )


# ---- the maintenance read model (DOMAIN.md 1.1) ------------------------------------------


class _Paged(BaseModel):
    next_cursor: str | None = Field(description="the next page's cursor; null on the last page")


class DutyOverdue(BaseModel):
    client_id: str
    tier: Tier
    role: TeamRole
    staff_id: str | None = Field(description="who holds the role; null: vacant")
    last_contact_at: AwareDatetime | None = Field(description="null: never, for this role")
    days_overdue: int


class DutiesOverduePublic(_Paged):
    items: list[DutyOverdue]


class TeamGap(BaseModel):
    client_id: str
    tier: Tier
    missing: list[TeamRole]


class TeamGapsPublic(_Paged):
    items: list[TeamGap]


class LeaderVisit(BaseModel):
    client_id: str
    assets: Money
    visited_by_leader: bool
    last_leader_visit_at: AwareDatetime | None


class LeaderVisitsPublic(_Paged):
    items: list[LeaderVisit]


class UnacknowledgedAssignment(BaseModel):
    client_id: str
    staff_id: str
    event_id: str
    effective_at: AwareDatetime


class UnacknowledgedAssignmentsPublic(_Paged):
    items: list[UnacknowledgedAssignment]


class Accountable(BaseModel):
    designated_manager: str | None
    unit_head: str | None
    prior_holders: list[str]


class AtRiskClient(BaseModel):
    client_id: str
    tier: Tier
    reasons: list[RiskReason]
    accountable: Accountable


class AtRiskPublic(_Paged):
    items: list[AtRiskClient]


class ReferralNode(BaseModel):
    client_id: str
    referred: list[ReferralNode]


class ReferralManager(BaseModel):
    staff_id: str | None = Field(description="the referrer's designated manager; null: none")
    clients: int
    assets: Money


class ReferralTotal(BaseModel):
    clients: int
    assets: Money


class ReferralsPublic(BaseModel):
    by_manager: list[ReferralManager]
    total: ReferralTotal


class Segment(BaseModel):
    clients: int
    assets: Money


class SegmentsPublic(BaseModel):
    by: SegmentKey
    segments: dict[str, Segment]
