"""A client's standing: what the maintenance reports would say of it at any time from its
last change on, worked out once when it changes rather than for every client a report
visits. Pure, like `maintenance_rules.py`, and made of those rules.

A report's answer for a client is fixed by the client's file, its contacts and the
organisation, and moves with time only through deadlines: a duty falls due, a window of 90
days or of the lookback closes. From the latest effective time of everything it depends on
(`stable_from`) the answer at a time T is therefore a comparison of T with a few times kept
here: listed when `due < T` (a cadence has lapsed) or `T < until` (a window still covers a
change), or always (`gap`). Before `stable_from` (time travel, or an event dated a few
minutes ahead) the reports fold the file as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

from ledger.domain.values import (
    ACTIVE,
    DESIGNATED_MANAGER,
    SEGMENT_KEYS,
    TEAM_ROLES,
    TIER_RANK,
    VIP_TIERS,
)
from ledger.projections.kit.text import utc_text
from ledger.projections.maintenance_assets import asset_facts
from ledger.projections.maintenance_filters import segment_of
from ledger.projections.maintenance_rules import (
    RISK_WINDOW,
    ClientFile,
    Contact,
    Organisation,
    duty_roles,
    falls_due,
    holder_at,
    plus_days,
    status_at,
    team_at,
    team_gaps,
    tier_at,
)

# The report columns of a standing, in table order (`due_<role>`: that role's duty).
REPORT_COLUMNS: tuple[str, ...] = (
    "stable_from",
    "active",
    "board_always",
    "board_due",
    "board_until",
    "gap",
    "duty_due",
    *(f"due_{role}" for role in TEAM_ROLES),
    "unack_at",
)
SEGMENT_COLUMNS: tuple[str, ...] = (*(f"seg_{key}" for key in SEGMENT_KEYS), "assets")
# What the roster's filters look at besides the segments (`maintenance_filters.condition`).
FILTER_COLUMNS: tuple[str, ...] = ("manager", "assets_value", "peak_value")
# What the referral report reads: `referral_manager` is the referrer's designated manager
# at the client's registration; `assets_from` when the latest statement took effect.
REFERRAL_COLUMNS: tuple[str, ...] = (
    "registered_at",
    "referred_by",
    "referral_manager",
    "assets_from",
)


def stable_from(file: ClientFile, contacts: Iterable[Contact], org: Organisation) -> str:
    """The latest effective time of anything the reports read of the client: its file, its
    contacts, the departures of everyone ever on its team, and its outlet's heads (with
    their departures)."""
    times = [file["registered_at"]]
    for name in ("tiers", "statuses", "acks", "prefs"):
        times.extend(entry[0] for entry in file[name])
    latest = asset_facts(file)["latest"]  # statements are in effective order
    if latest is not None:
        times.append(latest[0])
    for timeline in file["team"].values():
        for entry in timeline:
            times.append(entry[0])
            times.append(org.departed.get(entry[2]) or "")
    for entry in org.heads.get(file["unit_id"], ()):
        times.append(entry[0])
        times.append(org.departed.get(entry[2]) or "")
    times.extend(contact.occurred_at for contact in contacts)
    return max(times)


def standing(
    file: ClientFile,
    contacts: list[Contact],
    org: Organisation,
    options: Mapping[str, Any],
    referrer: ClientFile | None = None,
) -> dict[str, Any]:
    """The report, segment, filter and referral columns of a client, as from
    `stable_from`; `referrer`: the file of the client that referred it, if any."""
    at = stable_from(file, contacts, org)
    active = status_at(file, at) == ACTIVE
    tier = tier_at(file, at)
    facts = asset_facts(file)
    latest = facts["latest"] or (None, None)
    row: dict[str, Any] = dict.fromkeys(REPORT_COLUMNS)
    row.update(stable_from=at, active=int(active), board_always=0, gap=0)
    row.update(
        {f"seg_{key}": (segment_of(file, key, at) or "unknown") for key in SEGMENT_KEYS},
        assets=latest[1],
        manager=holder_at(file, DESIGNATED_MANAGER, at),
    )
    row["assets_value"] = None if row["assets"] is None else float(row["assets"])
    row.update(
        registered_at=file["registered_at"],
        referred_by=file.get("referred_by"),
        referral_manager=(
            holder_at(referrer, DESIGNATED_MANAGER, file["registered_at"]) if referrer else None
        ),
        assets_from=latest[0],
    )
    # The largest statement ever: what assets at a time before `stable_from` can reach.
    row["peak_value"] = facts["peak"]
    if not active:
        return row
    row.update(_duties(file, at, contacts, org, options["duty_cadence"]))
    row["unack_at"] = _unacknowledged_since(file)
    if tier in VIP_TIERS:
        gaps = bool(team_gaps(file, at, org))
        row["gap"] = int(gaps)
        orphaned = not org.active(holder_at(file, DESIGNATED_MANAGER, at), at)
        row["board_always"] = int(gaps or orphaned)
        days = options["cadence"].get(tier)
        if days is not None:
            last = max((c.occurred_at for c in contacts), default=None)
            row["board_due"] = utc_text(falls_due(last, file["registered_at"], days))
        lookback = timedelta(days=int(options["churn_lookback_days"]))
        windows = [
            *([] if orphaned else _departed_managers_until(file, at, org, lookback)),
            *facts["down_until"],
            *_downgraded_until(file),
        ]
        row["board_until"] = max(windows, default=None)
    return row


def _duties(
    file: ClientFile,
    at: str,
    contacts: list[Contact],
    org: Organisation,
    cadence: Mapping[str, Mapping[str, int]],
) -> dict[str, str | None]:
    """When each held role's duty falls due (`duties_overdue` lists it once it has)."""
    tier, team = tier_at(file, at), team_at(file, at, org)
    last: dict[str, str] = {}
    for contact in contacts:
        for counted in duty_roles(contact.staff_id, file, contact.occurred_at, org):
            if contact.occurred_at > last.get(counted, ""):
                last[counted] = contact.occurred_at
    due: dict[str, str | None] = {}
    for duty, days_by_tier in cadence.items():
        days = days_by_tier.get(tier)
        if days is not None and team.get(duty) is not None:
            due[f"due_{duty}"] = utc_text(falls_due(last.get(duty), file["registered_at"], days))
    due["duty_due"] = min((d for d in due.values() if d is not None), default=None)
    return due


def _unacknowledged_since(file: ClientFile) -> str | None:
    """When the designated-manager assignment in force took effect, if its assignee has
    not acknowledged it (`unacknowledged` lists it once older than asked)."""
    timeline = file["team"].get(DESIGNATED_MANAGER, ())
    if not timeline:
        return None
    entry = timeline[-1]
    signed = {ack[2] for ack in file["acks"]}
    return None if entry[3] in signed else str(entry[0])


def _departed_managers_until(
    file: ClientFile, at: str, org: Organisation, lookback: timedelta
) -> list[str]:
    """`manager_departed` holds while the lookback still covers a departed earlier
    designated manager's tenure: until its end plus the lookback."""
    timeline = file["team"].get(DESIGNATED_MANAGER, ())
    manager = holder_at(file, DESIGNATED_MANAGER, at)
    return [
        plus_days(timeline[index + 1][0], lookback.days)
        for index, entry in enumerate(timeline[:-1])
        if entry[2] != manager and not org.active(entry[2], at)
    ]


def _downgraded_until(file: ClientFile) -> list[str]:
    """`downgraded` holds for 90 days from a change to a lower tier."""
    tiers = file["tiers"]
    return [
        plus_days(tiers[index][0], RISK_WINDOW.days)
        for index in range(1, len(tiers))
        if TIER_RANK[tiers[index][2]] < TIER_RANK[tier_at(file, tiers[index - 1][0])]
    ]


def segment_contribution(
    row: Mapping[str, Any], keys: Iterable[str] = SEGMENT_KEYS
) -> list[tuple[str, str, int, int, int, int, int]]:
    """`(by, value, clients, assets_high, assets_low, tenths, cents)` of an active client
    (nothing of another): its assets in cents split in two (a sum of 100,000 clients'
    cents could pass 2^63), and whether they are written with one or two decimals (a sum
    of Decimals keeps the finest of its terms' exponents)."""
    if not row["active"]:
        return []
    high = low = tenths = cents = 0
    if row["assets"] is not None:
        amount = Decimal(row["assets"])
        high, low = divmod(int(amount * 100), 10**9)
        exponent = amount.as_tuple().exponent
        tenths, cents = int(exponent == -1), int(exponent == -2)
    return [(key, row[f"seg_{key}"], 1, high, low, tenths, cents) for key in keys]


def segment_assets(high: int, low: int, tenths: int, cents: int) -> str:
    """The sum as `Decimal` addition would have written it (`segment_contribution`)."""
    total = Decimal(high * 10**9 + low).scaleb(-2)
    if cents:
        return str(total)
    return str(total.quantize(Decimal("0.1") if tenths else Decimal(1)))
