from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from opmaat.adaptive import (
    DEFAULT_FLOOR,
    Posterior,
    choose,
    posterior,
    posteriors_for,
    simulate,
    traffic_shares,
)

PRIOR = Posterior(1.0, 1.0)
GOOD = Posterior(500.0, 500.0)  # about 50 %
BAD = Posterior(10.0, 990.0)  # about 1 %

ISSUE_RATES = [0.02, 0.05, 0.03]


class ScriptedDraws(random.Random):
    """A Random whose Beta draws are given in advance, and which records what was asked."""

    def __init__(self, draws: Sequence[float]) -> None:
        super().__init__(0)
        self.draws = list(draws)
        self.asked: list[tuple[float, float]] = []

    def betavariate(self, alpha: float, beta: float) -> float:
        self.asked.append((alpha, beta))
        return self.draws.pop(0)


def shares_of(picks: Sequence[int], count: int) -> list[float]:
    return [picks.count(index) / len(picks) for index in range(count)]


# --- posteriors ---------------------------------------------------------------------------


def test_default_floor_is_ten_percent() -> None:
    assert DEFAULT_FLOOR == 0.10


def test_posterior_from_a_tally_row() -> None:
    belief = posterior({"impressions": 100, "clicks": 30, "conversions": 7})
    assert belief == Posterior(8.0, 94.0)  # clicks play no part
    assert belief.mean == pytest.approx(8 / 102)


def test_posterior_mean() -> None:
    assert Posterior(3.0, 1.0).mean == 0.75
    assert PRIOR.mean == 0.5


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (None, (1, 1)),
        ({}, (1, 1)),
        ({"impressions": 10}, (1, 11)),
        ({"conversions": 4}, (5, 1)),  # impressions missing: beta keeps the prior's 1
        ({"impressions": 2, "conversions": 5}, (6, 1)),  # conversions ahead of impressions
        ({"impressions": -5, "conversions": 3}, (4, 1)),
        ({"impressions": 10, "conversions": -3}, (1, 11)),
        ({"impressions": "12", "conversions": None}, (1, 1)),
        ({"impressions": 10.5, "conversions": 2}, (3, 1)),
        ({"impressions": True, "conversions": True}, (1, 1)),
        ({"impressions": [3], "conversions": {"n": 1}}, (1, 1)),
    ],
)
def test_posterior_tolerates_odd_rows(row: Any, expected: tuple[int, int]) -> None:
    belief = posterior(row)
    assert (belief.alpha, belief.beta) == expected
    assert belief.beta >= 1
    assert belief.alpha >= 1


def test_posterior_of_a_row_that_is_not_a_mapping_is_the_prior() -> None:
    garbage: Any = ["impressions", 10]
    assert posterior(garbage) == PRIOR


def test_posteriors_for_follow_variant_order_and_fill_in_missing_variants() -> None:
    tallies: Mapping[str, Mapping[str, Mapping[str, int]]] = {
        "spring": {
            "b": {"impressions": 50, "clicks": 0, "conversions": 5},
            "a": {"impressions": 20, "clicks": 0, "conversions": 1},
        },
        "other": {"missing": {"impressions": 99, "clicks": 0, "conversions": 9}},
    }
    assert posteriors_for(tallies, "spring", ["a", "missing", "b"]) == (
        Posterior(2.0, 20.0),
        PRIOR,
        Posterior(6.0, 46.0),
    )
    assert posteriors_for(tallies, "spring", ["b", "a"]) == (
        Posterior(6.0, 46.0),
        Posterior(2.0, 20.0),
    )


def test_posteriors_for_a_campaign_without_tallies() -> None:
    assert posteriors_for({}, "spring", ["a", "b"]) == (PRIOR, PRIOR)
    assert posteriors_for({"spring": {}}, "spring", []) == ()


# --- choose -------------------------------------------------------------------------------


def test_floor_one_is_uniform_whatever_the_posteriors() -> None:
    rng = random.Random(11)
    picks = [choose([GOOD, BAD, PRIOR], rng, floor=1.0) for _ in range(30_000)]
    for share in shares_of(picks, 3):
        assert 0.30 <= share <= 0.37


def test_floor_zero_picks_the_clearly_better_variant() -> None:
    rng = random.Random(12)
    picks = [choose([BAD, GOOD], rng, floor=0.0) for _ in range(20_000)]
    assert picks.count(1) / len(picks) > 0.99


def test_floor_keeps_the_worse_variant_in_play() -> None:
    # Thompson sampling alone never picks BAD; the floor gives it floor / k of the traffic.
    rng = random.Random(13)
    picks = [choose([GOOD, BAD], rng, floor=0.1) for _ in range(20_000)]
    worse = picks.count(1) / len(picks)
    assert 0.045 <= worse <= 0.055


def test_default_floor_is_used_when_none_is_given() -> None:
    rng = random.Random(14)
    picks = [choose([GOOD, BAD, BAD], rng) for _ in range(20_000)]
    for share in shares_of(picks, 3)[1:]:
        assert DEFAULT_FLOOR / 3 * 0.85 <= share <= DEFAULT_FLOOR / 3 * 1.15


def test_choose_takes_the_largest_draw() -> None:
    rng = ScriptedDraws([0.4, 0.7, 0.2])
    beliefs = [Posterior(2.0, 3.0), Posterior(4.0, 5.0), Posterior(6.0, 7.0)]
    assert choose(beliefs, rng, floor=0.0) == 1
    assert rng.asked == [(2.0, 3.0), (4.0, 5.0), (6.0, 7.0)]  # each variant's own posterior


def test_choose_breaks_ties_towards_the_lowest_index() -> None:
    assert choose([PRIOR, PRIOR, PRIOR], ScriptedDraws([0.5, 0.5, 0.5]), floor=0.0) == 0
    assert choose([PRIOR, PRIOR, PRIOR], ScriptedDraws([0.1, 0.5, 0.5]), floor=0.0) == 1


def test_choose_with_one_variant_does_not_draw() -> None:
    rng = random.Random(15)
    state = rng.getstate()
    assert choose([BAD], rng) == 0
    assert choose([GOOD], rng, floor=1.0) == 0
    assert rng.getstate() == state


def test_choose_refuses_no_variants() -> None:
    with pytest.raises(ValueError, match="at least one variant"):
        choose([], random.Random(0))


@pytest.mark.parametrize("floor", [-0.1, 1.5, math.nan])
def test_choose_refuses_a_floor_outside_zero_to_one(floor: float) -> None:
    with pytest.raises(ValueError, match="floor"):
        choose([GOOD, BAD], random.Random(0), floor=floor)


# --- traffic shares -----------------------------------------------------------------------


def test_traffic_shares_sum_to_one_and_rank_the_better_variant_first() -> None:
    shares = traffic_shares([BAD, GOOD, Posterior(30.0, 970.0)])
    assert math.fsum(shares) == pytest.approx(1.0, abs=1e-9)
    assert max(shares) == shares[1]
    assert shares[1] > 0.9


def test_traffic_shares_include_the_floor_exactly() -> None:
    # Thompson sampling never picks BAD here, so its whole share is the floor's floor / k.
    shares = traffic_shares([GOOD, BAD], floor=0.1)
    assert shares == pytest.approx((0.95, 0.05), abs=1e-12)
    assert traffic_shares([GOOD, BAD, BAD], floor=1.0) == pytest.approx((1 / 3,) * 3)


def test_traffic_shares_match_what_choose_does() -> None:
    beliefs = [Posterior(20.0, 80.0), Posterior(25.0, 75.0), Posterior(2.0, 8.0)]
    shares = traffic_shares(beliefs, floor=0.2, draws=20_000, seed=3)
    rng = random.Random(99)
    picks = [choose(beliefs, rng, floor=0.2) for _ in range(20_000)]
    for expected, seen in zip(shares, shares_of(picks, 3), strict=True):
        assert seen == pytest.approx(expected, abs=0.02)


def test_traffic_shares_are_deterministic_for_a_seed() -> None:
    beliefs = [Posterior(20.0, 80.0), Posterior(22.0, 78.0), PRIOR]
    first = traffic_shares(beliefs, seed=5)
    assert traffic_shares(beliefs, seed=5) == first
    assert traffic_shares(beliefs, seed=6) != first  # the seed is really used
    assert math.fsum(first) == pytest.approx(1.0, abs=1e-9)


def test_traffic_shares_of_one_or_no_variants() -> None:
    assert traffic_shares([BAD]) == (1.0,)
    assert traffic_shares([]) == ()


def test_traffic_shares_refuse_bad_arguments() -> None:
    with pytest.raises(ValueError, match="draws"):
        traffic_shares([GOOD, BAD], draws=0)
    with pytest.raises(ValueError, match="floor"):
        traffic_shares([GOOD, BAD], floor=2.0)


# --- simulated audiences ------------------------------------------------------------------


def test_issue_acceptance_the_best_variant_wins_the_traffic() -> None:
    visitors = simulate(ISSUE_RATES, 5000, seed=7, batch=50)
    assert sum(visitors) == 5000
    assert max(visitors) == visitors[1]
    # A shorter run is the start of the longer one, so the difference is the later visitors.
    start = simulate(ISSUE_RATES, 1000, seed=7, batch=50)
    later = [total - early for total, early in zip(visitors, start, strict=True)]
    assert sum(later) == 4000
    assert later[1] / 4000 > 0.5
    # The floor keeps every variant in play.
    for count in visitors:
        assert count >= 5000 * DEFAULT_FLOOR / 3


def test_simulate_is_deterministic_for_a_seed() -> None:
    first = simulate(ISSUE_RATES, 5000, seed=7, batch=50)
    assert simulate(ISSUE_RATES, 5000, seed=7, batch=50) == first
    assert simulate(ISSUE_RATES, 5000, seed=8, batch=50) != first


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_simulate_finds_the_best_variant_with_other_seeds(seed: int) -> None:
    visitors = simulate(ISSUE_RATES, 5000, seed=seed, batch=50)
    assert max(visitors) == visitors[1]
    assert visitors[1] > visitors[0] + visitors[2]


def test_simulate_learns_only_when_the_batch_refreshes() -> None:
    # Refreshed every visitor, a variant that always converts takes nearly all the traffic.
    learning = simulate([0.0, 1.0], 2000, seed=4, batch=1)
    assert learning[1] / 2000 > 0.9
    # Never refreshed within the run, the posteriors stay the prior: a fair split.
    frozen = simulate([0.0, 1.0], 2000, seed=4, batch=2000)
    assert 0.45 <= frozen[1] / 2000 <= 0.55


def test_simulate_honours_the_floor() -> None:
    uniform = simulate([0.0, 1.0, 0.0], 3000, floor=1.0, seed=5)
    for count in uniform:
        assert 0.30 <= count / 3000 <= 0.37
    greedy = simulate([0.0, 1.0], 3000, floor=0.0, seed=5)
    assert greedy[1] / 3000 > 0.98


def test_simulate_with_one_variant_or_nobody() -> None:
    assert simulate([0.5], 100) == [100]
    assert simulate(ISSUE_RATES, 0) == [0, 0, 0]


@pytest.mark.parametrize(
    ("rates", "visitors", "batch", "message"),
    [
        ([], 10, 1, "at least one variant"),
        ([0.5, 1.5], 10, 1, "rates"),
        ([0.5, -0.1], 10, 1, "rates"),
        ([0.5, 0.5], -1, 1, "visitors"),
        ([0.5, 0.5], 10, 0, "batch"),
    ],
)
def test_simulate_refuses_bad_arguments(
    rates: list[float], visitors: int, batch: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        simulate(rates, visitors, batch=batch)
