"""What the segments and the roster's filters read of a client's file at a time: pure, like
`maintenance_rules.py`."""

from __future__ import annotations

from typing import Any

from ledger.domain.values import ACTIVE, DESIGNATED_MANAGER
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


def condition(filters: dict[str, Any]) -> tuple[str, list[Any]]:
    """The roster's filters as a condition on a client's standing (`s`): of the clients it
    meets, `matches` picks (a business interest is looked for in the text there, and the
    assets compared as floats here are only a prefilter)."""
    terms, params = ["1 = 1"], []
    for name, column in (
        ("tier", "seg_tier"),
        ("manager_id", "manager"),
        ("risk_appetite", "seg_risk_appetite"),
        ("product_horizon", "seg_product_horizon"),
        ("source", "seg_source"),
    ):
        if filters.get(name) is not None:
            terms.append(f"s.{column} = ?")
            params.append(filters[name])
    if filters.get("status") is not None:
        terms.append("s.active = ?")
        params.append(int(filters["status"] == ACTIVE))
    if filters.get("min_assets") is not None:
        terms.append("s.assets_value >= ?")
        params.append(float(filters["min_assets"]) * 0.999)
    if filters.get("max_assets") is not None:
        terms.append("s.assets_value < ?")
        params.append(float(filters["max_assets"]) * 1.001)
    return " AND ".join(terms), params
