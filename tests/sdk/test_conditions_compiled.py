from __future__ import annotations

import copy
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from opmaat.conditions import compile_condition, evaluate_condition

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "cases" / "conditions.json").read_text(encoding="utf-8")
)

AUDIENCE = {
    "geo.country": {"$in": ["NL", "BE"]},
    "device.type": "mobile",
    "visitor.visits": {"$gte": 3},
    "referrer.host": {"$regex": "^(www\\.)?google\\."},
    "app.version": {"$vgte": "2.1.0"},
    "segments": {"$elemMatch": {"$ini": ["VIP"]}},
}


def _profile(rng: random.Random) -> dict[str, Any]:
    return {
        "geo": {"country": rng.choice(["NL", "BE", "DE", None])},
        "device": {"type": rng.choice(["mobile", "desktop"])},
        "visitor": {"visits": rng.randint(0, 6)},
        "referrer": {"host": rng.choice(["www.google.nl", "google.be", "bing.com", ""])},
        "app": {"version": rng.choice(["2.0.9", "2.1.0", "2.10.0-beta", "v3.0.0"])},
        "segments": rng.sample(["vip", "newsletter", "churn"], rng.randint(0, 2)),
    }


def test_one_compiled_condition_serves_many_visitors() -> None:
    rng = random.Random(7)
    matches = compile_condition(AUDIENCE)
    profiles = [_profile(rng) for _ in range(2000)]
    results = [matches(profile) for profile in profiles]
    assert results == [evaluate_condition(AUDIENCE, profile) for profile in profiles]
    assert True in results
    assert False in results
    # Evaluating never changes the compiled condition: a second pass agrees with the first.
    assert [matches(profile) for profile in profiles] == results


def test_evaluation_compiles_no_regex(monkeypatch: pytest.MonkeyPatch) -> None:
    matches = compile_condition(
        {
            "$or": [{"referrer.host": {"$regexi": "GOOGLE"}}, {"ua": {"$notRegex": "bot"}}],
            "app.version": {"$vgt": "1.0.0"},
            "n": {"$lt": 5},
        }
    )

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("regex compiled at evaluation time")

    monkeypatch.setattr(re, "compile", refuse)
    monkeypatch.setattr(re, "search", refuse)
    monkeypatch.setattr(re, "match", refuse)
    assert matches({"referrer": {"host": "www.Google.nl"}, "app": {"version": "1.2"}, "n": "4"})
    bot = {"referrer": {"host": "bing.com"}, "ua": "googlebot", "app": {"version": "2"}}
    assert not matches(bot)


def test_editing_the_source_after_compiling_changes_nothing() -> None:
    condition: dict[str, Any] = {
        "geo.country": {"$in": ["NL"]},
        "tags": ["a", "b"],
        "prefs": {"size": 42},
        "page.path": {"$regex": "^/shop"},
        "scores": {"$all": [{"$gt": 5}]},
    }
    groups = {"vips": ["u1"]}
    attributes = {
        "geo": {"country": "NL"},
        "tags": ["a", "b"],
        "prefs": {"size": 42},
        "page": {"path": "/shop/x"},
        "scores": [9],
        "id": "u1",
    }
    matches = compile_condition({**condition, "id": {"$inGroup": "vips"}}, groups)
    assert matches(attributes) is True
    condition["geo.country"]["$in"].append("BE")
    condition["geo.country"]["$in"].remove("NL")
    condition["tags"].append("c")
    condition["prefs"]["size"] = 1
    condition["page.path"]["$regex"] = "^/nope"
    condition["scores"]["$all"][0]["$gt"] = 100
    groups["vips"].clear()
    assert matches(attributes) is True


class Weird:
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("no comparing me")

    __hash__ = object.__hash__


class Trap(dict[str, Any]):
    def get(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("trap")


HOSTILE_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    10**400,
    float("nan"),
    float("inf"),
    "",
    "x" * 100_000,
    "\ud83d",
    "😀",
    b"bytes",
    Weird(),
    object(),
    [None, [], {}],
    [[[[[]]]]],
    {1: 2, None: 3},
    ("a", 1),
    {"$in": ["NL"]},
    " 0x1F ",
    "Infinity",
    "1e400",
    "-",
    "v1.2.3+" + "9" * 50,
]


@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=[repr(v)[:30] for v in HOSTILE_VALUES])
def test_hostile_attribute_values_never_raise(value: Any) -> None:
    compiled = [compile_condition(c["condition"], c.get("saved_groups")) for c in CASES]
    keys = {key.split(".")[0] for c in CASES for key in c["condition"] if isinstance(key, str)}
    flat = dict.fromkeys(keys, value)
    nested = {key: {"x": value, "0": value, "name": value} for key in keys}
    for matches in compiled:
        for attributes in (flat, nested, Trap(flat), {"a": Trap()}):
            assert matches(attributes) in (True, False)


def test_results_do_not_depend_on_earlier_evaluations() -> None:
    rng = random.Random(11)
    compiled = [compile_condition(c["condition"], c.get("saved_groups")) for c in CASES]
    order = list(range(len(CASES)))
    rng.shuffle(order)
    for i in order:
        case = CASES[i]
        assert compiled[i](copy.deepcopy(case["attributes"])) is case["expected"], case["name"]
