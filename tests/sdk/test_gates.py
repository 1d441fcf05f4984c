"""Gates (sdk/opmaat/gates.py): the candidates a slot's gates let through are exactly those whose
audience may match, for texts, numbers and ``$or``, whatever the visitor's values are."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from opmaat import gates
from opmaat.campaigns import load_campaigns_text
from opmaat.conditions import compile_condition
from opmaat.engine import Engine
from opmaat.errors import ConditionError
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


def winner(eng: Engine, profile: Mapping[str, Any]) -> str | None:
    return eng.decide(profile, ["hero"], now=NOW)["hero"].campaign


def every_audience_judged(eng: Engine, profile: Mapping[str, Any]) -> str | None:
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


# Wider audiences and hostile profiles, against the audiences judged one by one -----------------


class Sub(dict[str, Any]):
    """A dict subclass, as a profile store may hand over."""


class Text(str):
    """A str subclass."""


class Items(list[Any]):
    """A list subclass."""


class ReadOnly(Mapping[str, Any]):
    """A mapping that is no dict: only the conditions can read through it."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


BIG = 2**53
WIDE_PATHS = ["a", "b.c", "b.d", "b.0", "b.length", "e", "a.b", "x.y.z", "b", ".a", "a..b"]
WIDE_TEXTS = ["NL", "BE", "DE", "", "3", "0"]
WIDE_BOUNDS: list[Any] = [0, 1, 2, 2.5, 3, -1, -0.0, BIG, BIG + 1, float(BIG), 10**30, 1e-320]
HOSTILE: list[Any] = [
    *WIDE_TEXTS, "x", Text("NL"), Text("y"), None, True, False, -0.0, 4, 2**53 - 1, 2**60,
    10**400, -(10**400), 1e300, 1 - 1e-16, math.nan, math.inf, -math.inf, *WIDE_BOUNDS,
    [], ["NL"], ("BE", "x"), Items(["DE"]), [["NL"]], [1, "NL"], (Text("NL"),), [True], [None],
    b"NL", {"NL"}, frozenset(["NL"]), object(), 1j,
]  # fmt: skip


def wide_operand(rnd: random.Random) -> Any:
    kind = rnd.randrange(12)
    if kind == 0:
        return rnd.choice(WIDE_TEXTS)
    if kind == 1:  # $eq with a text, a number, a flag or null
        return {"$eq": rnd.choice([*WIDE_TEXTS, *WIDE_BOUNDS, True, None])}
    if kind == 2:  # $in with texts, or texts mixed with numbers, flags and null
        pool = WIDE_TEXTS if rnd.random() < 0.5 else [*WIDE_TEXTS, 1, 2.5, True, False, None]
        return {"$in": rnd.sample(pool, rnd.randint(0, 3))}
    if kind in (3, 4, 5):  # comparisons, now and then with a text bound
        ops = rnd.sample(["$gt", "$gte", "$lt", "$lte"], rnd.randint(1, 4))
        bounds = {op: rnd.choice(WIDE_BOUNDS) for op in ops}
        if rnd.random() < 0.1:
            bounds[rnd.choice(ops)] = rnd.choice(["3", "a", ""])
        return bounds
    if kind == 6:  # another operator beside a gated one
        operand: dict[str, Any] = rnd.choice([{"$eq": "NL"}, {"$in": ["NL", "BE"]}, {"$gte": 2}])
        extra = rnd.choice([("$ne", "BE"), ("$exists", True), ("$type", "string"), ("$nin", [])])
        return {**operand, extra[0]: extra[1]}
    if kind == 7:
        return rnd.choice([{"$exists": True}, {"$exists": False}, {"$nin": ["NL"]}])
    if kind == 8:
        return rnd.choice([*WIDE_BOUNDS, True, False, None, [], ["NL"]])
    if kind == 9:
        return rnd.choice([{"$not": {"$eq": "NL"}}, {"$ne": "BE"}, {"$size": 1}])
    if kind == 10:
        return {"$elemMatch": {"$eq": rnd.choice(WIDE_TEXTS)}}
    return {"$in": ["NL"], "$eq": rnd.choice(WIDE_TEXTS)}


def gateable(rnd: random.Random, depth: int = 0) -> dict[str, Any]:
    # An audience its gates can judge: one key (that a gate can be the whole of, or with one
    # more beside it), or an $or of such audiences (its branches $or again now and then).
    if depth < 2 and rnd.random() < 0.3:
        return {"$or": [gateable(rnd, depth + 1) for _ in range(rnd.randint(1, 3))]}
    path = rnd.choice(WIDE_PATHS[:6])
    ops = rnd.sample(["$gt", "$gte", "$lt", "$lte"], rnd.randint(1, 2))
    audience: dict[str, Any] = rnd.choice(
        [
            {path: rnd.choice(WIDE_TEXTS)},
            {path: {"$in": rnd.sample(WIDE_TEXTS, rnd.randint(1, 3))}},
            {path: {op: rnd.choice(WIDE_BOUNDS) for op in ops}},
        ]
    )
    if rnd.random() < 0.2:
        audience[rnd.choice(WIDE_PATHS)] = wide_operand(rnd)
    return audience


def wide_audience(rnd: random.Random, depth: int = 0) -> dict[str, Any]:
    if rnd.random() < 0.4:
        return gateable(rnd)
    audience: dict[str, Any] = {}
    for _ in range(rnd.choice([1, 1, 2, 3])):
        roll = rnd.random()
        if roll < 0.25 and depth < 3:  # $or, its branches $or again now and then
            audience["$or"] = [wide_audience(rnd, depth + 1) for _ in range(rnd.randint(0, 3))]
        elif roll < 0.3 and depth < 3:
            op = rnd.choice(["$and", "$nor"])
            audience[op] = [wide_audience(rnd, depth + 1) for _ in range(rnd.randint(1, 2))]
        elif roll < 0.33 and depth < 3:
            audience["$not"] = wide_audience(rnd, depth + 1)
        else:
            audience[rnd.choice(WIDE_PATHS)] = wide_operand(rnd)
    return audience


def hostile_value(rnd: random.Random, depth: int = 0) -> Any:
    roll = rnd.random()
    if depth >= 3 or roll < 0.3:
        return rnd.choice([*WIDE_TEXTS, *WIDE_BOUNDS])  # what the gates name, most often
    if roll < 0.6:
        return rnd.choice(HOSTILE)
    if roll < 0.7:  # an array of what the gates name
        return rnd.choice([list, tuple, Items])(rnd.sample(WIDE_TEXTS, rnd.randint(1, 2)))
    kind: Any = rnd.choice([dict, dict, Sub, OrderedDict, ReadOnly, list, tuple])
    if kind in (list, tuple):
        return kind(hostile_value(rnd, depth + 1) for _ in range(rnd.randint(0, 3)))
    keys = rnd.sample(["c", "d", "0", "b", "y", "z", "length", ""], rnd.randint(1, 4))
    data = {key: hostile_value(rnd, depth + 1) for key in keys}
    return ReadOnly(data) if kind is ReadOnly else kind(data)


def hostile_profile(rnd: random.Random) -> dict[str, Any]:
    keys = rnd.sample(["a", "b", "e", "x", "", "a.b"], rnd.randint(0, 5))
    data = {key: hostile_value(rnd) for key in keys}
    return Sub(data) if rnd.random() < 0.2 else data


def loads(audience: dict[str, Any]) -> bool:
    # Whether a campaign file may hold it (the loader compiles audiences strictly).
    try:
        compile_condition(audience, {}, strict=True)
    except ConditionError:
        return False
    return True


def lenient_engine(*audiences: dict[str, Any]) -> Engine:
    # Audiences compiled as GrowthBook would (a broken one matches nobody), not as loaded.
    campaign_set = make_engine(*(None for _ in audiences)).campaigns
    campaigns = tuple(
        dataclasses.replace(c, audience=a, matches=compile_condition(a))
        for c, a in zip(campaign_set.campaigns, audiences, strict=True)
    )
    return Engine(dataclasses.replace(campaign_set, campaigns=campaigns))


@pytest.mark.parametrize("few_bounds", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_gated_decisions_agree_on_wider_audiences_and_hostile_profiles(
    seed: int, few_bounds: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Odd seeds: audiences compiled leniently, broken ones included; few_bounds: places with
    # more than three bounds judge nothing.
    if few_bounds:
        monkeypatch.setattr(gates, "MAX_BOUNDS", 3)
    rnd = random.Random(seed)
    audiences = [wide_audience(rnd) for _ in range(30)]
    if seed % 2:
        eng = lenient_engine(*audiences)
    else:
        eng = make_engine(*(a for a in audiences if loads(a)))
    slate = eng._candidates["hero"]["web"]
    assert any(c.gate_only for c in slate.candidates)
    assert any(len(c.gates) > 1 for c in slate.candidates)
    settled = 0
    for _ in range(150):
        profile = hostile_profile(rnd)
        assert winner(eng, profile) == every_audience_judged(eng, profile), profile
        # Stronger than the winner alone: every audience that matches, gated as judged.
        passing = slate.passing(eng._gates.signature(profile))
        gated = [c.id for c, m in passing if m is None or m(profile)]
        judged = [c.id for c in slate.candidates if c.matches is None or c.matches(profile)]
        assert gated == judged, profile
        settled += sum(m is None and bool(c.gates) for c, m in passing)
    assert settled or few_bounds  # some audiences were settled by their gates alone


# Focused cases ----------------------------------------------------------------------------------


def test_numbers_beyond_2_53_and_signed_zeros_compare_exactly_as_the_conditions_do() -> None:
    eng = make_engine(
        {"n": {"$gt": float(BIG)}},  # 2**53 + 1 is above it: Python compares int and float exactly
        {"n": {"$gte": BIG + 1, "$lt": 10**30}},
        {"n": {"$lt": -0.0}},
        {"n": {"$gte": 0, "$lte": BIG}},
    )
    assert winner(eng, {"n": BIG + 1}) == "c0"
    assert winner(eng, {"n": float(BIG)}) == "c3"
    for value in [BIG - 1, BIG, BIG + 1, float(BIG), 10**30, 10**400, -(10**400), 0, -0.0, None]:
        for profile in ({"n": value}, Sub(n=value)):
            assert winner(eng, profile) == every_audience_judged(eng, profile), value


def test_bounds_past_a_float_and_past_2_53_are_gated_exactly() -> None:
    # 10**400 is no float at all (math.isfinite overflowed on it); 2**53 + 1 and 2**53 + 2
    # are one float apart from 2**53: a bound kept as a float would merge them.
    eng = make_engine(
        {"n": {"$gt": 10**400}},
        {"n": {"$gt": BIG, "$lt": BIG + 2}},
        {"n": {"$gte": BIG + 2, "$lte": 10**400}},
    )
    assert winner(eng, {"n": 10**401}) == "c0"
    assert winner(eng, {"n": BIG + 1}) == "c1"
    assert winner(eng, {"n": BIG + 2}) == "c2"
    assert winner(eng, {"n": BIG}) is None
    for value in [BIG, BIG + 1, BIG + 2, float(BIG), 10**400, 10**401, 1e308, math.inf, "1e999"]:
        assert winner(eng, {"n": value}) == every_audience_judged(eng, {"n": value}), value


def test_a_number_gate_with_two_operators_is_the_whole_audience() -> None:
    eng = make_engine({"n": {"$gt": 1, "$lte": 5}}, {"n": {"$gt": 5, "$lt": 1}})
    assert [c.gate_only for c in eng._candidates["hero"]["web"].candidates] == [True, True]
    for value, expected in [(1, []), (1.5, [("c0", False)]), (5, [("c0", False)]), (5.1, [])]:
        assert checked(eng, {"n": value}) == expected, value
    values: list[Any] = [None, True, False, 0, 1, 3, 5, 6, "3", math.nan, -math.inf, [3]]
    for value in values:
        assert winner(eng, {"n": value}) == every_audience_judged(eng, {"n": value}), value


def test_text_and_number_gates_on_one_path_keep_apart() -> None:
    eng = make_engine({"a": "3"}, {"a": {"$gte": 3}}, {"a": {"$in": ["3", "NL"]}}, {"a": "NL"})
    assert len(eng._gates.places) == 2
    assert checked(eng, {"a": "3"}) == [("c0", False), ("c1", True), ("c2", False)]
    assert checked(eng, {"a": 3}) == [("c1", False)]
    assert checked(eng, {"a": ["3"]}) == [("c1", True), ("c2", False)]  # Number([3]) is 3
    for value in ["3", 3, 3.0, ["3"], ("NL",), Items(["NL"]), [["3"]], True, "NL", Text("3")]:
        assert winner(eng, {"a": value}) == every_audience_judged(eng, {"a": value}), value


def test_or_branches_that_are_ors_give_a_gate_each() -> None:
    found, alone = audience_gates(
        {"$or": [{"$or": [{"a": "NL"}, {"b": {"$gt": 1}}]}, {"c": {"$in": ["x"]}}]}
    )
    assert found == (
        Gate(("a",), texts=frozenset({"NL"})),
        Gate(("b",), bounds=(("$gt", 1),)),
        Gate(("c",), texts=frozenset({"x"}), in_array=True),
    )
    assert not alone
    assert audience_gates({"$or": [{"$or": []}, {"a": "NL"}]}) == ((), False)
    eng = make_engine({"$or": [{"$or": [{"a": "NL"}, {"b": {"$gt": 1}}]}, {"c": {"$in": ["x"]}}]})
    profiles: list[dict[str, Any]] = [{}, {"a": "NL"}, {"b": 2}, {"c": ["y", "x"]}, {"b": "2"}]
    for profile in profiles:
        assert winner(eng, profile) == every_audience_judged(eng, profile), profile


@pytest.mark.parametrize(
    ("audience", "gated", "alone"),
    [
        ({"a": {"$in": ["NL", 1]}}, False, False),  # a number among the texts
        ({"a": {"$in": ["NL", True]}}, False, False),  # a flag among the texts
        ({"a": {"$in": []}}, False, False),
        ({"a": {"$eq": 5}}, False, False),  # $eq with a number: no gate
        ({"a": 5}, False, False),
        ({"": "NL"}, False, False),  # the empty key is read, but not gated
        ({"a": {"$gt": 1, "$lt": "5"}}, False, False),  # a text bound beside a number
        ({"a": {"$gt": 1, "$exists": True}}, False, False),
        ({"a": {"$eq": "NL", "$ne": "BE"}}, True, False),  # necessary, not the whole
        ({"a": {"$in": ["NL"], "$eq": "BE"}}, True, False),
        ({"a": "NL", "$not": {"b": "x"}}, True, False),
        ({"a.0": "NL"}, True, True),  # an index on an object's key "0"; arrays: see below
        ({"a..b": {"$lte": 2.5}}, True, True),
    ],
)
def test_which_audiences_get_a_gate_and_which_gates_are_the_whole_audience(
    audience: dict[str, Any], gated: bool, alone: bool
) -> None:
    found, whole = audience_gates(audience)
    assert (bool(found), whole) == (gated, alone)


HOSTILE_AUDIENCES: list[dict[str, Any]] = [
    {"a": "NL"},
    {"a": {"$in": ["NL", "BE"]}},
    {"b.c": {"$gte": 2}},
    {"b.0": "NL"},
    {"a": {"$lt": 1}},
    {"$or": [{"b.c": "x"}, {"e": {"$gt": 0}}]},
]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_value_anywhere_never_raises_and_decides_as_judged(value: Any) -> None:
    eng = make_engine(*HOSTILE_AUDIENCES)
    profiles: list[Mapping[str, Any]] = [
        {"a": value},
        {"b": value},
        {"b": {"c": value, "0": value}},
        {"b": [value]},
        {"b": Sub(c=value)},
        {"b": OrderedDict(c=value)},
        {"b": ReadOnly({"c": value})},
        {"e": value, "b": (value,)},
        Sub(a=value, e=value),
        ReadOnly({"a": value, "b": {"c": value}}),
    ]
    for profile in profiles:
        eng._gates.signature(profile)
        assert winner(eng, profile) == every_audience_judged(eng, profile), profile


def test_a_path_through_an_array_or_a_mapping_no_dict_is_left_to_the_condition() -> None:
    eng = make_engine({"b.0": "NL"}, {"b.c": {"$gt": 1}})
    profiles: list[dict[str, Any]] = [
        {"b": ["NL"]},
        {"b": ReadOnly({"0": "NL"})},
        {"b": ReadOnly({"c": 2})},
    ]
    for profile in profiles:
        assert eng._gates.signature(profile) == (OPAQUE, OPAQUE)
        assert winner(eng, profile) == every_audience_judged(eng, profile) is not None
    assert winner(eng, {"b": ("BE",)}) is None


def test_a_broken_audience_is_never_settled_by_its_gate() -> None:
    # Loading compiles strictly (a broken audience is an error); compiled leniently, it matches
    # nobody, and its gate only lets visitors through to that check.
    broken = {"a": "NL", "b": {"$regex": 5}}
    assert not loads(broken)
    eng = lenient_engine(broken, {"a": {"$in": ["NL"]}})
    assert checked(eng, {"a": "NL"}) == [("c0", True), ("c1", False)]
    assert winner(eng, {"a": "NL"}) == "c1"
