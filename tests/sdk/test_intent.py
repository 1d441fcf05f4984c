from __future__ import annotations

import copy
import math
from typing import Any

import pytest

from opmaat.cart import add_to_cart, purchase
from opmaat.event_counts import note_event
from opmaat.intent import (
    DEFAULT_INTENT_WEIGHTS,
    SIGNAL_CAP,
    intent_attributes,
    intent_score,
    intent_signals,
    journey_stage,
)
from opmaat.store import Record

T0 = 1_790_000_000.0


def visitor(*, pageviews: int = 0, visits: int = 1, events: dict[str, int] | None = None) -> Record:
    record: Record = {"visits": visits, "session": {"id": "s1", "pageviews": pageviews}}
    for name, n in (events or {}).items():
        note_event(record, name, T0, n=n)
    return record


def signals(**values: int) -> dict[str, int]:
    base = dict.fromkeys(DEFAULT_INTENT_WEIGHTS, 0)
    base.update(values)
    return base


# --- signals ---------------------------------------------------------------------------------


def test_signals_come_from_the_session_and_visits() -> None:
    record = visitor(
        pageviews=3,
        visits=4,
        events={"product_view": 2, "add_to_cart": 1, "search": 5, "signup": 1},
    )
    assert intent_signals(record) == {
        "depth": 3,
        "product_views": 2,
        "add_to_cart": 1,
        "return_visits": 3,
        "searches": 5,
    }


def test_signals_are_per_session() -> None:
    record = visitor(pageviews=3, visits=2, events={"product_view": 4})
    record["session"] = {"id": "s2", "pageviews": 1}
    assert intent_signals(record) == signals(depth=1, return_visits=1)


def test_first_visit_has_no_return_visits() -> None:
    assert intent_signals(visitor(visits=1))["return_visits"] == 0
    assert intent_signals({})["return_visits"] == 0


# --- score -----------------------------------------------------------------------------------


def test_worked_example() -> None:
    # 4*3 pages + 10*2 product views + 30*1 add to cart + 8*1 return visit = 70
    record = visitor(pageviews=3, visits=2, events={"product_view": 2, "add_to_cart": 1})
    assert intent_score(intent_signals(record), DEFAULT_INTENT_WEIGHTS) == 70
    assert intent_score(signals(searches=1), DEFAULT_INTENT_WEIGHTS) == 6


def test_each_signal_counts_at_most_five_times() -> None:
    assert SIGNAL_CAP == 5
    assert intent_score(signals(depth=5), DEFAULT_INTENT_WEIGHTS) == 20
    assert intent_score(signals(depth=12), DEFAULT_INTENT_WEIGHTS) == 20
    assert intent_score(signals(depth=12, searches=9), DEFAULT_INTENT_WEIGHTS) == 50


def test_score_is_at_most_100() -> None:
    assert intent_score(signals(add_to_cart=3, product_views=2), DEFAULT_INTENT_WEIGHTS) == 100
    many = dict.fromkeys(DEFAULT_INTENT_WEIGHTS, 1000)
    assert intent_score(many, DEFAULT_INTENT_WEIGHTS) == 100


def test_no_signals_score_zero() -> None:
    assert intent_score({}, DEFAULT_INTENT_WEIGHTS) == 0
    assert intent_score(signals(), DEFAULT_INTENT_WEIGHTS) == 0


def test_a_signal_without_a_weight_counts_zero() -> None:
    assert intent_score(signals(depth=2, searches=3), {"depth": 10.0}) == 20
    assert intent_score(signals(depth=2), {}) == 0


def test_score_rounds_the_weighted_sum() -> None:
    assert intent_score({"depth": 3}, {"depth": 0.3}) == 1  # 0.9
    assert intent_score({"depth": 1}, {"depth": 0.4}) == 0


@pytest.mark.parametrize("weight", [math.nan, math.inf, "10", None, True, 10**400])
def test_unusable_weights_count_zero(weight: Any) -> None:
    assert intent_score({"depth": 2, "searches": 1}, {"depth": weight, "searches": 6.0}) == 6


# --- journey stage ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "stage"),
    [
        (0, "explore"),
        (29, "explore"),
        (30, "consider"),
        (69, "consider"),
        (70, "buy"),
        (100, "buy"),
    ],
)
def test_stage_by_score(score: int, stage: str) -> None:
    assert journey_stage({}, score) == stage


def test_items_in_the_cart_mean_buy_whatever_the_score() -> None:
    record: Record = {}
    add_to_cart(record, {"id": "a"}, T0, "s1")
    assert journey_stage(record, 0) == "buy"


def test_two_orders_mean_loyal() -> None:
    record: Record = {}
    purchase(record, T0)
    assert journey_stage(record, 100) == "buy"
    purchase(record, T0 + 1)
    add_to_cart(record, {"id": "a"}, T0, "s1")
    assert journey_stage(record, 0) == "loyal"
    assert journey_stage(record, 100) == "loyal"


# --- attributes ------------------------------------------------------------------------------


def test_intent_attributes_with_the_default_weights() -> None:
    record = visitor(pageviews=3, visits=2, events={"product_view": 2, "add_to_cart": 1})
    intent, journey = intent_attributes(record)
    assert intent == {"score": 70, "signals": intent_signals(record)}
    assert journey == {"stage": "buy"}


def test_explore_to_consider_boundary() -> None:
    assert intent_attributes(visitor(pageviews=5, visits=2))[0]["score"] == 28
    assert intent_attributes(visitor(pageviews=5, visits=2))[1] == {"stage": "explore"}
    with_search = visitor(pageviews=5, visits=2, events={"search": 1})
    assert intent_attributes(with_search) == (
        {"score": 34, "signals": signals(depth=5, return_visits=1, searches=1)},
        {"stage": "consider"},
    )


def test_intent_attributes_with_site_weights() -> None:
    record = visitor(pageviews=2)
    intent, journey = intent_attributes(record, {"depth": 20.0})
    assert intent["score"] == 40
    assert journey == {"stage": "consider"}
    assert intent_attributes(record, {})[0]["score"] == 0


GARBAGE: list[Record] = [
    {"session": "x", "visits": "3", "orders": [], "cart": 5},
    {"session": {"pageviews": -4, "events": {"product_view": "9", "search": -2}}, "visits": -1},
    {"session": {"pageviews": True, "events": []}, "visits": True, "orders": {"count": "5"}},
    {"session": {"pageviews": 10**30}, "visits": 10**30, "cart": {"items": [None, {"id": {}}]}},
]


@pytest.mark.parametrize("record", GARBAGE)
def test_malformed_records_never_raise(record: Record) -> None:
    before = copy.deepcopy(record)
    intent, journey = intent_attributes(record)
    assert all(isinstance(v, int) and v >= 0 for v in intent["signals"].values())
    assert 0 <= intent["score"] <= 100
    assert journey["stage"] in {"explore", "consider", "buy"}
    assert record == before


def test_malformed_records_read_as_zeros() -> None:
    for record in GARBAGE[:3]:
        assert intent_attributes(record) == (
            {"score": 0, "signals": signals()},
            {"stage": "explore"},
        )
    intent, journey = intent_attributes(GARBAGE[3])  # huge but whole numbers: capped
    assert intent["score"] == 4 * 5 + 8 * 5
    assert journey == {"stage": "consider"}
