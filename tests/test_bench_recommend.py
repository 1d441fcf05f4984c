"""The recommendations benchmark: a seeded generator, metrics that mean what they say, and a
small run whose learned strategies beat the popularity baseline."""

from __future__ import annotations

import asyncio
import math

from bench import recommend, sessions


def shape(shop: sessions.Shop) -> list[tuple[str, list[tuple[float, str]], list[str]]]:
    return [(s.visitor, s.views, s.order) for s in shop.sessions]


def test_the_generator_is_seeded_and_sessions_come_in_time_order() -> None:
    one = sessions.generate(3, products=120, visitors=80, days=10)
    assert shape(one) == shape(sessions.generate(3, products=120, visitors=80, days=10))
    assert shape(one) != shape(sessions.generate(4, products=120, visitors=80, days=10))
    starts = [s.start for s in one.sessions]
    assert starts == sorted(starts)
    known = {p.id for p in one.products}
    for session in one.sessions:
        times = [at for at, _ in session.views]
        assert times == sorted(times)
        assert 1 <= len(session.views) <= 20
        assert {p for _, p in session.views} | set(session.order) <= known


def test_a_hit_at_rank_r_gains_one_over_log2_of_r_plus_one() -> None:
    score = recommend.Score()
    score.add(0, new=True)
    score.add(2, new=False)
    score.add(None, new=True)
    assert (score.cases, score.hits, score.new_cases, score.new_hits) == (3, 2, 2, 1)
    assert math.isclose(score.gain, 1 + 1 / math.log2(4))
    assert math.isclose(score.new_gain, 1)


def test_a_small_run_reports_every_strategy_against_popular() -> None:
    result = asyncio.run(recommend.run(products=200, visitors=1500, bound_products=100))
    scores = result["scores"]
    assert set(scores) == set(recommend.TASKS)
    for task, names in recommend.TASKS.items():
        assert list(scores[task]) == list(names)
        assert scores[task]["popular"].cases > 0
    next_view = scores["next view"]
    assert next_view["viewed-together"].new_gain > 1.5 * next_view["popular"].new_gain
    assert next_view["recently-viewed"].new_hits == 0  # it only ever reminds
    assert all(cost > 0 for cost in result["costs"].values())
    assert 0 < result["learned_bytes"] < result["bound_bytes"]
    lines = recommend.report(result)
    assert any(line.startswith("next view  viewed-together") for line in lines)
    assert any("memory per 10,000 products" in line for line in lines)


def test_the_budget_row_holds_the_slowest_lookup_against_50_microseconds() -> None:
    costs = {"viewed-together, 1 seed": 9.8, "personal + serendipity 0.2": 61.4, "personal": 35.0}
    label, measured, budget, ok, command = recommend.budget_row({"costs": costs})
    assert measured == "61 µs (personal + serendipity 0.2)"
    assert (budget, ok, command) == ("≤ 50 µs", False, "python -m bench.recommend")
    assert "list of 10 from a warm model" in label
    assert recommend.budget_row({"costs": {"personal": 42.0}})[3] is True
