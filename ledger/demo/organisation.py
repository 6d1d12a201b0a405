"""The demo's organisation: one branch down to 24 outlets, about 300 staff, and the client
managers who leave during the year."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ledger.demo.names import DISTRICTS, person_name


@dataclass
class Org:
    units: list[tuple[str, str, str, str | None]] = field(default_factory=list)
    staff: list[tuple[str, str, str, str]] = field(default_factory=list)
    heads: dict[str, str] = field(default_factory=dict)
    outlets: list[str] = field(default_factory=list)
    managers: dict[str, list[str]] = field(default_factory=dict)  # outlet -> client managers
    sub_branch_of: dict[str, str] = field(default_factory=dict)
    vice_presidents: dict[str, list[str]] = field(default_factory=dict)  # sub-branch -> VPs
    departures: dict[str, datetime] = field(default_factory=dict)


def plan_org(rng: random.Random, start: datetime) -> Org:
    org = Org()
    numbers = iter(range(1, 10_000))

    def hire(unit: str, role: str) -> str:
        staff_id = f"E{next(numbers):04d}"
        org.staff.append((staff_id, person_name(rng), unit, role))
        return staff_id

    org.units.append(("BR", "Shanghai Branch", "branch", None))
    org.heads["BR"] = hire("BR", "president")
    for _ in range(2):
        hire("BR", "vice_president")
    for d in (1, 2):
        dept = f"BR-D{d}"
        org.units.append((dept, f"Business Department {d}", "department", "BR"))
        org.heads[dept] = hire(dept, "president")
        hire(dept, "vice_president")
        for s in range(1, 4):
            sub = f"{dept}-S{s}"
            org.units.append((sub, f"{DISTRICTS[(d - 1) * 3 + s]} Sub-branch", "sub_branch", dept))
            org.heads[sub] = hire(sub, "president")
            org.vice_presidents[sub] = [hire(sub, "vice_president") for _ in range(2)]
            for o in range(1, 5):
                outlet = f"{sub}-O{o}"
                org.units.append(
                    (outlet, f"{DISTRICTS[(d + s + o) % 10]} Outlet {o}", "outlet", sub)
                )
                org.outlets.append(outlet)
                org.sub_branch_of[outlet] = sub
                org.heads[outlet] = hire(outlet, "outlet_director")
                managers = [hire(outlet, "client_manager") for _ in range(7)]
                managers += [hire(outlet, "wealth_manager") for _ in range(2)]
                org.managers[outlet] = managers
                hire(outlet, "lobby_manager")
                hire(outlet, "teller")
    # About one client manager in twelve leaves during the year: the main churn risk.
    for managers in org.managers.values():
        for staff_id in managers:
            if rng.random() < 0.08:
                org.departures[staff_id] = start + timedelta(days=rng.uniform(20, 360))
    return org


def on_staff(org: Org, staff_id: str, at: datetime) -> bool:
    left = org.departures.get(staff_id)
    return left is None or at < left
