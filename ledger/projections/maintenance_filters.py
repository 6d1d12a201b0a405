"""What the segments and the roster's filters read of a client's file at a time: pure, like
`maintenance_rules.py`."""

from __future__ import annotations

from typing import Any

from ledger.domain.values import DESIGNATED_MANAGER
from ledger.projections.maintenance_rules import (
    ClientFile,
    assets_at,
    holder_at,
    preferences_at,
    status_at,
    tier_at,
)


def value_in_team(file: ClientFile, at: str) -> str | None:
    return holder_at(file, DESIGNATED_MANAGER, at)


def segment_of(file: ClientFile, by: str, at: str) -> str | None:
    if by == "tier":
        return tier_at(file, at)
    if by == "source":
        return file.get("source")
    return preferences_at(file, at).get(by)


def matches(file: ClientFile, filters: dict[str, Any], at: str) -> bool:
    """The roster's filters: tier, status, designated manager, preferences (a business
    interest is found in the text), source, and assets at least `min_assets` and below
    `max_assets`."""
    status = status_at(file, at)
    if status is None:
        return False
    for name, value in (
        ("tier", tier_at(file, at)),
        ("status", status),
        ("manager_id", holder_at(file, DESIGNATED_MANAGER, at)),
    ):
        if filters.get(name) is not None and value != filters[name]:
            return False
    preferences = preferences_at(file, at)
    for name in ("risk_appetite", "product_horizon"):
        if filters.get(name) is not None and preferences.get(name) != filters[name]:
            return False
    interest = filters.get("business_interest")
    if (
        interest is not None
        and interest.casefold() not in (preferences.get("business_interests") or "").casefold()
    ):
        return False
    if filters.get("source") is not None and file.get("source") != filters["source"]:
        return False
    assets = assets_at(file, at)
    if filters.get("min_assets") is not None and (assets is None or assets < filters["min_assets"]):
        return False
    return not (
        filters.get("max_assets") is not None
        and (assets is None or assets >= filters["max_assets"])
    )
