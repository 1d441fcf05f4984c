"""A campaign's numbers for the cockpit: per-arm rates, uplift against the holdout, daily series.

Pure functions over the tallies the store keeps (arm -> field -> count, per campaign and per
day). Other processes write those tallies, so every count is read defensively: a missing field,
a negative number or anything that is not an int (a string, a bool, a float) counts as 0.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opmaat.store import HOLDOUT_ARM

# The arm events land in when the variant is not known.
UNKNOWN_ARM = "-"
# Fewer visitors than this in either arm and there is no uplift to speak of.
MIN_VISITORS = 30
# The two-sided 95% quantile of the standard normal distribution.
Z_95 = 1.959964
# A count past a 64-bit counter did not come from a store: bad data, counted as 0.
MAX_COUNT = 2**63 - 1

__all__ = [
    "HOLDOUT_ARM",
    "MAX_COUNT",
    "MIN_VISITORS",
    "UNKNOWN_ARM",
    "ArmRow",
    "CampaignNumbers",
    "Uplift",
    "campaign_numbers",
    "daily_series",
    "percent",
    "uplift",
]


def _count(value: object) -> int:
    """A tally's count: a positive int that fits a store's 64-bit counter, else 0 (bools are
    not counts)."""
    return value if type(value) is int and 0 < value <= MAX_COUNT else 0


def _field(arm: object, field: str) -> int:
    return _count(arm.get(field)) if isinstance(arm, Mapping) else 0


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator > 0 else None


def _ctr(clicks: int, impressions: int) -> float | None:
    # Each click counts its impression too, so more clicks than impressions is bad data
    # (tallies from before clicks needed a decision's token), not a rate above 100%.
    return _ratio(clicks, impressions) if clicks <= impressions else None


def _signed_percent(value: float) -> str:
    text = f"{value * 100:+.1f}%"
    return "+0.0%" if text == "-0.0%" else text


def percent(value: float | None, digits: int = 1) -> str:
    """A rate as a percentage: 0.125 -> "12.5%"; an en dash when there is none."""
    if value is None or not math.isfinite(value):
        return "\u2013"
    text = f"{value * 100:.{max(0, digits)}f}"
    if text.startswith("-") and not text.strip("-0."):
        text = text[1:]  # no "-0.0%"
    return text + "%"


@dataclass(frozen=True, slots=True)
class Uplift:
    """The relative uplift of an arm's visitor conversion rate over the holdout's (0.25 is
    +25%), with its 95% confidence interval."""

    estimate: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        """Whether the 95% confidence interval leaves out 0 (no difference)."""
        return self.low > 0 or self.high < 0

    def describe(self) -> str:
        return (
            f"{_signed_percent(self.estimate)} "
            f"(95% CI {_signed_percent(self.low)} to {_signed_percent(self.high)})"
        )


def uplift(
    converted: int, visitors: int, holdout_converted: int, holdout_visitors: int
) -> Uplift | None:
    """Uplift of converted/visitors over holdout_converted/holdout_visitors, with a 95% CI by
    the log risk-ratio (Katz) method; None when the numbers cannot carry one (an arm without
    conversions or with fewer than MIN_VISITORS visitors, more converted than visitors)."""
    x1, n1 = _count(converted), _count(visitors)
    x0, n0 = _count(holdout_converted), _count(holdout_visitors)
    if min(n1, n0) < MIN_VISITORS or x1 == 0 or x0 == 0 or x1 > n1 or x0 > n0:
        return None
    log_rr = math.log((x1 / n1) / (x0 / n0))
    se = math.sqrt(max(0.0, 1 / x1 - 1 / n1 + 1 / x0 - 1 / n0))
    return Uplift(
        estimate=math.exp(log_rr) - 1,
        low=math.exp(log_rr - Z_95 * se) - 1,
        high=math.exp(log_rr + Z_95 * se) - 1,
    )


@dataclass(frozen=True, slots=True)
class ArmRow:
    """One arm's numbers. ctr and conversion_rate are per impression (conversions may count a
    visitor more than once); visitor_rate is distinct converted visitors per visitor."""

    key: str
    impressions: int
    clicks: int
    ctr: float | None
    conversions: int
    conversion_rate: float | None
    visitors: int
    converted: int
    visitor_rate: float | None
    uplift: Uplift | None
    share: float | None


@dataclass(frozen=True, slots=True)
class CampaignNumbers:
    """The rows of a campaign's variants (in their order), the holdout's row when it has any
    count, and totals over every variant arm (the unknown arm too, never the holdout)."""

    rows: tuple[ArmRow, ...]
    holdout: ArmRow | None
    impressions: int
    clicks: int
    ctr: float | None
    conversions: int
    conversion_rate: float | None


def _row(
    key: str, arm: object, holdout: ArmRow | None = None, share: float | None = None
) -> ArmRow:
    impressions, clicks = _field(arm, "impressions"), _field(arm, "clicks")
    conversions = _field(arm, "conversions")
    visitors, converted = _field(arm, "visitors"), _field(arm, "converted")
    return ArmRow(
        key=key,
        impressions=impressions,
        clicks=clicks,
        ctr=_ctr(clicks, impressions),
        conversions=conversions,
        conversion_rate=_ratio(conversions, impressions),
        visitors=visitors,
        converted=converted,
        # More converted than visitors is bad data, not a rate above 100%.
        visitor_rate=_ratio(converted, visitors) if converted <= visitors else None,
        uplift=(
            uplift(converted, visitors, holdout.converted, holdout.visitors)
            if holdout is not None
            else None
        ),
        share=share,
    )


def _share(shares: Sequence[float] | None, index: int) -> float | None:
    if shares is None or index >= len(shares):
        return None
    value = shares[index]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def campaign_numbers(
    variant_keys: Sequence[str],
    tallies: Mapping[str, Mapping[str, Any]],
    shares: Sequence[float] | None = None,
) -> CampaignNumbers:
    """A campaign's numbers from its tallies (arm -> field -> count): a row per variant key in
    the given order (zeros for a variant without tallies), each with its uplift against the
    holdout and shares[i] (the adaptive traffic share) when shares are given. Arms that are
    neither a variant, the holdout nor the unknown arm are left out."""
    holdout_row = _row(HOLDOUT_ARM, tallies.get(HOLDOUT_ARM))
    has_holdout = any(
        (
            holdout_row.impressions,
            holdout_row.clicks,
            holdout_row.conversions,
            holdout_row.visitors,
            holdout_row.converted,
        )
    )
    holdout = holdout_row if has_holdout else None
    rows = tuple(
        _row(key, tallies.get(key), holdout, _share(shares, index))
        for index, key in enumerate(variant_keys)
    )
    # Each arm once, however often a key is listed.
    counted = [_row(key, tallies.get(key)) for key in dict.fromkeys([*variant_keys, UNKNOWN_ARM])]
    counted = [row for row in counted if row.key != HOLDOUT_ARM]
    impressions = sum(row.impressions for row in counted)
    clicks = sum(row.clicks for row in counted)
    conversions = sum(row.conversions for row in counted)
    return CampaignNumbers(
        rows=rows,
        holdout=holdout,
        impressions=impressions,
        clicks=clicks,
        ctr=_ctr(clicks, impressions),
        conversions=conversions,
        conversion_rate=_ratio(conversions, impressions),
    )


def wilson(successes: int, trials: int) -> tuple[float, float] | None:
    """The 95% Wilson score interval of a rate (what the rate chart's whiskers show); None
    without trials or for counts that cannot be."""
    if trials <= 0 or not 0 <= successes <= trials:
        return None
    rate = successes / trials
    z2 = Z_95 * Z_95
    centre = (rate + z2 / (2 * trials)) / (1 + z2 / trials)
    half = Z_95 * math.sqrt(rate * (1 - rate) / trials + z2 / (4 * trials * trials))
    half /= 1 + z2 / trials
    return max(0.0, centre - half), min(1.0, centre + half)


def daily_series(
    daily: Mapping[str, Mapping[str, Mapping[str, Any]]],
    field: str,
    days: int,
    today: datetime.date,
    arms: Collection[str] | None = None,
) -> list[tuple[str, int]]:
    """The last `days` UTC days up to and including `today`, oldest first, as (YYYY-MM-DD,
    count of `field` summed over `arms`); every arm but the holdout when arms is None. Days
    without tallies count 0; keys that are not a YYYY-MM-DD day are never looked at."""
    days = min(days, (today - datetime.date.min).days + 1)
    series: list[tuple[str, int]] = []
    for back in range(days - 1, -1, -1):
        day = (today - datetime.timedelta(days=back)).isoformat()
        by_arm = daily.get(day)
        total = 0
        if isinstance(by_arm, Mapping):
            for arm, counts in by_arm.items():
                wanted = (arm != HOLDOUT_ARM) if arms is None else (arm in arms)
                if wanted:
                    total += _field(counts, field)
        series.append((day, total))
    return series
