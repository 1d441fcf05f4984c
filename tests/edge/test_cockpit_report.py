"""The cockpit's numbers: uplift with its Katz interval, per-arm rows and totals from tallies
other processes write (so bad counts read as 0), and daily series over a window of days."""

from __future__ import annotations

import datetime
import math
from typing import Any

import pytest

from opmaat.store import HOLDOUT_ARM
from opmaat_edge.cockpit.report import (
    MIN_VISITORS,
    ArmRow,
    CampaignNumbers,
    Uplift,
    campaign_numbers,
    daily_series,
    percent,
    uplift,
)

Z = 1.959964


def katz(x1: int, n1: int, x0: int, n0: int) -> tuple[float, float, float]:
    rr = (x1 / n1) / (x0 / n0)
    se = math.sqrt(1 / x1 - 1 / n1 + 1 / x0 - 1 / n0)
    return rr - 1, rr * math.exp(-Z * se) - 1, rr * math.exp(Z * se) - 1


# --- uplift ------------------------------------------------------------------------------


def test_holdout_arm_is_the_stores() -> None:
    assert HOLDOUT_ARM == "(holdout)"


def test_uplift_known_values() -> None:
    result = uplift(60, 1000, 40, 1000)
    assert result is not None
    assert result.estimate == pytest.approx(0.5)
    se = math.sqrt(1 / 60 - 1 / 1000 + 1 / 40 - 1 / 1000)
    assert result.low == pytest.approx(1.5 * math.exp(-1.959964 * se) - 1)
    assert result.high == pytest.approx(1.5 * math.exp(1.959964 * se) - 1)
    # By hand: se = sqrt(0.039667) = 0.19917, 1.959964 * se = 0.39036, so the risk ratio's
    # interval is 1.5 * exp(-+0.39036) = 1.0153 .. 2.2162.
    assert result.low == pytest.approx(0.0153, abs=1e-4)
    assert result.high == pytest.approx(1.2162, abs=1e-4)
    assert result.significant


def test_uplift_negative_and_not_significant() -> None:
    result = uplift(45, 500, 50, 500)
    assert result is not None
    expected = katz(45, 500, 50, 500)
    assert (result.estimate, result.low, result.high) == pytest.approx(expected)
    assert result.estimate == pytest.approx(-0.1)
    assert result.low < 0 < result.high
    assert not result.significant


def test_uplift_significantly_negative() -> None:
    result = uplift(100, 2000, 200, 2000)
    assert result is not None
    assert result.estimate == pytest.approx(-0.5)
    assert result.high < 0
    assert result.significant


def test_uplift_unequal_arms() -> None:
    result = uplift(30, 300, 90, 1200)
    assert result is not None
    assert (result.estimate, result.low, result.high) == pytest.approx(katz(30, 300, 90, 1200))
    assert result.estimate == pytest.approx((30 / 300) / (90 / 1200) - 1)


def test_uplift_everyone_converted_gives_a_point_interval() -> None:
    result = uplift(50, 50, 40, 40)
    assert result is not None
    assert result.estimate == pytest.approx(0.0)
    assert result.low == pytest.approx(0.0)
    assert result.high == pytest.approx(0.0)
    assert not result.significant


@pytest.mark.parametrize(
    ("converted", "visitors", "holdout_converted", "holdout_visitors"),
    [
        (0, 1000, 40, 1000),  # no conversions in the arm
        (60, 1000, 0, 1000),  # none in the holdout
        (0, 0, 40, 1000),  # no visitors
        (60, 1000, 0, 0),
        (61, 60, 40, 1000),  # more converted than visitors
        (6, 100, 41, 40),
        (5, MIN_VISITORS - 1, 40, 1000),  # too few visitors
        (60, 1000, 5, MIN_VISITORS - 1),
        (-60, 1000, 40, 1000),  # negative
        (60, -1000, 40, 1000),
        (60, 1000, -40, 1000),
        (60, 1000, 40, -1000),
    ],
)
def test_uplift_none(
    converted: int, visitors: int, holdout_converted: int, holdout_visitors: int
) -> None:
    assert uplift(converted, visitors, holdout_converted, holdout_visitors) is None


def test_uplift_at_exactly_min_visitors() -> None:
    assert uplift(10, MIN_VISITORS, 5, MIN_VISITORS) is not None
    assert MIN_VISITORS == 30


@pytest.mark.parametrize(
    "args",
    [
        ("60", 1000, 40, 1000),
        (60, 1000.0, 40, 1000),
        (True, 1000, 40, 1000),
        (60, 1000, True, 1000),
        (60, None, 40, 1000),
    ],
)
def test_uplift_non_ints_are_none(args: tuple[Any, Any, Any, Any]) -> None:
    assert uplift(*args) is None


def test_uplift_significance_boundaries() -> None:
    assert Uplift(0.2, 0.01, 0.4).significant
    assert Uplift(-0.2, -0.4, -0.01).significant
    assert not Uplift(0.2, 0.0, 0.4).significant
    assert not Uplift(0.2, -0.01, 0.4).significant
    assert not Uplift(-0.2, -0.4, 0.0).significant


def test_uplift_describe() -> None:
    assert Uplift(0.25, 0.031, 0.512).describe() == "+25.0% (95% CI +3.1% to +51.2%)"
    assert Uplift(-0.1, -0.3, 0.15).describe() == "-10.0% (95% CI -30.0% to +15.0%)"
    # A value that rounds to zero never shows as "-0.0%".
    assert Uplift(-0.0001, -0.2, 0.2).describe() == "+0.0% (95% CI -20.0% to +20.0%)"
    result = uplift(60, 1000, 40, 1000)
    assert result is not None
    assert result.describe() == "+50.0% (95% CI +1.5% to +121.6%)"


def test_dataclasses_are_frozen_with_slots() -> None:
    value = Uplift(0.1, 0.0, 0.2)
    with pytest.raises(AttributeError):
        value.estimate = 0.3  # type: ignore[misc]
    assert not hasattr(value, "__dict__")
    numbers = campaign_numbers(["a"], {})
    assert not hasattr(numbers, "__dict__")
    assert not hasattr(numbers.rows[0], "__dict__")
    with pytest.raises(AttributeError):
        numbers.rows[0].clicks = 3  # type: ignore[misc]


# --- percent -----------------------------------------------------------------------------


def test_percent() -> None:
    assert percent(0.125) == "12.5%"
    assert percent(None) == "\u2013"
    assert percent(0.0) == "0.0%"
    assert percent(1.0) == "100.0%"
    assert percent(0.12345, 2) == "12.35%"
    assert percent(0.5, 0) == "50%"
    assert percent(-0.25) == "-25.0%"
    assert percent(-0.00001) == "0.0%"
    assert percent(math.nan) == "\u2013"


# --- campaign_numbers --------------------------------------------------------------------


def test_campaign_numbers_rows_rates_and_uplift() -> None:
    tallies = {
        "b": {
            "impressions": 2000,
            "clicks": 100,
            "conversions": 80,
            "visitors": 1000,
            "converted": 60,
        },
        "a": {
            "impressions": 1000,
            "clicks": 40,
            "conversions": 30,
            "visitors": 500,
            "converted": 20,
        },
        HOLDOUT_ARM: {"impressions": 500, "clicks": 5, "visitors": 1000, "converted": 40},
        "-": {"impressions": 7, "clicks": 3, "conversions": 2, "visitors": 9, "converted": 9},
        "gone": {"impressions": 10_000, "clicks": 10_000, "conversions": 10_000},
    }
    numbers = campaign_numbers(["a", "b"], tallies)
    assert isinstance(numbers, CampaignNumbers)
    assert [row.key for row in numbers.rows] == ["a", "b"]
    a, b = numbers.rows
    assert isinstance(a, ArmRow)
    assert (a.key, a.impressions, a.clicks, a.conversions) == ("a", 1000, 40, 30)
    assert (a.visitors, a.converted, a.share) == (500, 20, None)
    assert a.ctr == pytest.approx(0.04)
    assert a.conversion_rate == pytest.approx(0.03)
    assert a.visitor_rate == pytest.approx(0.04)
    assert a.uplift is not None
    assert a.uplift.estimate == pytest.approx(0.0)
    assert b.uplift is not None
    assert (b.uplift.estimate, b.uplift.low, b.uplift.high) == pytest.approx(
        katz(60, 1000, 40, 1000)
    )
    assert b.share is None
    # The holdout row: its own numbers, no uplift against itself.
    assert numbers.holdout is not None
    assert numbers.holdout.key == HOLDOUT_ARM
    assert numbers.holdout.impressions == 500
    assert numbers.holdout.conversions == 0
    assert numbers.holdout.visitor_rate == pytest.approx(0.04)
    assert numbers.holdout.uplift is None
    # Totals: both variants and the unknown arm; never the holdout nor an arm gone from the file.
    assert numbers.impressions == 1000 + 2000 + 7
    assert numbers.clicks == 40 + 100 + 3
    assert numbers.conversions == 30 + 80 + 2
    assert numbers.ctr == pytest.approx(143 / 3007)
    assert numbers.conversion_rate == pytest.approx(112 / 3007)


def test_rows_follow_the_given_order_and_absent_variants_are_zero() -> None:
    tallies = {"a": {"impressions": 5}, "c": {"impressions": 7}}
    numbers = campaign_numbers(["c", "b", "a"], tallies)
    assert [row.key for row in numbers.rows] == ["c", "b", "a"]
    assert [row.impressions for row in numbers.rows] == [7, 0, 5]
    b = numbers.rows[1]
    assert (b.clicks, b.conversions, b.visitors, b.converted) == (0, 0, 0, 0)
    assert b.ctr is None
    assert b.conversion_rate is None
    assert b.visitor_rate is None
    assert b.uplift is None


def test_unknown_arm_is_not_a_row() -> None:
    numbers = campaign_numbers(["a"], {"-": {"impressions": 4, "clicks": 1}})
    assert [row.key for row in numbers.rows] == ["a"]
    assert numbers.rows[0].impressions == 0
    assert numbers.impressions == 4
    assert numbers.clicks == 1
    assert numbers.ctr == pytest.approx(0.25)


def test_no_holdout_row_without_counts() -> None:
    tallies = {"a": {"visitors": 100, "converted": 10}, HOLDOUT_ARM: {"impressions": 0}}
    numbers = campaign_numbers(["a"], tallies)
    assert numbers.holdout is None
    assert numbers.rows[0].uplift is None
    assert campaign_numbers(["a"], {"a": {"visitors": 100}}).holdout is None


@pytest.mark.parametrize("field", ["impressions", "clicks", "conversions", "visitors", "converted"])
def test_any_holdout_count_makes_a_holdout_row(field: str) -> None:
    numbers = campaign_numbers(["a"], {HOLDOUT_ARM: {field: 1}})
    assert numbers.holdout is not None
    assert getattr(numbers.holdout, field) == 1


def test_empty_campaign() -> None:
    numbers = campaign_numbers([], {})
    assert numbers.rows == ()
    assert numbers.holdout is None
    assert (numbers.impressions, numbers.clicks, numbers.conversions) == (0, 0, 0)
    assert numbers.ctr is None
    assert numbers.conversion_rate is None


def test_bad_counts_read_as_zero() -> None:
    tallies: dict[str, Any] = {
        "a": {
            "impressions": -5,
            "clicks": "7",
            "conversions": True,
            "visitors": 3.0,
            "converted": None,
        },
        "b": {"impressions": 10, "clicks": [1], "conversions": 2**64, "visitors": False},
        "c": "not a mapping",
        "-": {"impressions": -100, "clicks": 2},
    }
    numbers = campaign_numbers(["a", "b", "c"], tallies)
    a, b, c = numbers.rows
    assert (a.impressions, a.clicks, a.conversions, a.visitors, a.converted) == (0, 0, 0, 0, 0)
    assert a.ctr is None
    assert (b.impressions, b.clicks, b.conversions, b.visitors) == (10, 0, 0, 0)
    assert b.ctr == 0.0
    assert (c.impressions, c.clicks) == (0, 0)
    assert numbers.impressions == 10
    assert numbers.clicks == 2


def test_more_converted_than_visitors_has_no_rate_nor_uplift() -> None:
    tallies = {
        "a": {"visitors": 100, "converted": 150},
        HOLDOUT_ARM: {"visitors": 100, "converted": 10},
    }
    row = campaign_numbers(["a"], tallies).rows[0]
    assert row.converted == 150
    assert row.visitor_rate is None
    assert row.uplift is None


def test_more_clicks_than_impressions_has_no_ctr() -> None:
    # Old tallies, from before a click needed its decision's token: never a CTR over 100%.
    tallies = {"a": {"impressions": 1, "clicks": 1000}, "b": {"impressions": 4, "clicks": 4}}
    numbers = campaign_numbers(["a", "b"], tallies)
    a, b = numbers.rows
    assert (a.clicks, a.ctr, percent(a.ctr)) == (1000, None, "\u2013")
    assert b.ctr == 1.0
    assert (numbers.clicks, numbers.impressions, numbers.ctr) == (1004, 5, None)


def test_rates_per_impression_may_pass_one() -> None:
    # Goal conversions count a visitor each time: more conversions than impressions happens.
    row = campaign_numbers(["a"], {"a": {"impressions": 10, "conversions": 15}}).rows[0]
    assert row.conversion_rate == pytest.approx(1.5)


def test_shares() -> None:
    tallies = {"a": {"impressions": 1}, "b": {"impressions": 2}}
    numbers = campaign_numbers(["a", "b"], tallies, shares=[0.7, 0.3])
    assert [row.share for row in numbers.rows] == [0.7, 0.3]
    assert numbers.rows[0].key == "a"
    swapped = campaign_numbers(["b", "a"], tallies, shares=[0.7, 0.3])
    assert [(row.key, row.share) for row in swapped.rows] == [("b", 0.7), ("a", 0.3)]
    # Fewer shares than rows: the rest have none.
    short = campaign_numbers(["a", "b"], tallies, shares=[1.0])
    assert [row.share for row in short.rows] == [1.0, None]
    assert all(row.share is None for row in campaign_numbers(["a", "b"], tallies).rows)


def test_holdout_has_no_share() -> None:
    numbers = campaign_numbers(["a"], {HOLDOUT_ARM: {"visitors": 3}}, shares=[1.0])
    assert numbers.holdout is not None
    assert numbers.holdout.share is None


def test_a_key_listed_twice_counts_once_in_totals() -> None:
    numbers = campaign_numbers(["a", "a"], {"a": {"impressions": 5}})
    assert len(numbers.rows) == 2
    assert numbers.impressions == 5


# --- daily_series ------------------------------------------------------------------------


def test_daily_series_window_across_a_month_boundary() -> None:
    daily = {
        "2024-02-27": {"a": {"impressions": 100}},  # outside the window
        "2024-02-28": {"a": {"impressions": 1}, "b": {"impressions": 2}},
        "2024-02-29": {"a": {"impressions": 3}},
        "2024-03-02": {"a": {"impressions": 5}, HOLDOUT_ARM: {"impressions": 1000}},
        "2024-03-03": {"a": {"impressions": 99}},  # after today
    }
    series = daily_series(daily, "impressions", 4, datetime.date(2024, 3, 2))
    assert series == [
        ("2024-02-28", 3),
        ("2024-02-29", 3),
        ("2024-03-01", 0),
        ("2024-03-02", 5),
    ]


def test_daily_series_across_a_year_boundary() -> None:
    daily = {"2023-12-31": {"-": {"clicks": 2}}, "2024-01-01": {"x": {"clicks": 1}}}
    series = daily_series(daily, "clicks", 3, datetime.date(2024, 1, 1))
    assert series == [("2023-12-30", 0), ("2023-12-31", 2), ("2024-01-01", 1)]


def test_daily_series_arms() -> None:
    daily = {
        "2024-05-01": {
            "a": {"visitors": 1},
            "b": {"visitors": 10},
            "-": {"visitors": 100},
            HOLDOUT_ARM: {"visitors": 1000},
        }
    }
    today = datetime.date(2024, 5, 1)
    assert daily_series(daily, "visitors", 1, today) == [("2024-05-01", 111)]
    assert daily_series(daily, "visitors", 1, today, arms=["a"]) == [("2024-05-01", 1)]
    assert daily_series(daily, "visitors", 1, today, arms={"a", "b"}) == [("2024-05-01", 11)]
    assert daily_series(daily, "visitors", 1, today, arms=[HOLDOUT_ARM]) == [("2024-05-01", 1000)]
    assert daily_series(daily, "visitors", 1, today, arms=[]) == [("2024-05-01", 0)]


def test_daily_series_ignores_malformed_days_and_counts() -> None:
    daily: dict[str, Any] = {
        "2024-5-1": {"a": {"clicks": 100}},
        "2024-05-01T00:00": {"a": {"clicks": 100}},
        " 2024-05-01": {"a": {"clicks": 100}},
        "yesterday": {"a": {"clicks": 100}},
        "2024-05-01": {"a": {"clicks": 4}, "b": {"clicks": "9"}, "c": {"clicks": -2}, "d": 3},
        "2024-04-30": "broken",
    }
    series = daily_series(daily, "clicks", 2, datetime.date(2024, 5, 1))
    assert series == [("2024-04-30", 0), ("2024-05-01", 4)]


def test_daily_series_missing_field_and_sizes() -> None:
    daily = {"2024-05-01": {"a": {"clicks": 4}}}
    today = datetime.date(2024, 5, 1)
    assert daily_series(daily, "conversions", 1, today) == [("2024-05-01", 0)]
    assert daily_series(daily, "clicks", 0, today) == []
    assert daily_series(daily, "clicks", -3, today) == []
    series = daily_series({}, "clicks", 30, today)
    assert len(series) == 30
    assert series[0] == ("2024-04-02", 0)
    assert series[-1] == ("2024-05-01", 0)
    days = [day for day, _ in series]
    assert days == sorted(days)
    assert len(set(days)) == 30


def test_daily_series_never_goes_before_the_first_date() -> None:
    series = daily_series({}, "clicks", 10, datetime.date(1, 1, 3))
    assert [day for day, _ in series] == ["0001-01-01", "0001-01-02", "0001-01-03"]


def test_wilson_interval_known_values() -> None:
    from opmaat_edge.cockpit.report import wilson

    # 60 of 1000: the textbook Wilson interval is about 4.69% to 7.66%.
    interval = wilson(60, 1000)
    assert interval is not None
    assert interval[0] == pytest.approx(0.04690, abs=2e-4)
    assert interval[1] == pytest.approx(0.07657, abs=2e-4)
    low, high = wilson(0, 10) or (None, None)
    assert low == 0.0
    assert high == pytest.approx(0.2775, abs=1e-3)
    assert wilson(10, 10) is not None
    assert wilson(0, 0) is None
    assert wilson(11, 10) is None
    assert wilson(-1, 10) is None
