from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from opmaat.conditions import compile_condition
from opmaat.errors import ConditionError, OpmaatError

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "cases" / "conditions.json").read_text(encoding="utf-8")
)

# The corpus cases GrowthBook evaluates silently but a campaign file must not contain.
REJECTED_CASES = {
    "top-level key starting with $ is an attribute path",
    "object mixing operators and keys is a literal",
    "$in - operand not a list",
    "$nin - operand not a list",
    "$ini - operand not a list",
    "$nini - operand not a list",
    "$all - operand not a list",
    "$elemMatch - empty condition matches a non-null element",
    "$type - unknown type name",
    "$regex - invalid pattern",
    "$regex - invalid pattern, missing attribute",
    "$regex - pattern not a string",
    "$inGroup - unknown group",
    "$notInGroup - unknown group",
    "$inGroup - no saved groups given",
    "unknown operator",
    "unknown operator under $not",
    "invalid regex under $not",
    "unknown operator inside $or",
    "$and operand not a list",
    "$or operand not a list",
    "$or item not an object",
    "logical operator on an attribute",
}

GROUPS = {"vips": ["u1", "u2"]}

# condition, where the problem is, what the message must say
ERRORS: list[tuple[dict[Any, Any], tuple[str | int, ...], str]] = [
    (
        {"$or": [{"geo.country": "NL"}, {"referrer.host": {"$regex": "("}}]},
        ("$or", 1, "referrer.host", "$regex"),
        "invalid regex '(': missing ), unterminated subpattern",
    ),
    ({"geo.country": {"$inn": ["NL"]}}, ("geo.country", "$inn"), "unknown operator '$inn'"),
    ({"geo.country": {"$in": "NL"}}, ("geo.country", "$in"), "expects a list, got string"),
    ({"tags": {"$nin": {"a": 1}}}, ("tags", "$nin"), "expects a list, got object"),
    ({"tags": {"$all": 3}}, ("tags", "$all"), "expects a list, got number"),
    ({"tags": {"$alli": ["a", {"$regex": "["}]}}, ("tags", "$alli", 1, "$regex"), "invalid regex"),
    ({"$and": {"a": 1}}, ("$and",), "expects a list of conditions, got object"),
    ({"$nor": "a"}, ("$nor",), "expects a list of conditions, got string"),
    ({"$or": [{"a": 1}, "b"]}, ("$or", 1), "expected a condition object, got string"),
    ({"$not": ["a"]}, ("$not",), "expected a condition object, got array"),
    ({"$and": [{"$or": [{"x": {"$bad": 1}}]}]}, ("$and", 0, "$or", 0, "x", "$bad"), "'$bad'"),
    ({"tags": {"$size": "3"}}, ("tags", "$size"), "expects a number or operators"),
    ({"tags": {"$size": {"$gtt": 2}}}, ("tags", "$size", "$gtt"), "unknown operator '$gtt'"),
    ({"items": {"$elemMatch": [1]}}, ("items", "$elemMatch"), "expects a condition object"),
    (
        {"items": {"$elemMatch": {"price": {"$gt": 1, "$foo": 2}}}},
        ("items", "$elemMatch", "price", "$foo"),
        "unknown operator '$foo'",
    ),
    ({"id": {"$inGroup": "nope"}}, ("id", "$inGroup"), "unknown saved group 'nope'"),
    ({"id": {"$notInGroup": 7}}, ("id", "$notInGroup"), "expects a saved group id"),
    ({"consent.full": {"$exists": "false"}}, ("consent.full", "$exists"), "expects true or false"),
    ({"a": {"$type": "int"}}, ("a", "$type"), "unknown type 'int'"),
    ({"a": {"$regex": ["x"]}}, ("a", "$regex"), "expects a pattern string, got array"),
    ({"a": {"$gt": [1]}}, ("a", "$gt"), "expects a number or a string, got array"),
    ({"a": {"$vgt": {"v": 1}}}, ("a", "$vgt"), "expects a version"),
    ({"a": {"$gt": 1, "b": 2}}, ("a",), "mixes operators ($gt) with plain keys"),
    ({"$oor": [{"a": 1}]}, ("$oor",), "unknown operator '$oor'"),
    ({"age": {"$and": [{"$gt": 1}]}}, ("age", "$and"), "$and combines whole conditions"),
    ({1: "a"}, ("1",), "attribute paths must be strings"),
    ({"$or": "x"}, ("$or",), "expects a list of conditions"),
]


@pytest.mark.parametrize(("condition", "path", "message"), ERRORS, ids=[e[2] for e in ERRORS])
def test_strict_mode_names_the_problem_and_where(
    condition: dict[Any, Any], path: tuple[str | int, ...], message: str
) -> None:
    with pytest.raises(ConditionError) as caught:
        compile_condition(condition, GROUPS, strict=True)
    assert caught.value.path == path
    assert message in caught.value.message


@pytest.mark.parametrize(("condition", "path", "message"), ERRORS, ids=[e[2] for e in ERRORS])
def test_the_same_conditions_never_raise_without_strict(
    condition: dict[Any, Any], path: tuple[str | int, ...], message: str
) -> None:
    matches = compile_condition(condition, GROUPS)
    for attributes in ({}, {"a": 1, "id": "u1", "tags": ["a"], "age": 5}):
        assert isinstance(matches(attributes), bool)


def test_error_text_shows_the_path() -> None:
    with pytest.raises(OpmaatError) as caught:
        compile_condition({"$or": [{}, {"referrer.host": {"$regex": "("}}]}, strict=True)
    assert str(caught.value) == (
        "$or[1].referrer.host.$regex: invalid regex '(': missing ), unterminated subpattern"
    )


def test_deeply_nested_condition_is_an_error_not_a_crash() -> None:
    condition: dict[str, Any] = {"a": 1}
    for _ in range(5000):
        condition = {"$not": condition}
    with pytest.raises(ConditionError, match="nested too deeply"):
        compile_condition(condition, strict=True)
    assert compile_condition(condition)({"a": 1}) is False


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_strict_accepts_every_valid_case_and_agrees(case: dict[str, Any]) -> None:
    if case["name"] in REJECTED_CASES:
        with pytest.raises(ConditionError):
            compile_condition(case["condition"], case.get("saved_groups"), strict=True)
    else:
        matches = compile_condition(case["condition"], case.get("saved_groups"), strict=True)
        assert matches(case["attributes"]) is case["expected"]


@pytest.mark.parametrize(
    "condition",
    [
        {"$not": {"name": {"$regx": "hello"}}},
        {"$nor": [{"name": {"$regex": "("}}]},
        {"$or": [{"name": "hello"}, {"name": {"$in": "hello"}}]},
        {"name": {"$not": {"$elemMatch": "x"}}},
    ],
)
def test_a_broken_part_is_never_turned_into_a_match(condition: dict[str, Any]) -> None:
    # Negating "cannot evaluate" must not show a campaign to everyone.
    assert compile_condition(condition)({"name": "hello"}) is False
    assert compile_condition(condition)({}) is False
