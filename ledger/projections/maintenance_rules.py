"""The rules of layered maintenance, at-risk clients and referrals (DOMAIN.md 1.1), as pure
functions over one client's file: its timelines in effective time, as the maintenance read
model keeps them. Times are fixed-width UTC text, so text order is time order; every
timeline entry starts `[effective_at, seq, ...]` (`seq`: the event's place in the log), so
a backdated event lands in its place and ties resolve in recorded order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from ledger.domain.values import (
    ACTIVE,
    DESIGNATED_MANAGER,
    OUTLET_DIRECTOR,
    TEAM_BY_TIER,
    TIER_RANK,
    VIP_TIERS,
)
from ledger.projections.kit.text import from_utc_text, utc_text

ClientFile = dict[str, Any]
# Who leads (行领导): their visits are the leader visits of DOMAIN.md 1.1.
LEADER_ROLES: tuple[str, ...] = ("president", "vice_president", "outlet_director")
LEADER_CHANNELS: tuple[str, ...] = ("visit", "event")
# DOMAIN.md 1.1, At-risk board.
RISK_WINDOW = timedelta(days=90)
ASSETS_DOWN_SHARE = Decimal("0.2")


def plus_days(text: str, days: float) -> str:
    """The UTC text `days` after the UTC text `text`."""
    moment = from_utc_text(text)
    assert moment is not None
    return utc_text(moment + timedelta(days=days))


def new_file(client_id: str, unit_id: str, at: str, seq: int, tier: str) -> ClientFile:
    return {
        "client_id": client_id,
        "unit_id": unit_id,
        "registered_at": at,
        "tiers": [[at, seq, tier]],
        "statuses": [[at, seq, ACTIVE]],
        "team": {},
        "acks": [],
        "assets": [],
        "prefs": [],
    }


def insert(timeline: list[list[Any]], entry: list[Any]) -> None:
    """`entry` in its place by (effective_at, seq); the same seq again replaces nothing."""
    if any(item[1] == entry[1] and item[0] == entry[0] for item in timeline):
        return
    timeline.append(entry)
    timeline.sort(key=lambda item: (item[0], item[1]))


def value_at(timeline: Sequence[Sequence[Any]], at: str, index: int = 2) -> Any:
    """The value of the last entry in force at `at`, or None."""
    found = None
    for entry in timeline:
        if entry[0] > at:
            break
        found = entry[index]
    return found


@dataclass(frozen=True)
class Organisation:
    """What the rules need of staff and units: each staff member's role and departure, and
    each outlet's head appointments `[[effective_at, seq, staff_id]]`."""

    roles: Mapping[str, str] = field(default_factory=dict)
    departed: Mapping[str, str | None] = field(default_factory=dict)
    heads: Mapping[str, Sequence[Sequence[Any]]] = field(default_factory=dict)

    def active(self, staff_id: str | None, at: str) -> bool:
        if staff_id is None:
            return False
        departed = self.departed.get(staff_id)
        return departed is None or departed > at

    def head(self, unit_id: str, at: str) -> str | None:
        head = value_at(self.heads.get(unit_id, ()), at)
        return head if self.active(head, at) else None


def tier_at(file: ClientFile, at: str) -> str:
    return str(value_at(file["tiers"], at) or file["tiers"][0][2])


def status_at(file: ClientFile, at: str) -> str | None:
    """None before registration."""
    return value_at(file["statuses"], at)  # type: ignore[no-any-return]


def holder_at(file: ClientFile, role: str, at: str) -> str | None:
    return value_at(file["team"].get(role, ()), at)  # type: ignore[no-any-return]


def team_at(file: ClientFile, at: str, org: Organisation) -> dict[str, str | None]:
    """Each role the tier calls for and its active holder (None: vacant); the outlet
    director is the head of the client's outlet unless someone is assigned."""
    team: dict[str, str | None] = {}
    for role in TEAM_BY_TIER[tier_at(file, at)]:
        holder = holder_at(file, role, at)
        if holder is None and role == OUTLET_DIRECTOR:
            holder = org.head(file["unit_id"], at)
        team[role] = holder if org.active(holder, at) else None
    return team


def team_gaps(file: ClientFile, at: str, org: Organisation) -> list[str]:
    """The roles of a VIP client's team (by its tier) that nobody active holds."""
    if tier_at(file, at) not in VIP_TIERS:
        return []
    return [role for role, holder in team_at(file, at, org).items() if holder is None]


def assets_at(file: ClientFile, at: str) -> Decimal | None:
    amount = value_at(file["assets"], at)
    return Decimal(amount) if amount is not None else None


def assets_peak(file: ClientFile, start: str, end: str) -> Decimal | None:
    """The highest assets in force at any time in `[start, end]`."""
    amounts = [assets_at(file, start)] + [
        Decimal(entry[2]) for entry in file["assets"] if start < entry[0] <= end
    ]
    return max((a for a in amounts if a is not None), default=None)


def preferences_at(file: ClientFile, at: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for entry in file["prefs"]:
        if entry[0] > at:
            break
        for name, value in entry[2].items():
            if value is None:
                found.pop(name, None)
            else:
                found[name] = value
    return found


@dataclass(frozen=True)
class Contact:
    staff_id: str
    channel: str
    occurred_at: str


def falls_due(last_contact: str | None, registered_at: str, days: int) -> datetime:
    """When a contact cadence of `days` falls due (DOMAIN.md: overdue contacts, and each
    team role's duty): that many days after the latest contact that counts, or after the
    client's registration without one. The one home of the rule: the reports and the
    maintenance reports fold it at a time, and their standings keep its answer."""
    since = from_utc_text(last_contact or registered_at)
    assert since is not None
    return since + timedelta(days=days)


def duty_roles(staff_id: str, file: ClientFile, at: str, org: Organisation) -> set[str]:
    """The team roles a contact by `staff_id` counts for: the staff member's own role, and
    any team role they hold for the client at the time (under the all-staff client manager
    system a wealth manager may be the designated manager)."""
    roles = {role for role, holders in file["team"].items() if value_at(holders, at) == staff_id}
    own = org.roles.get(staff_id)
    if own is not None:
        roles.add(own)
    return roles


def duties_overdue(
    file: ClientFile,
    at: datetime,
    contacts: Iterable[Contact],
    org: Organisation,
    cadence: Mapping[str, Mapping[str, int]],
    role: str | None = None,
) -> list[dict[str, Any]]:
    """`[{client_id, tier, role, staff_id, last_contact_at, days_overdue}]`: the team roles
    whose cadence for the client's tier (`cadence[role][tier]` days) has lapsed at `at`
    since the latest contact counting for the role, or since registration."""
    moment = utc_text(at)
    if status_at(file, moment) != ACTIVE:
        return []
    tier = tier_at(file, moment)
    team = team_at(file, moment, org)
    last: dict[str, str] = {}
    for contact in contacts:
        if contact.occurred_at > moment:
            continue
        for counted in duty_roles(contact.staff_id, file, contact.occurred_at, org):
            if contact.occurred_at > last.get(counted, ""):
                last[counted] = contact.occurred_at
    items = []
    for duty, days_by_tier in cadence.items():
        days = days_by_tier.get(tier)
        # A vacant role is a team gap (`team_gaps`), not a duty someone has let lapse.
        if days is None or (role is not None and duty != role) or team.get(duty) is None:
            continue
        late = at - falls_due(last.get(duty), file["registered_at"], days)
        if late > timedelta(0):
            items.append(
                {
                    "client_id": file["client_id"],
                    "tier": tier,
                    "role": duty,
                    "staff_id": team[duty],
                    "last_contact_at": from_utc_text(last.get(duty)),
                    "days_overdue": late.days,
                }
            )
    return items


def last_leader_visit(
    file: ClientFile, start: str, end: str, contacts: Iterable[Contact], org: Organisation
) -> str | None:
    """The latest visit in `[start, end)` by a leader (president, vice president, outlet
    director) of the bank or of the client's team."""
    latest: str | None = None
    for contact in contacts:
        if not start <= contact.occurred_at < end or contact.channel not in LEADER_CHANNELS:
            continue
        roles = duty_roles(contact.staff_id, file, contact.occurred_at, org)
        if roles & set(LEADER_ROLES) and (latest is None or contact.occurred_at > latest):
            latest = contact.occurred_at
    return latest


def unacknowledged(file: ClientFile, before: str, at: str) -> dict[str, Any] | None:
    """The designated-manager assignment in force at `at` if it took effect before
    `before` and its assignee has not acknowledged it."""
    entry = None
    for item in file["team"].get(DESIGNATED_MANAGER, ()):
        if item[0] > at:
            break
        entry = item
    signed = {ack[2] for ack in file["acks"] if ack[0] <= at}
    if entry is None or entry[0] >= before or entry[3] in signed:
        return None
    return {
        "client_id": file["client_id"],
        "staff_id": entry[2],
        "event_id": entry[3],
        "effective_at": from_utc_text(entry[0]),
    }


def holders_within(file: ClientFile, role: str, start: str, end: str) -> list[str]:
    """Everyone who held `role` at some time in `[start, end]`, in the order they held it."""
    seen: list[str] = []
    timeline = file["team"].get(role, ())
    for index, entry in enumerate(timeline):
        until = timeline[index + 1][0] if index + 1 < len(timeline) else None
        if entry[0] <= end and (until is None or until > start) and entry[2] not in seen:
            seen.append(entry[2])
    return seen


class Moment:
    """The time a board is asked about and the times its rules compare with, as UTC text
    worked out once per question rather than once per client."""

    def __init__(self, at: datetime, lookback: timedelta) -> None:
        self.at = at
        self.text = utc_text(at)
        self.window_start = utc_text(at - RISK_WINDOW)
        self.lookback_start = utc_text(at - lookback)
        self._cutoffs: dict[int, str] = {}

    def days_before(self, days: int) -> str:
        cutoff = self._cutoffs.get(days)
        if cutoff is None:
            cutoff = self._cutoffs[days] = utc_text(self.at - timedelta(days=days))
        return cutoff


def risk_reasons(
    file: ClientFile,
    when: Moment,
    org: Organisation,
    *,
    last_contact: str | None,
    cadence: Mapping[str, int],
) -> list[str]:
    """Why an active VIP client is at risk at `when` (DOMAIN.md 1.1, At-risk board):
    `orphaned` (its designated manager has departed or it has none), `manager_departed` (a
    designated manager of the lookback has departed since, though it has a new one)."""
    moment = when.text
    tier = tier_at(file, moment)
    if status_at(file, moment) != ACTIVE or tier not in VIP_TIERS:
        return []
    reasons = []
    days = cadence.get(tier)
    if days is not None and (last_contact or file["registered_at"]) < when.days_before(days):
        reasons.append("contact_overdue")
    if team_gaps(file, moment, org):
        reasons.append("team_gap")
    manager = holder_at(file, DESIGNATED_MANAGER, moment)
    if not org.active(manager, moment):
        reasons.append("orphaned")
    else:
        earlier = holders_within(file, DESIGNATED_MANAGER, when.lookback_start, moment)
        if any(not org.active(staff, moment) for staff in earlier if staff != manager):
            reasons.append("manager_departed")
    then = when.window_start
    peak, now = assets_peak(file, then, moment), assets_at(file, moment)
    if peak and now is not None and (peak - now) / peak >= ASSETS_DOWN_SHARE:
        reasons.append("assets_down")
    if any(
        then < entry[0] <= moment and TIER_RANK[entry[2]] < TIER_RANK[tier_at(file, previous)]
        for entry, previous in _tier_steps(file)
    ):
        reasons.append("downgraded")
    return reasons


def _tier_steps(file: ClientFile) -> Iterable[tuple[list[Any], str]]:
    """Each tier change with the moment just before it (its previous entry's time)."""
    tiers = file["tiers"]
    for index in range(1, len(tiers)):
        yield tiers[index], tiers[index - 1][0]


def accountable(file: ClientFile, when: Moment, org: Organisation) -> dict[str, Any]:
    """Who would be accountable were the client lost at `when`: as a churn case would name
    them (DOMAIN.md, Accountability)."""
    moment = when.text
    manager = holder_at(file, DESIGNATED_MANAGER, moment)
    return {
        "designated_manager": manager,
        "unit_head": value_at(org.heads.get(file["unit_id"], ()), moment),
        "prior_holders": [
            staff
            for staff in holders_within(file, DESIGNATED_MANAGER, when.lookback_start, moment)
            if staff != manager
        ],
    }


def referral_tree(
    root: str, children: Mapping[str, Sequence[str]], *, limit: int = 100_000
) -> dict[str, Any]:
    """`{client_id, referred: [...]}` below `root`, any depth; a client met twice (a cycle
    in the data) is not followed again."""
    seen = {root}
    tree: dict[str, Any] = {"client_id": root, "referred": []}
    stack = [tree]
    while stack and len(seen) < limit:
        node = stack.pop()
        for child in sorted(children.get(node["client_id"], ())):
            if child in seen:
                continue
            seen.add(child)
            branch = {"client_id": child, "referred": []}
            node["referred"].append(branch)
            stack.append(branch)
    return tree
