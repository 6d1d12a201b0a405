from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from ledger.projections.churn_cases import churn_case, fiscal_year_of
from ledger.projections.kit.intervals import FIELDS, REGISTERED, change_points
from ledger.projections.kit.text import from_utc_text, utc_text
from ledger.projections.kit.timeline import (
    Change,
    Interval,
    asset_deltas,
    fold_intervals,
    growth_rate,
    holders_within,
    share,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(days: float) -> str:
    return utc_text(T0 + timedelta(days=days))


def test_text_times_sort_as_times_across_offsets() -> None:
    beijing = timezone(timedelta(hours=8))
    earlier = datetime(2026, 1, 1, 7, 0, tzinfo=beijing)  # 2025-12-31T23:00Z
    later = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    assert utc_text(earlier) < utc_text(later)
    assert from_utc_text(utc_text(earlier)) == earlier


def test_a_backdated_change_splits_the_interval_it_lands_in() -> None:
    changes = [
        Change(at(0), 1, "manager", "M1"),
        Change(at(60), 2, "manager", "M3"),
        Change(at(30), 3, "manager", "M2"),  # recorded last, effective in between
    ]
    intervals = fold_intervals(changes, ("manager",))
    assert intervals == [
        Interval(at(0), at(30), ("M1",)),
        Interval(at(30), at(60), ("M2",)),
        Interval(at(60), None, ("M3",)),
    ]


def test_changes_at_the_same_time_apply_in_recorded_order() -> None:
    changes = [Change(at(5), 9, "tier", "gold"), Change(at(5), 4, "tier", "platinum")]
    assert fold_intervals(changes, ("tier",)) == [Interval(at(5), None, ("gold",))]


def test_an_interval_starts_only_when_a_value_changes() -> None:
    changes = [
        Change(at(0), 1, "tier", "gold"),
        Change(at(0), 1, "status", "active"),
        Change(at(10), 2, "manager", "M1"),
        Change(at(20), 3, "manager", "M1"),
    ]
    intervals = fold_intervals(changes, ("tier", "status", "manager"))
    assert [i.valid_from for i in intervals] == [at(0), at(10)]
    assert intervals[-1].values == ("gold", "active", "M1")


def test_holders_within_a_window_include_one_who_left_inside_it() -> None:
    intervals = fold_intervals([Change(at(0), 1, "m", "M1"), Change(at(70), 2, "m", "M2")], ("m",))
    assert holders_within(intervals, at(10), at(100)) == ["M1", "M2"]
    assert holders_within(intervals, at(71), at(100)) == ["M2"]


def test_growth_rates_of_the_sub_branch_report() -> None:
    assert growth_rate(3078, 3533) == 0.1478
    assert growth_rate(107, 133) == 0.2430
    assert growth_rate(6, 12) == 1.0
    assert growth_rate(0, 5) is None
    assert share(6, 8) == 0.75
    assert share(1, 0) is None


def test_fiscal_year_is_read_in_the_events_own_offset() -> None:
    beijing = timezone(timedelta(hours=8))
    year, start = fiscal_year_of(datetime(2026, 1, 1, 3, 0, tzinfo=beijing), start_month=1)
    assert year == 2026
    assert start == datetime(2026, 1, 1, tzinfo=beijing)
    assert fiscal_year_of(datetime(2026, 3, 31, tzinfo=UTC), start_month=4)[0] == 2025


def _case(kind: str, tiers: list[Change], managers: list[Change]) -> dict:
    return churn_case(
        kind=kind,
        churned_at=T0 + timedelta(days=100),
        tiers=fold_intervals(tiers, ("tier",)),
        managers=fold_intervals(managers, ("m",)),
        heads=fold_intervals([Change(at(0), 1, "h", "H")], ("h",)),
        fiscal_year_start=1,
        lookback_days=90,
    )


def test_a_downgrade_a_week_before_an_abnormal_churn_keeps_the_case_in_scope() -> None:
    case = _case(
        "abnormal",
        [Change(at(0), 1, "tier", "diamond"), Change(at(93), 5, "tier", "gold")],
        [Change(at(0), 2, "m", "M1")],
    )
    assert case["accountability_tier"] == "diamond"
    assert case["in_scope"] is True
    assert case["unit_head"] == "H"


def test_a_normal_churn_or_a_gold_client_is_out_of_scope() -> None:
    diamond = [Change(at(0), 1, "tier", "diamond")]
    gold = [Change(at(0), 1, "tier", "gold")]
    manager = [Change(at(0), 2, "m", "M1")]
    assert _case("normal", diamond, manager)["in_scope"] is False
    assert _case("abnormal", gold, manager)["in_scope"] is False


def test_a_tier_held_only_in_the_previous_fiscal_year_does_not_count() -> None:
    tiers = [
        Change(utc_text(T0 - timedelta(days=30)), 1, "tier", "diamond"),
        Change(at(-1), 2, "tier", "gold"),
    ]
    case = _case("abnormal", tiers, [Change(at(-40), 3, "m", "M1")])
    assert case["accountability_tier"] == "gold"
    assert case["in_scope"] is False


def test_a_reassignment_thirty_days_before_churn_makes_a_prior_holder() -> None:
    case = _case(
        "abnormal",
        [Change(at(0), 1, "tier", "platinum")],
        [Change(at(0), 2, "m", "M1"), Change(at(70), 3, "m", "M2")],
    )
    assert case["designated_manager"] == "M2"
    assert case["prior_holders"] == ["M1"]


def test_a_holder_who_left_before_the_lookback_window_is_not_a_prior_holder() -> None:
    case = _case(
        "abnormal",
        [Change(at(0), 1, "tier", "platinum")],
        [Change(at(0), 2, "m", "M1"), Change(at(5), 3, "m", "M2")],
    )
    assert case["prior_holders"] == []


def test_asset_changes_are_differences_between_reports_after_the_baseline() -> None:
    reports = [
        (at(10), 2, "b", Decimal("150.00")),
        (at(0), 1, "a", Decimal("100.00")),
        (at(20), 3, "c", Decimal("120.50")),
    ]
    # The first report in effective order ("a") is the baseline: no change of its own.
    assert asset_deltas(reports) == [
        ("b", at(10), Decimal("50.00")),
        ("c", at(20), Decimal("-29.50")),
    ]


def test_a_registration_is_stored_once_and_read_as_its_tier_and_active_status() -> None:
    stored = [
        (at(0), 1, REGISTERED, "gold"),
        (at(10), 2, "manager", "M1"),
        (at(20), 3, "status", "churned"),
    ]
    points = [p for row in stored for p in change_points(*row)]
    assert fold_intervals(points, FIELDS) == [
        Interval(at(0), at(10), ("gold", "active", None)),
        Interval(at(10), at(20), ("gold", "active", "M1")),
        Interval(at(20), None, ("gold", "churned", "M1")),
    ]
    # A view built before keeps a registration as two rows, which read the same.
    older = [(at(0), 1, "tier", "gold"), (at(0), 1, "status", "active"), *stored[1:]]
    assert fold_intervals([p for row in older for p in change_points(*row)], FIELDS) == (
        fold_intervals(points, FIELDS)
    )
