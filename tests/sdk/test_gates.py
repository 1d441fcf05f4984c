"""Gates (sdk/opmaat/gates.py): the candidates a slot's gates let through are exactly those whose
audience may match, for texts, numbers and ``$or``, whatever the visitor's values are."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from opmaat import gates
from opmaat.campaigns import load_campaigns_text
from opmaat.engine import Engine
from opmaat.gates import OPAQUE, Gate, audience_gates

NOW = datetime(2026, 12, 7, tzinfo=UTC)


def make_engine(*audiences: dict[str, Any] | None) -> Engine:
    document = {
        "slots": {"hero": {}},
        "campaigns": [
            {
                "id": f"c{n}",
                "slot": "hero",
                "priority": len(audiences) - n,
                "variants": [{"key": "a", "html": "a"}],
                **({"audience": audience} if audience is not None else {}),
            }
            for n, audience in enumerate(audiences)
        ],
    }
    return Engine(load_campaigns_text(json.dumps(document)))


def winner(eng: Engine, profile: dict[str, Any]) -> str | None:
    return eng.decide(profile, ["hero"], now=NOW)["hero"].campaign


def every_audience_judged(eng: Engine, profile: dict[str, Any]) -> str | None:
    # The reference: each campaign's own compiled audience, in priority order, no gates.
    for campaign in sorted(eng.campaigns.campaigns, key=lambda c: -c.priority):
        if campaign.matches is None or campaign.matches(profile):
            return campaign.id
    return None


def checked(eng: Engine, profile: dict[str, Any]) -> list[tuple[str, bool]]:
    # The candidates let through, each with whether its audience is still checked.
    slate = eng._candidates["hero"]["web"]
    return [(c.id, m is not None) for c, m in slate.passing(eng._gates.signature(profile))]


# Which audiences have gates -------------------------------------------------------------------


def test_an_audience_gates_on_its_first_text_else_its_first_numbers() -> None:
    found, alone = audience_gates({"visitor.visits": {"$gte": 3}, "geo.country": "NL"})
    assert found == (Gate(("geo", "country"), texts=frozenset({"NL"})),)
    assert not alone
    found, alone = audience_gates({"visitor.visits": {"$gte": 3, "$lt": 10}})
    assert found == (Gate(("visitor", "visits"), bounds=(("$gte", 3), ("$lt", 10))),)
    assert alone
    found, alone = audience_gates(
        {"$or": [{"utm.campaign": "spring"}, {"intent.score": {"$gt": 70}}]}
    )
    assert found == (
        Gate(("utm", "campaign"), texts=frozenset({"spring"})),
        Gate(("intent", "score"), bounds=(("$gt", 70),)),
    )
    assert not alone


@pytest.mark.parametrize(
    "audience",
    [
        None,
        {},
        {"visitor.visits": {"$gte": "3"}},  # a text bound: JavaScript compares texts as texts
        {"visitor.visits": {"$gte": True}},
        {"visitor.visits": {"$gte": math.nan}},
        {"visitor.visits": {"$gte": 3, "$ne": 5}},  # another operator beside the comparisons
        {"visitor.visits": {}},
        {"$or": []},  # lets everyone in
        {"$or": [{"geo.country": "NL"}, {"visitor.new": True}]},  # a branch without a gate
        {"$or": [{"geo.country": "NL"}, {}]},
        {"$or": "NL"},
        {"$or": [["geo.country", "NL"]]},
        {"$and": [{"geo.country": "NL"}]},
    ],
)
def test_audiences_no_gate_can_judge_have_none(audience: dict[str, Any] | None) -> None:
    assert audience_gates(audience) == ((), False)


# Number gates ---------------------------------------------------------------------------------


def test_a_number_gate_lets_through_only_who_can_match_and_settles_a_whole_audience() -> None:
    eng = make_engine(
        {"visitor.visits": {"$gte": 3, "$lt": 10}},
        {"visitor.visits": {"$gt": 5}, "geo.country": {"$nin": ["BE"]}},  # gated on the visits
        None,
    )
    for visits, expected in [
        (1, [("c2", False)]),
        (3, [("c0", False), ("c2", False)]),
        (5, [("c0", False), ("c2", False)]),
        (5.5, [("c0", False), ("c1", True), ("c2", False)]),
        (10, [("c1", True), ("c2", False)]),
    ]:
        assert checked(eng, {"visitor": {"visits": visits}}) == expected, visits
    # Numbers in the same span between bounds share one kept list (5.5's).
    before = len(eng._candidates["hero"]["web"]._found)
    for visits in (6, 7, 8.5, 9.999):
        assert winner(eng, {"visitor": {"visits": visits}, "geo": {"country": "NL"}}) == "c0"
    assert len(eng._candidates["hero"]["web"]._found) == before


def test_a_number_gate_compares_as_the_conditions_do() -> None:
    eng = make_engine({"score": {"$gt": 0}}, {"score": {"$lte": 0}}, {"score": {"$gte": 1}})
    for value in [
        None,
        False,
        True,
        0,
        0.0,
        -0.0,
        1,
        1.0,
        2,
        "8",
        "0",
        "",
        "x",
        [],
        [5],
        {},
        {"a": 1},
        math.nan,
        math.inf,
        -math.inf,
        10**30,
        -(10**30),
        0.5,
        1 - 1e-16,
        1 + 1e-15,
    ]:
        for profile in ({"score": value}, {}):
            assert winner(eng, profile) == every_audience_judged(eng, profile), value
    # A text is left to the condition (JavaScript's Number("8") is 8); so is NaN.
    assert [m for _, m in checked(eng, {"score": "8"})] == [True, True, True]
    assert eng._gates.signature({"score": math.nan}) == (OPAQUE,)


def test_a_path_through_something_else_than_objects_is_left_to_the_condition() -> None:
    eng = make_engine({"cart.items.length": {"$gte": 2}}, {"cart.value": {"$gt": 50}})
    profile = {"cart": [1, 2, 3]}
    assert checked(eng, profile) == [("c0", True), ("c1", True)]
    assert winner(eng, profile) == every_audience_judged(eng, profile)
    assert winner(eng, {"cart": {"items": [1], "value": 60}}) == "c1"


def test_too_many_bounds_on_one_attribute_leave_it_to_the_conditions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(gates, "MAX_BOUNDS", 3)
    eng = make_engine(*({"interests.shoes": {"$gt": n / 10}} for n in range(5)))
    assert eng._gates.signature({"interests": {"shoes": 0.25}}) == (OPAQUE,)
    assert checked(eng, {"interests": {"shoes": 0.25}}) == [(f"c{n}", True) for n in range(5)]
    assert winner(eng, {"interests": {"shoes": 0.25}}) == "c0"
    assert winner(eng, {"interests": {"shoes": 0.0}}) is None


# $or ------------------------------------------------------------------------------------------


def test_an_or_lets_through_who_passes_any_branchs_gate() -> None:
    eng = make_engine(
        {"$or": [{"utm.campaign": "spring"}, {"geo.city": "Utrecht", "referrer.source": "google"}]},
        {"$or": [{"visitor.visits": {"$gte": 5}}, {"segments": {"$in": ["vip"]}}]},
    )
    assert checked(eng, {}) == []
    assert checked(eng, {"utm": {"campaign": "spring"}}) == [("c0", True)]
    assert checked(eng, {"geo": {"city": "Utrecht"}}) == [("c0", True)]
    assert winner(eng, {"geo": {"city": "Utrecht"}}) is None  # the branch's other key fails
    assert checked(eng, {"visitor": {"visits": 7}}) == [("c1", True)]
    assert checked(eng, {"segments": ["new", "vip"]}) == [("c1", True)]
    assert winner(eng, {"segments": ["vip"], "utm": {"campaign": "spring"}}) == "c0"


# Everything at once, against the audiences judged one by one ---------------------------------

VALUES: list[Any] = [
    None, True, False, 0, 1, 2, 2.5, 3, 5, 7.0, 10, 11, -1, "NL", "BE", "3", "", "x",
    ["NL"], ["BE", "DE"], [], {"a": 1}, math.nan, math.inf,
]  # fmt: skip


def random_audience(rnd: random.Random, depth: int = 0) -> dict[str, Any]:
    path = rnd.choice(["a", "b.c", "b.d", "e"])
    kind = rnd.randrange(6 if depth == 0 else 5)
    if kind == 0:
        return {path: rnd.choice(["NL", "BE", "DE"])}
    if kind == 1:
        return {path: {"$in": rnd.sample(["NL", "BE", "DE", "FR"], 2)}}
    if kind == 2:
        ops = rnd.sample(["$gt", "$gte", "$lt", "$lte"], rnd.randint(1, 2))
        return {path: {op: rnd.choice([0, 1, 2, 2.5, 3, 5, 10]) for op in ops}}
    if kind == 3:
        return {
            path: {"$gte": rnd.choice([1, 3])},
            rnd.choice(["a", "e"]): rnd.choice(["NL", "BE"]),
        }
    if kind == 4:
        return {path: {"$exists": rnd.choice([True, False])}}
    return {"$or": [random_audience(rnd, depth + 1) for _ in range(rnd.randint(1, 3))]}


def random_profile(rnd: random.Random) -> dict[str, Any]:
    profile: dict[str, Any] = {}
    for key in ("a", "e"):
        if rnd.random() < 0.8:
            profile[key] = rnd.choice(VALUES)
    if rnd.random() < 0.8:
        b = rnd.choice([{"c": rnd.choice(VALUES), "d": rnd.choice(VALUES)}, rnd.choice(VALUES)])
        profile["b"] = b
    return profile


@pytest.mark.parametrize("seed", range(8))
def test_gated_decisions_are_those_of_every_audience_judged(seed: int) -> None:
    rnd = random.Random(seed)
    eng = make_engine(*(random_audience(rnd) for _ in range(40)))
    for _ in range(400):
        profile = random_profile(rnd)
        assert winner(eng, profile) == every_audience_judged(eng, profile), profile
