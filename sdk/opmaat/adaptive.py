"""Adaptive campaigns: variants chosen by Thompson sampling over conversion tallies.

Each variant's conversion rate is a Beta posterior built from its tally row (a uniform
Beta(1, 1) prior plus its conversions and non-converting impressions). A visitor gets the
variant whose posterior draw is largest, so traffic drifts towards what converts while a variant
that is still uncertain keeps getting a chance. A fixed share of choices (the "floor", or
serendipity) stays uniformly random whatever the posteriors say, so no variant is ever starved
and a change in what visitors like can still be noticed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

DEFAULT_FLOOR = 0.10

_UNIFORM_PRIOR = (1.0, 1.0)


@dataclass(frozen=True, slots=True)
class Posterior:
    """Beta(alpha, beta) belief about one variant's conversion rate."""

    alpha: float
    beta: float

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)


def _count(row: Mapping[str, int], field: str) -> int:
    # Tallies come from a store that other processes write: anything that is not a plain
    # non-negative int (None, a string, a bool, a float, a negative number) counts as nothing.
    value = row.get(field)
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return max(0, value)


def posterior(row: Mapping[str, int] | None) -> Posterior:
    """The Beta posterior of one variant from its tally row (None: nothing seen yet).

    Conversions beyond impressions (tallies are counted separately and may lag each other)
    add to alpha only; beta never drops below the prior's 1.
    """
    if not isinstance(row, Mapping):
        return Posterior(*_UNIFORM_PRIOR)
    conversions = _count(row, "conversions")
    impressions = _count(row, "impressions")
    return Posterior(
        _UNIFORM_PRIOR[0] + conversions,
        _UNIFORM_PRIOR[1] + max(0, impressions - conversions),
    )


def posteriors_for(
    tallies: Mapping[str, Mapping[str, Mapping[str, int]]],
    campaign: str,
    variant_keys: Sequence[str],
) -> tuple[Posterior, ...]:
    """One campaign's posteriors in the order of ``variant_keys``; a variant without a row
    (or a campaign without tallies) gets the uniform prior."""
    rows = tallies.get(campaign)
    if not isinstance(rows, Mapping):
        rows = {}
    return tuple(posterior(rows.get(key)) for key in variant_keys)


def _check_floor(floor: float) -> None:
    # ``not 0 <= floor <= 1`` also refuses NaN.
    if not 0.0 <= floor <= 1.0:
        raise ValueError(f"floor must be between 0 and 1, got {floor!r}")


def _best(posteriors: Sequence[Posterior], rng: random.Random) -> int:
    """The index of the largest Beta draw; the lowest index wins a tie."""
    best = 0
    best_draw = -math.inf
    for index, belief in enumerate(posteriors):
        draw = rng.betavariate(belief.alpha, belief.beta)
        if draw > best_draw:
            best, best_draw = index, draw
    return best


def choose(
    posteriors: Sequence[Posterior], rng: random.Random, floor: float = DEFAULT_FLOOR
) -> int:
    """The index of the variant to show: uniformly random with probability ``floor``,
    otherwise the variant with the largest draw from its posterior (Thompson sampling).

    A single variant is returned without using ``rng``.
    """
    if not posteriors:
        raise ValueError("choose needs at least one variant")
    _check_floor(floor)
    if len(posteriors) == 1:
        return 0
    if floor > 0 and rng.random() < floor:
        return rng.randrange(len(posteriors))
    return _best(posteriors, rng)


def traffic_shares(
    posteriors: Sequence[Posterior],
    floor: float = DEFAULT_FLOOR,
    draws: int = 2000,
    seed: int = 0,
) -> tuple[float, ...]:
    """The share of traffic each variant gets under the current posteriors (they sum to 1).

    The floor's uniform part is exact; the Thompson part is estimated from ``draws`` rounds
    with a ``Random(seed)``, so the same inputs always give the same shares.
    """
    _check_floor(floor)
    if draws < 1:
        raise ValueError(f"draws must be at least 1, got {draws!r}")
    count = len(posteriors)
    if count == 0:
        return ()
    if count == 1:
        return (1.0,)
    wins = [0] * count
    if floor < 1:
        rng = random.Random(seed)
        for _ in range(draws):
            wins[_best(posteriors, rng)] += 1
    uniform = floor / count
    return tuple(uniform + (1 - floor) * won / draws for won in wins)


def simulate(
    rates: Sequence[float],
    visitors: int,
    *,
    floor: float = DEFAULT_FLOOR,
    seed: int = 0,
    batch: int = 1,
) -> list[int]:
    """How many of ``visitors`` simulated visitors each variant gets, when variant ``i``
    converts with probability ``rates[i]``.

    Visitors arrive one by one and are given a variant by ``choose``; like the edge, which
    refreshes tallies periodically, the posteriors are rebuilt from the simulated
    impressions and conversions only every ``batch`` visitors. Choices and conversions use
    one ``Random(seed)``: the same arguments give the same list, and a run with fewer
    visitors is exactly the start of a longer one.
    """
    if not rates:
        raise ValueError("simulate needs at least one variant")
    for rate in rates:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rates must be between 0 and 1, got {rate!r}")
    if visitors < 0:
        raise ValueError(f"visitors must not be negative, got {visitors!r}")
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch!r}")
    _check_floor(floor)
    rng = random.Random(seed)
    impressions = [0] * len(rates)
    conversions = [0] * len(rates)
    beliefs: tuple[Posterior, ...] = ()
    for visitor in range(visitors):
        if visitor % batch == 0:
            beliefs = tuple(
                posterior({"impressions": shown, "conversions": converted})
                for shown, converted in zip(impressions, conversions, strict=True)
            )
        index = choose(beliefs, rng, floor)
        impressions[index] += 1
        if rng.random() < rates[index]:
            conversions[index] += 1
    return impressions
