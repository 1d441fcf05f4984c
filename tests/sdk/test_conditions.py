from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from opmaat.conditions import compile_condition, condition_paths, evaluate_condition

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "cases" / "conditions.json").read_text(encoding="utf-8")
)

OPERATORS = [
    "$and",
    "$or",
    "$nor",
    "$not",
    "$eq",
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$in",
    "$nin",
    "$ini",
    "$nini",
    "$all",
    "$alli",
    "$elemMatch",
    "$size",
    "$exists",
    "$type",
    "$regex",
    "$regexi",
    "$notRegex",
    "$notRegexi",
    "$veq",
    "$vne",
    "$vgt",
    "$vgte",
    "$vlt",
    "$vlte",
    "$inGroup",
    "$notInGroup",
]


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_case(case: dict[str, Any]) -> None:
    matches = compile_condition(case["condition"], case.get("saved_groups"))
    assert matches(case["attributes"]) is case["expected"]
    assert (
        evaluate_condition(case["condition"], case["attributes"], case.get("saved_groups"))
        is (case["expected"])
    )


def test_cases_file_covers_every_operator_both_ways() -> None:
    assert len(CASES) >= 150
    assert len({case["name"] for case in CASES}) == len(CASES)
    for op in OPERATORS:
        outcomes = {c["expected"] for c in CASES if f'"{op}"' in json.dumps(c["condition"])}
        assert outcomes == {True, False}, f"{op} needs a matching and a non-matching case"


def test_no_condition_matches_everyone() -> None:
    assert compile_condition(None)({}) is True
    assert compile_condition({})({"anything": 1}) is True
    assert evaluate_condition(None, {}) is True


def test_attributes_may_be_any_mapping() -> None:
    from types import MappingProxyType

    attributes = MappingProxyType({"geo": MappingProxyType({"country": "NL"})})
    assert compile_condition({"geo.country": {"$in": ["NL"]}})(attributes) is True
    assert compile_condition({"geo.country": "BE"})(attributes) is False


def test_condition_paths_lists_leaves_top_down() -> None:
    condition = {
        "geo.country": {"$in": ["NL", "BE"]},
        "device.type": "mobile",
        "$or": [{"referrer.medium": "search"}, {"utm.source": {"$exists": True, "$ne": "x"}}],
        "$and": [{"visitor.visits": {"$gte": 3}}],
    }
    assert condition_paths(condition) == [
        ("geo.country", "$in", ["NL", "BE"]),
        ("device.type", "$eq", "mobile"),
        ("referrer.medium", "$eq", "search"),
        ("utm.source", "$exists", True),
        ("utm.source", "$ne", "x"),
        ("visitor.visits", "$gte", 3),
    ]


def test_condition_paths_skips_negative_leaves() -> None:
    condition = {
        "$not": {"geo.country": "NL"},
        "$nor": [{"device.type": "bot"}],
        "page.path": {"$not": {"$regex": "^/checkout"}, "$regex": "^/shop"},
    }
    assert condition_paths(condition) == [("page.path", "$regex", "^/shop")]


def test_condition_paths_reports_array_operators_as_one_leaf() -> None:
    inner = {"category": "shoes", "seconds": {"$gte": 30}}
    condition = {"session.pages": {"$elemMatch": inner}, "segments": ["a", "b"]}
    assert condition_paths(condition) == [
        ("session.pages", "$elemMatch", inner),
        ("segments", "$eq", ["a", "b"]),
    ]


@pytest.mark.parametrize("condition", [None, {}, {"$or": "nope"}, {"$and": [1, None]}, {1: 2}])
def test_condition_paths_of_empty_or_malformed_conditions(condition: Any) -> None:
    assert condition_paths(condition) == []


@pytest.mark.parametrize("case", CASES[:40], ids=[case["name"] for case in CASES[:40]])
def test_each_leaf_alone_means_what_the_condition_said(case: dict[str, Any]) -> None:
    # Reasons re-check single leaves as {path: {operator: operand}}; "$eq" must mean the same
    # as the plain value it stands for.
    for path, op, operand in condition_paths(case["condition"]):
        if op == "$eq":
            plain = evaluate_condition({path: operand}, case["attributes"])
            assert evaluate_condition({path: {"$eq": operand}}, case["attributes"]) is plain
