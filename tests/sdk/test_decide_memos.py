"""What a decision keeps between requests: kept per campaign set, bounded, never stale."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from opmaat import conditions, gates, reasons
from opmaat.bucketing import bucket, choose_variant, variant_chooser
from opmaat.campaigns import load_campaigns_text
from opmaat.conditions import compile_condition
from opmaat.engine import Engine
from opmaat.reasons import compile_reason

NOW = datetime(2026, 11, 10, tzinfo=UTC)


def make_engine(*campaigns: dict[str, Any]) -> Engine:
    document = {
        "slots": {"hero": {}},
        "campaigns": [
            {"slot": "hero", "variants": [{"key": "a", "html": "a"}], **c} for c in campaigns
        ],
    }
    return Engine(load_campaigns_text(json.dumps(document)))


def winner(eng: Engine, profile: dict[str, Any]) -> str | None:
    return eng.decide(profile, ["hero"], now=NOW)["hero"].campaign


def kept(function: Callable[..., Any]) -> dict[Any, Any]:
    # The dict a closure keeps its answers in.
    cells = [cell.cell_contents for cell in function.__closure__ or ()]
    found = [cell for cell in cells if isinstance(cell, dict)]
    assert len(found) == 1
    return found[0]


# The candidates a gate lets through ---------------------------------------------------------


def test_a_reloaded_campaign_set_decides_afresh() -> None:
    nl = {"geo": {"country": "NL"}, "visitor": {"id": "v1"}}
    old = make_engine({"id": "dutch", "audience": {"geo.country": "NL"}})
    assert winner(old, nl) == "dutch"
    new = make_engine({"id": "belgian", "audience": {"geo.country": "BE"}})
    assert winner(new, nl) is None
    assert winner(old, nl) == "dutch"


def test_texts_no_gate_names_share_one_kept_list() -> None:
    eng = make_engine(
        {"id": "dutch", "audience": {"geo.country": "NL"}},
        {"id": "everyone"},
    )
    for n in range(300):
        assert winner(eng, {"geo": {"country": f"X{n}"}}) == "everyone"
    assert winner(eng, {"geo": {"country": "NL"}}) == "dutch"
    assert len(eng._candidates["hero"]["web"]._found) == 2


def test_kept_lists_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gates, "PASSING_CACHE", 4)
    countries = [f"C{n}" for n in range(10)]
    eng = make_engine(
        *({"id": f"c{n}", "audience": {"geo.country": c}} for n, c in enumerate(countries))
    )
    for _ in range(2):
        for n, country in enumerate(countries):
            assert winner(eng, {"geo": {"country": country}}) == f"c{n}"
            assert len(eng._candidates["hero"]["web"]._found) <= 4


def test_a_gate_that_is_the_whole_audience_needs_no_second_check() -> None:
    eng = make_engine(
        {"id": "alone", "priority": 2, "audience": {"geo.country": {"$in": ["NL", "BE"]}}},
        {"id": "more", "priority": 1, "audience": {"geo.country": "NL", "device.type": "mobile"}},
    )
    passing = eng._candidates["hero"]["web"].passing(
        eng._gates.signature({"geo": {"country": "NL"}})
    )
    assert [(c.id, matches is None) for c, matches in passing] == [("alone", True), ("more", False)]
    # A value the gate cannot judge (a path through a list) leaves the audience to decide.
    passing = eng._candidates["hero"]["web"].passing(eng._gates.signature({"geo": ["NL"]}))
    assert [(c.id, matches is None) for c, matches in passing] == [
        ("alone", False),
        ("more", False),
    ]
    assert winner(eng, {"geo": {"country": ["BE"]}}) == "alone"
    assert winner(eng, {"geo": ["NL"]}) is None


# Pattern answers -------------------------------------------------------------------------------


def counting_patterns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    searched: list[str] = []
    compile_pattern = conditions.compile_pattern

    def counted(pattern: str, *, ignore_case: bool = False) -> Callable[[str], bool]:
        occurs_in = compile_pattern(pattern, ignore_case=ignore_case)

        def search(text: str) -> bool:
            searched.append(text)
            return occurs_in(text)

        return search

    monkeypatch.setattr(conditions, "compile_pattern", counted)
    return searched


def test_a_pattern_searches_a_text_once(monkeypatch: pytest.MonkeyPatch) -> None:
    searched = counting_patterns(monkeypatch)
    check = compile_condition({"referrer.source": {"$regex": "^goo"}})
    for _ in range(3):
        assert check({"referrer": {"source": "google"}})
        assert not check({"referrer": {"source": "bing"}})
    assert searched == ["google", "bing"]


@pytest.mark.pure
def test_pattern_answers_stay_bounded_and_skip_long_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    searched = counting_patterns(monkeypatch)
    monkeypatch.setattr(conditions, "REMEMBERED_ANSWERS", 3)
    check = compile_condition({"page.path": {"$regex": "a"}})
    for n in range(10):
        check({"page": {"path": f"/a/{n}"}})
    assert len(kept(kept_matcher(check))) <= 3
    long_text = "a" * (conditions.REMEMBERED_TEXT + 1)
    searched.clear()
    for _ in range(2):
        assert check({"page": {"path": long_text}})
    assert searched == [long_text, long_text]


def kept_matcher(check: Callable[..., Any]) -> Callable[..., Any]:
    # evaluate_one -> field -> matches: the closure that keeps a pattern's answers.
    part = next(c.cell_contents for c in check.__closure__ or () if callable(c.cell_contents))
    found = [c.cell_contents for c in part.__closure__ or () if callable(c.cell_contents)]
    return next(f for f in found if f.__name__ == "matches")


def test_kept_answers_never_mix_texts_and_numbers() -> None:
    check = compile_condition({"x": {"$regex": "^1$"}})
    assert [check({"x": v}) for v in ["1", 1, 1.0, True, "1", "1.0"]] == [
        True,
        True,
        True,
        False,
        True,
        False,
    ]


# Reasons ----------------------------------------------------------------------------------


def test_a_reason_says_the_referrer_once_per_set_of_values(monkeypatch: pytest.MonkeyPatch) -> None:
    said: list[Any] = []
    text = reasons.text
    monkeypatch.setattr(reasons, "text", lambda value: said.append(value) or text(value))
    reason = compile_reason({"referrer.medium": "search"})
    profile = {"referrer": {"medium": "search", "source": "google", "term": "shoes"}}
    assert reason(profile) == "you came from a Google search for 'shoes'"
    first = len(said)
    assert reason(profile) == "you came from a Google search for 'shoes'"
    assert len(said) == first
    other = {"referrer": {"medium": "search", "source": "google", "term": "boots"}}
    assert reason(other) == "you came from a Google search for 'boots'"


def test_kept_reasons_never_mix_numbers_and_flags() -> None:
    reason = compile_reason({"referrer.host": {"$exists": True}})
    values = [1, True, 1.0, "1", None, ["x"], 1]
    said = [reason({"referrer": {"host": v}}) for v in values]
    assert said == [
        "you came from 1",
        reasons.MATCHED,
        "you came from 1",
        "you came from 1",
        reasons.MATCHED,
        reasons.MATCHED,
        "you came from 1",
    ]


@pytest.mark.pure
def test_kept_reasons_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reasons, "REMEMBERED", 3)
    reason = compile_reason({"geo.country": "NL"})
    for n in range(10):
        assert reason({"geo": {"country": "NL", "city": f"Town {n}"}}).endswith("the Netherlands")
    phrase = reason._parts[0].phrase
    assert len(kept(phrase)) <= 3


# Variants ---------------------------------------------------------------------------------


def reference_variant(seed: str, visitor: str, weights: list[float]) -> int:
    total = sum(max(w, 0.0) for w in weights)
    if total <= 0 or len(weights) == 1:
        return 0
    point, cumulative, last = bucket(seed, visitor) * total, 0.0, 0
    for index, weight in enumerate(weights):
        if weight <= 0:
            continue
        cumulative += weight
        last = index
        if point < cumulative:
            return index
    return last


def test_a_prepared_chooser_picks_what_choose_variant_picks() -> None:
    rnd = random.Random(21)
    for _ in range(300):
        weights = [
            rnd.choice([0.0, -1.0, 0.1, 1.0, 2.0, 1 / 3, 50.0]) for _ in range(rnd.randint(1, 4))
        ]
        choose = variant_chooser(weights)
        for n in range(20):
            visitor = f"v{rnd.randint(0, 10**6)}"
            expected = reference_variant(f"c{n}", visitor, weights)
            assert choose(f"c{n}", visitor) == expected
            assert choose_variant(f"c{n}", visitor, weights) == expected
