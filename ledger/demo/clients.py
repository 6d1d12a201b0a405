"""One demo client's year as a plan of steps (the ledger's use cases and their arguments):
found or registered, assigned, contacted at its tier's cadence, moved between tiers,
perhaps churned and won back."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from ledger.config import DEFAULT_CADENCE_DAYS, parse_cadence
from ledger.demo.names import DISTRICTS, person_name
from ledger.demo.organisation import Org, on_staff

COMPLAINTS = [
    "complained about fees on the wealth product",
    "waited too long at the counter",
    "unhappy with the product's returns",
]
LOCAL = timezone(timedelta(hours=8), "CST")
TIER_WEIGHTS = {"standard": 0.70, "gold": 0.22, "platinum": 0.065, "diamond": 0.015}
TIERS = list(TIER_WEIGHTS)
# Days between contacts a diligent manager keeps to, per tier: the default cadence.
CADENCE = parse_cadence(DEFAULT_CADENCE_DAYS)
ASSETS = {
    "standard": (10_000, 500_000),
    "gold": (500_000, 3_000_000),
    "platinum": (3_000_000, 10_000_000),
    "diamond": (10_000_000, 60_000_000),
}
EMPLOYERS = ["SAIC Motor", "Bank of Shanghai", "Fudan University", "Ruijin Hospital", "own firm"]
INTERESTS = ["property", "manufacturing", "trade", "education", "healthcare", "retail"]
HOBBIES = ["golf", "tea", "calligraphy", "travel", "photography", "fishing"]
CHANNEL_WEIGHTS = {"visit": 3, "phone": 5, "wechat": 4, "sms": 1, "event": 1, "letter": 1}


Step = tuple[datetime, str, dict[str, Any]]


def plan_client(
    rng: random.Random, org: Org, index: int, start: datetime, end: datetime
) -> list[Step]:
    """One client's year, in effective-time order."""
    client_id = f"C{index:06d}"
    outlet = rng.choice(org.outlets)
    tier = rng.choices(TIERS, weights=list(TIER_WEIGHTS.values()))[0]
    if rng.random() < 0.8:  # the book carried over at the start of the year
        registered = start + timedelta(days=rng.uniform(0, 10))
    else:
        registered = start + timedelta(days=rng.uniform(10, 330))
    registered = registered.astimezone(LOCAL)
    source = rng.choice(["media", "organisation", "personal_network", "referral", None])
    referred_by = f"C{rng.randrange(index):06d}" if source == "referral" and index else None
    name = person_name(rng)
    # Found after the staff joined (a month before the year), before the registration.
    found = max(registered - timedelta(days=rng.uniform(5, 60)), start - timedelta(days=20))
    owner = next((m for m in org.managers[outlet] if on_staff(org, m, found)), None)
    if registered > start + timedelta(days=10) and source not in (None, "referral") and owner:
        # A new client found as a prospect (客户开发): recorded, then converted.
        prospect_id = f"P{index:06d}"
        steps: list[Step] = [
            (
                found,
                "record_prospect",
                {
                    "prospect_id": prospect_id,
                    "name": name,
                    "unit_id": outlet,
                    "source": source,
                    "owner_staff_id": owner,
                    "occurred_at": found,
                },
            ),
            (
                registered,
                "convert_prospect",
                {
                    "prospect_id": prospect_id,
                    "client_id": client_id,
                    "tier": tier,
                    "occurred_at": registered,
                },
            ),
        ]
    else:
        steps = [
            (
                registered,
                "register_client",
                {
                    "client_id": client_id,
                    "name": name,
                    "unit_id": outlet,
                    "tier": tier,
                    "occurred_at": registered,
                    "source": source if referred_by or source != "referral" else None,
                    "referred_by": referred_by,
                },
            )
        ]
    if owner and rng.random() < 0.12:
        # A prospect that came to nothing.
        lost = f"P{index:06d}-X"
        steps.append(
            (
                found,
                "record_prospect",
                {
                    "prospect_id": lost,
                    "name": person_name(rng),
                    "unit_id": outlet,
                    "source": rng.choice(["media", "organisation", "personal_network", "referral"]),
                    "owner_staff_id": owner,
                    "occurred_at": found,
                },
            )
        )
        dropped = found + timedelta(days=rng.uniform(5, 90))
        if dropped < end:
            steps.append(
                (
                    dropped,
                    "drop_prospect",
                    {"prospect_id": lost, "reason": "chose another bank", "effective_at": dropped},
                )
            )

    def at(when: datetime, method: str, **fields: Any) -> None:
        if when < end:
            steps.append((when, method, {"client_id": client_id, **fields}))

    # The designated manager over the year: reassigned some days after each departure.
    t = registered + timedelta(hours=1)
    manager = rng.choice([m for m in org.managers[outlet] if on_staff(org, m, t)])
    holders = [(t, manager)]
    at(
        t,
        "assign",
        staff_id=manager,
        role="client_manager",
        reason="name-list assignment",
        effective_at=t,
    )
    # Most assignees sign for their clients (签约); some never do.
    if rng.random() < 0.85:
        at(t + timedelta(hours=1), "acknowledge_assignment")
    while manager in org.departures and org.departures[manager] < end:
        t = org.departures[manager] + timedelta(days=rng.uniform(1, 25))
        if t >= end:
            holders.append((org.departures[manager], None))  # still orphaned at the end
            break
        choices = [m for m in org.managers[outlet] if m != manager and on_staff(org, m, t)]
        manager = rng.choice(choices)
        holders.append((t, manager))
        at(
            t,
            "assign",
            staff_id=manager,
            role="client_manager",
            reason="predecessor left",
            effective_at=t,
        )
    holders.append((end, None))

    sub = org.sub_branch_of[outlet]
    vp = None
    if tier in ("platinum", "diamond") and rng.random() < 0.8:  # the rest: a team gap
        vp = rng.choice(org.vice_presidents[sub])
        at(
            registered + timedelta(hours=2),
            "assign",
            staff_id=vp,
            role="vice_president",
            reason="layered maintenance",
            effective_at=registered + timedelta(hours=2),
        )
    if tier == "diamond" and rng.random() < 0.85:
        at(
            registered + timedelta(hours=3),
            "assign",
            staff_id=org.heads[sub],
            role="president",
            reason="three-level linkage",
            effective_at=registered + timedelta(hours=3),
        )

    # Tier moves: a few upgrades and downgrades, one step each.
    tiers = [(registered, tier)]
    roll = rng.random()
    if roll < 0.07 and tier != "diamond":
        when = registered + timedelta(days=rng.uniform(30, 300))
        tiers.append((when, TIERS[TIERS.index(tier) + 1]))
    elif roll < 0.11 and tier != "standard":
        when = registered + timedelta(days=rng.uniform(30, 300))
        tiers.append((when, TIERS[TIERS.index(tier) - 1]))

    # Churn: abnormal more often among VIPs; sometimes a downgrade just before it.
    churn_at = None
    if rng.random() < 0.03:
        churn_at = registered + timedelta(days=rng.uniform(40, 340))
        kind = "abnormal" if rng.random() < (0.6 if tier != "standard" else 0.3) else "normal"
        if kind == "abnormal" and tier in ("platinum", "diamond") and rng.random() < 0.3:
            tiers = [entry for entry in tiers if entry[0] < churn_at - timedelta(days=10)]
            current = tiers[-1][1]
            if current != "standard":
                tiers.append(
                    (churn_at - timedelta(days=rng.uniform(2, 9)), TIERS[TIERS.index(current) - 1])
                )
    else:
        kind = ""
    tiers = [entry for entry in tiers if churn_at is None or entry[0] < churn_at]
    for when, new_tier in tiers[1:]:
        at(when, "change_tier", tier=new_tier, reason="annual asset review", effective_at=when)

    def tier_at(when: datetime) -> str:
        return [entry[1] for entry in tiers if entry[0] <= when][-1]

    def manager_at(when: datetime) -> str | None:
        current = None
        for since, holder in holders:
            if since > when:
                break
            current = holder
        return current if current is not None and on_staff(org, current, when) else None

    stop = min(end, churn_at) if churn_at else end
    if tier != "standard" or rng.random() < 0.3:
        when = registered + timedelta(days=rng.uniform(0, 20))
        profile: dict[str, Any] = {
            "address": f"{rng.randrange(1, 999)} {rng.choice(DISTRICTS)} Road",
            "phone": f"13{rng.randrange(10**8, 10**9)}",
            "risk_appetite": rng.choice(["conservative", "balanced", "aggressive"]),
            "business_interests": rng.choice(INTERESTS),
            "hobbies": rng.choice(HOBBIES),
        }
        if rng.random() < 0.9:  # key information is not always complete
            profile["employer"] = rng.choice(EMPLOYERS)
        if when < stop:
            at(when, "update_profile", changes=profile, effective_at=when)
    low, high = ASSETS[tier]
    for _ in range(rng.randrange(1, 4) if tier != "standard" else rng.randrange(0, 2)):
        day = (registered + timedelta(days=rng.uniform(1, 330))).date()
        when = datetime.combine(day, datetime.min.time(), tzinfo=LOCAL)
        if registered.date() <= day and when < stop:
            amount = Decimal(rng.randrange(low * 100, high * 100)) / 100
            at(max(when, registered), "report_assets", amount=str(amount), as_of=day)

    # Contacts at the tier's cadence, in working hours, with lapses; none while orphaned or
    # after a churn. An upgrade brings the next contact forward to the new cadence.
    changes = [entry[0] for entry in tiers[1:]]
    when = registered + timedelta(days=rng.uniform(1, 15))
    while when < stop:
        moment = when.astimezone(LOCAL).replace(
            hour=rng.randrange(9, 18), minute=rng.randrange(60), second=0, microsecond=0
        )
        staff = manager_at(moment)
        if (
            moment < stop
            and staff is not None
            and staff == manager_at(when)
            and rng.random() > 0.12
        ):
            channel = rng.choices(list(CHANNEL_WEIGHTS), weights=list(CHANNEL_WEIGHTS.values()))[0]
            complaint = rng.random() < 0.02
            at(
                moment,
                "log_contact",
                channel=channel,
                staff_id=staff,
                occurred_at=moment,
                purpose=rng.choice(["review", "greeting", "product", "service"]),
                summary=rng.choice(COMPLAINTS) if complaint else None,
                satisfaction=rng.randrange(1, 3) if complaint else rng.choice([None, 3, 4, 5]),
                complaint=complaint,
            )
        cadence = CADENCE.get(tier_at(when))
        following = when + timedelta(
            days=rng.uniform(0.75, 1.2) * cadence if cadence else rng.uniform(90, 400)
        )
        upgrade = next((t for t in changes if when < t < following), None)
        when = upgrade + timedelta(days=rng.uniform(1, 10)) if upgrade else following

    # Leaders' visits (行领导拜访): the vice president in charge now and then, some missed.
    if vp is not None:
        when = registered + timedelta(days=rng.uniform(20, 200))
        while when < stop:
            if rng.random() < 0.7:
                moment = when.astimezone(LOCAL).replace(hour=10, minute=0, second=0, microsecond=0)
                if moment < stop:
                    at(
                        moment,
                        "log_contact",
                        channel="visit",
                        staff_id=vp,
                        occurred_at=moment,
                        purpose="leader visit",
                        summary=None,
                    )
            when += timedelta(days=rng.uniform(120, 240))

    if churn_at is not None and churn_at < end:
        reason = "lost to a competitor" if kind == "abnormal" else "relocated out of the area"
        at(churn_at, "churn", kind=kind, reason=reason, effective_at=churn_at)
        if rng.random() < 0.1:
            back = churn_at + timedelta(days=rng.uniform(10, 60))
            at(back, "reactivate", reason="won back", effective_at=back)
    steps.sort(key=lambda step: step[0])
    return steps
