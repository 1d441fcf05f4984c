from __future__ import annotations

import time
from pathlib import Path

import pytest
import re2

from opmaat.campaigns import check_file
from opmaat.conditions import compile_condition, evaluate_condition
from opmaat.errors import ConditionError

CATASTROPHIC = r"^(\w+\s?)+$"
# Word characters that a backtracking engine splits every possible way before failing at the
# "!": Python's `re` took about two seconds on the first, and would never finish the others.
ADVERSARIAL = ["a" * 24 + "!", "a" * 2047 + "!", ("trail running shoes " * 103)[:2047] + "!"]


def test_a_catastrophic_pattern_answers_at_once_on_2_kb_of_adversarial_text() -> None:
    matches = compile_condition({"referrer.term": {"$regex": CATASTROPHIC}}, strict=True)
    for text in ADVERSARIAL:
        started = time.perf_counter()
        assert not matches({"referrer": {"term": text}})
        assert time.perf_counter() - started < 0.05, f"{len(text)} characters"
    assert matches({"referrer": {"term": "trail running shoes"}})


def refusal(pattern: str, operator: str = "$regex") -> str:
    with pytest.raises(ConditionError) as raised:
        compile_condition({"page.path": {operator: pattern}}, strict=True)
    assert raised.value.path == ("page.path", operator)
    return raised.value.message


@pytest.mark.parametrize(
    ("pattern", "feature"),
    [
        ("^(?!/checkout)", "a negative lookahead, '(?!'"),
        ("(?=.*sale)shoes", "a lookahead, '(?='"),
        ("(?<=/c/)running", "a lookbehind, '(?<='"),
        ("(?<!/c)/running", "a negative lookbehind, '(?<!'"),
        (r"/(\w+)/\1/", "a backreference, '\\\\1'"),
        ("(?P<part>[a-z]+)-(?P=part)", "a named backreference, '(?P'"),
        ("(?>/c|/cat)/", "an atomic group, '(?>'"),
        ("/c/[a-z]++/", "a possessive quantifier, '++'"),
    ],
)
def test_what_needs_backtracking_is_refused_by_name(pattern: str, feature: str) -> None:
    assert refusal(pattern) == (
        f"regex {pattern!r} needs backtracking ({feature}), which opmaat does not run: one "
        "visitor's text could stall the server. Write it with $and, $or and $notRegex instead"
    )


def test_a_broken_pattern_keeps_its_plain_explanation() -> None:
    assert refusal("running (shoes") == (
        "invalid regex 'running (shoes': missing ), unterminated subpattern"
    )
    assert refusal("spring[", "$notRegexi") == "invalid regex 'spring[': unterminated character set"


def test_python_syntax_re2_lacks_is_named_as_such() -> None:
    assert refusal(r"shoes\Z") == (
        r"regex 'shoes\\Z' is not RE2 syntax, which opmaat runs: invalid escape sequence: \Z"
    )


def test_a_pattern_too_large_to_search_fast_is_refused() -> None:
    assert refusal(".{300}x") == (
        "regex '.{300}x' is too large to search fast: RE2 compiles it to 2,405 instructions, "
        "and at most 2,000 are allowed. Counted repetitions such as {300} and Unicode classes "
        "such as \\p{L} make it grow"
    )
    assert "11,973 instructions" in refusal(r"\pL{1,10}")
    huge = refusal("x" * 100_000)
    assert huge.startswith("regex 'xxx")
    assert "more than 2,000 instructions" in huge
    assert len(huge) < 300


def test_a_pattern_whose_automaton_does_not_fit_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    def out_of_memory(self: re2.Set) -> None:
        raise re2.error("failed to compile Set")

    monkeypatch.setattr(re2.Set, "Compile", out_of_memory)
    assert "'shoes' is too large to search fast" in refusal("shoes")


def test_patterns_refused_by_the_engine_never_match_outside_strict_mode() -> None:
    # As GrowthBook does with an invalid regex: false, even under $not or as $notRegex.
    for condition in (
        {"p": {"$regex": "(?=a)"}},
        {"p": {"$notRegex": "(?=a)"}},
        {"$not": {"p": {"$regex": "(?=a)"}}},
    ):
        assert not evaluate_condition(condition, {"p": "b"})
        assert not evaluate_condition(condition, {"p": "a"})


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        # RE2 syntax Python's `re` lacks.
        (r"^\p{L}+$", "Zürich", True),
        (r"^(?<country>[a-z]{2})/", "nl/sale", True),
        (r"sale\z", "/sale", True),
        # As in JavaScript, GrowthBook's reference: \w, \d and \b are ASCII, $ is the very end.
        (r"^\w+$", "café", False),
        (r"^\d+$", "١٢٣", False),
        (r"shoes$", "shoes\n", False),
        # A search, not a full match.
        ("shoes", "/c/running-shoes/", True),
    ],
)
def test_patterns_are_re2_syntax_with_javascript_classes(
    pattern: str, text: str, expected: bool
) -> None:
    assert compile_condition({"p": {"$regex": pattern}}, strict=True)({"p": text}) is expected


def test_evaluating_compiles_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    matches = compile_condition(
        {"$or": [{"referrer.host": {"$regexi": "GOOGLE"}}, {"ua": {"$notRegex": "bot"}}]}
    )

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a pattern compiled while evaluating")

    monkeypatch.setattr(re2, "compile", refuse)
    monkeypatch.setattr(re2.Set, "Compile", refuse)
    assert matches({"referrer": {"host": "www.Google.nl"}})
    assert not matches({"referrer": {"host": "bing.com"}, "ua": "googlebot"})


def test_ignoring_case_folds_beyond_ascii() -> None:
    assert evaluate_condition({"p": {"$regexi": "^ÉTÉ"}}, {"p": "été 2027"})
    assert not evaluate_condition({"p": {"$regex": "^ÉTÉ"}}, {"p": "été 2027"})


def test_a_lone_surrogate_in_a_visitors_text_is_just_text() -> None:
    matches = compile_condition({"p": {"$regex": "^a.c$"}, "q": {"$notRegex": "x"}})
    assert matches({"p": "a\ud800c", "q": "\udfff"})


def test_check_refuses_a_lookahead_naming_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "campaigns.yaml"
    path.write_text(
        "slots: {hero: {}}\ncampaigns:\n  - id: a\n    slot: hero\n"
        "    audience: {page.path: {$regex: '^(?!/checkout)'}}\n"
        "    variants: [{key: x, html: hi}]\n",
        encoding="utf-8",
    )
    assert [str(problem) for problem in check_file(path)] == [
        f"{path}:5: campaigns[0].audience.page.path.$regex: regex '^(?!/checkout)' needs "
        "backtracking (a negative lookahead, '(?!'), which opmaat does not run: one visitor's "
        "text could stall the server. Write it with $and, $or and $notRegex instead"
    ]
