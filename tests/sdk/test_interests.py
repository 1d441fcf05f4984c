from __future__ import annotations

import copy
import math
from typing import Any

import pytest

from opmaat.consent import Consent
from opmaat.interests import (
    MAX_INTERESTS,
    WANTED_SCORE,
    category_key,
    interest_attributes,
    note_interest,
)
from opmaat.profile import ProfileSources, build_profile
from opmaat.store import Record

T0 = 1_790_000_000.0
DAY = 86400.0
HALF_LIFE = 7.0


def viewed(*categories: str, now: float = T0) -> Record:
    record: Record = {}
    for category in categories:
        note_interest(record, category, now, HALF_LIFE)
    return record


def scores(record: Record, now: float = T0, prefs: dict[str, Any] | None = None) -> dict[str, Any]:
    return interest_attributes(record, prefs or {}, now, HALF_LIFE)


# --- note_interest ---------------------------------------------------------------------------


def test_each_view_adds_one() -> None:
    record = viewed("shoes")
    assert record["interests"] == {"shoes": [1.0, 1_790_000_000]}
    note_interest(record, "shoes", T0, HALF_LIFE)
    note_interest(record, "hats", T0, HALF_LIFE)
    assert record["interests"] == {"shoes": [2.0, 1_790_000_000], "hats": [1.0, 1_790_000_000]}
    assert scores(record) == {"shoes": 2.0, "hats": 1.0, "top": "shoes"}


def test_weight_is_added() -> None:
    record: Record = {}
    note_interest(record, "shoes", T0, HALF_LIFE, weight=2.5)
    assert scores(record)["shoes"] == 2.5


def test_score_halves_after_one_half_life() -> None:
    record = viewed("shoes")
    assert scores(record, T0 + 7 * DAY)["shoes"] == pytest.approx(0.5)
    assert scores(record, T0 + 14 * DAY)["shoes"] == pytest.approx(0.25)
    assert scores(record, T0 + 1 * DAY)["shoes"] == 0.91  # 0.5 ** (1 / 7), two decimals


def test_half_life_parameter_is_used() -> None:
    record = viewed("shoes")
    assert interest_attributes(record, {}, T0 + 2 * DAY, 2)["shoes"] == pytest.approx(0.5)
    assert interest_attributes(record, {}, T0 + 2 * DAY, 1)["shoes"] == pytest.approx(0.25)


def test_a_new_view_adds_to_the_decayed_score() -> None:
    record = viewed("shoes")
    note_interest(record, "shoes", T0 + 7 * DAY, HALF_LIFE)
    score, stamp = record["interests"]["shoes"]
    assert score == pytest.approx(1.5)
    assert stamp == round(T0 + 7 * DAY)
    assert scores(record, T0 + 14 * DAY)["shoes"] == pytest.approx(0.75)


def test_scores_that_faded_away_are_dropped() -> None:
    record = viewed("old")
    note_interest(record, "new", T0 + 100 * DAY, HALF_LIFE)
    assert set(record["interests"]) == {"new"}
    assert scores(viewed("old"), T0 + 100 * DAY) == {"top": None}


def test_future_stamp_counts_as_now() -> None:
    record: Record = {"interests": {"shoes": [3.0, T0 + DAY]}}
    assert scores(record) == {"shoes": 3.0, "top": "shoes"}


def test_keeps_at_most_max_interests_the_highest() -> None:
    record: Record = {}
    for i in range(MAX_INTERESTS + 5):
        note_interest(record, f"cat{i}", T0, HALF_LIFE, weight=i + 1)
    assert len(record["interests"]) == MAX_INTERESTS
    assert set(record["interests"]) == {f"cat{i}" for i in range(5, MAX_INTERESTS + 5)}
    # A new view scoring below every kept one does not push a higher one out.
    note_interest(record, "fresh", T0, HALF_LIFE, weight=0.5)
    assert "fresh" not in record["interests"]
    assert "cat5" in record["interests"]
    # One scoring above the lowest does, and the lowest goes.
    note_interest(record, "fresh", T0, HALF_LIFE, weight=100)
    assert len(record["interests"]) == MAX_INTERESTS
    assert "fresh" in record["interests"]
    assert "cat5" not in record["interests"]


@pytest.mark.parametrize(
    "category",
    [None, 5, 3.5, True, ["shoes"], {"shoes": 1}, "top", "TOP", "a" * 41, "Bad!", "", "   ", "-x"],
)
def test_bad_category_names_are_rejected(category: Any) -> None:
    record: Record = {}
    note_interest(record, category, T0, HALF_LIFE)
    assert "interests" not in record
    existing = viewed("shoes")
    before = copy.deepcopy(existing)
    note_interest(existing, category, T0 + DAY, HALF_LIFE)
    assert existing == before


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Trail Running", "trail-running"),
        ("  Shoes ", "shoes"),
        ("snake_case", "snake_case"),
        ("9lives", "9lives"),
        ("a" * 40, "a" * 40),
    ],
)
def test_category_names_are_normalised(raw: str, key: str) -> None:
    assert category_key(raw) == key
    assert set(viewed(raw)["interests"]) == {key}


def test_views_of_differently_written_names_add_up() -> None:
    record = viewed("Trail Running", "trail-running", "TRAIL RUNNING")
    assert scores(record) == {"trail-running": 3.0, "top": "trail-running"}


MALFORMED: dict[str, Any] = {
    "string": "3.0",
    "none": None,
    "number": 4.0,
    "dict": {"score": 1, "at": T0},
    "short": [1.0],
    "long": [1.0, T0, 3],
    "empty": [],
    "tuple-ish": "[1.0, 1790000000]",
    "bool-score": [True, T0],
    "bool-stamp": [1.0, False],
    "str-score": ["1", T0],
    "str-stamp": [1.0, "yesterday"],
    "nan-score": [math.nan, T0],
    "inf-score": [math.inf, T0],
    "negative": [-5.0, T0],
}


def test_malformed_stored_entries_are_ignored() -> None:
    record: Record = {"interests": {**MALFORMED, "ok": [2.0, T0]}}
    assert scores(record) == {"ok": 2.0, "top": "ok"}
    note_interest(record, "shoes", T0, HALF_LIFE)
    assert record["interests"] == {"ok": [2.0, 1_790_000_000], "shoes": [1.0, 1_790_000_000]}


@pytest.mark.parametrize("stamp", [math.nan, math.inf])
def test_non_finite_stamp_is_ignored(stamp: float) -> None:
    # Was a bug (interests.py _decayed): max(0.0, now - stamp) is 0.0 for a NaN or +inf
    # stamp, so the entry reads as noted just now at full score instead of being ignored.
    record: Record = {"interests": {"bad": [5.0, stamp], "ok": [2.0, T0]}}
    assert scores(record) == {"ok": 2.0, "top": "ok"}


@pytest.mark.parametrize("entry", [[10**400, T0], [1.0, 10**400]])
def test_huge_stored_integers_do_not_raise(entry: list[Any]) -> None:
    # Was a bug (interests.py _decayed): an int too large for a float (json.loads
    # yields one for a long digit string) raises OverflowError instead of being ignored.
    record: Record = {"interests": {"bad": entry, "ok": [2.0, T0]}}
    assert scores(record) == {"ok": 2.0, "top": "ok"}
    note_interest(record, "shoes", T0, HALF_LIFE)
    assert set(record["interests"]) == {"ok", "shoes"}


@pytest.mark.parametrize("stored", ["shoes", 5, None, ["shoes", 1.0], [["shoes", [1.0, T0]]]])
def test_interests_that_are_not_an_object_are_ignored(stored: Any) -> None:
    record: Record = {"interests": stored}
    assert scores(record) == {"top": None}
    note_interest(record, "hats", T0, HALF_LIFE)
    assert record["interests"] == {"hats": [1.0, 1_790_000_000]}


def test_stored_keys_that_are_not_categories_are_not_shown() -> None:
    record: Record = {"interests": {"top": [9.0, T0], "Bad!": [9.0, T0], "ok": [1.0, T0]}}
    assert scores(record) == {"ok": 1.0, "top": "ok"}


# --- interest_attributes ---------------------------------------------------------------------


def test_attributes_are_two_decimal_scores_and_top() -> None:
    record: Record = {"interests": {"a": [1.23456, T0], "b": [3.14159, T0], "c": [0.005, T0]}}
    out = scores(record)
    assert out == {"b": 3.14, "a": 1.23, "top": "b"}
    assert list(out) == ["b", "a", "top"]


def test_no_interests_means_top_none() -> None:
    assert scores({}) == {"top": None}


def test_ties_rank_by_name() -> None:
    record: Record = {"interests": {"b": [2.0, T0], "a": [2.0, T0]}}
    assert scores(record)["top"] == "a"


def test_wanted_category_ranks_first_even_if_never_viewed() -> None:
    record = viewed("shoes", "shoes", "hats")
    out = scores(record, prefs={"interests": {"socks": "more"}})
    assert out["top"] == "socks"
    assert next(iter(out)) == "socks"
    assert out["socks"] >= WANTED_SCORE
    assert out["shoes"] == 2.0
    assert out["hats"] == 1.0


def test_wanted_category_outranks_a_higher_inferred_score() -> None:
    record: Record = {"interests": {"shoes": [25.0, T0], "socks": [1.0, T0]}}
    out = scores(record, prefs={"interests": {"socks": "more"}})
    assert out["top"] == "socks"
    assert list(out)[:2] == ["socks", "shoes"]
    assert out["socks"] >= WANTED_SCORE
    assert out["socks"] >= out["shoes"]
    # Even a name that would sort after the other one wins the tie.
    out = scores(record, prefs={"interests": {"zebra": "more"}})
    assert out["top"] == "zebra"


def test_unwanted_category_is_removed() -> None:
    record = viewed("shoes", "shoes", "hats")
    out = scores(record, prefs={"interests": {"shoes": "less"}})
    assert out == {"hats": 1.0, "top": "hats"}
    assert scores(record, prefs={"interests": {"never-seen": "less"}})["top"] == "shoes"


def test_malformed_preferences_are_ignored() -> None:
    record = viewed("shoes")
    prefs = {"interests": {"Bad!": "more", "top": "more", "hats": "maybe", "shoes": 1}}
    assert scores(record, prefs=prefs) == {"shoes": 1.0, "top": "shoes"}
    assert scores(record, prefs={"interests": ["hats"]}) == {"shoes": 1.0, "top": "shoes"}


# --- build_profile ---------------------------------------------------------------------------


def test_build_profile_includes_interests_prefs_customer_and_consent() -> None:
    record: Record = {
        "visits": 3,
        "interests": {"shoes": [2.0, T0], "hats": [1.0, T0]},
        "prefs": {"interests": {"socks": "more", "hats": "less"}},
        "customer": {"tier": "gold"},
        "segments": ["vip", 5, None, "runners"],
    }
    context = {"geo": {"country": "NL"}, "page": {"path": "/x"}}
    profile = build_profile(context, record, visitor_id="v1", consent=Consent("full"), now=T0)
    assert profile["interests"] == {"socks": WANTED_SCORE, "shoes": 2.0, "top": "socks"}
    assert profile["prefs"] == {"interests": {"socks": "more", "hats": "less"}}
    assert profile["customer"] == {"tier": "gold"}
    assert profile["customer"] is not record["customer"]
    assert profile["segments"] == ["vip", "runners"]
    assert profile["consent"] == Consent("full").as_dict()
    assert profile["consent"]["tier"] == "full"
    assert profile["consent"]["personalized"] is True
    assert profile["geo"] == {"country": "NL"}
    assert profile["visitor"]["id"] == "v1"
    assert profile["visitor"]["visits"] == 3


def test_build_profile_uses_the_half_life() -> None:
    record: Record = {"interests": {"shoes": [2.0, T0]}}
    profile = build_profile(
        {},
        record,
        visitor_id=None,
        consent=Consent("full"),
        now=T0 + 3 * DAY,
        sources=ProfileSources(interest_half_life_days=3),
    )
    assert profile["interests"] == {"shoes": 1.0, "top": "shoes"}


GARBAGE: list[Any] = ["junk", 5, 2.5, True, None, [], ["a", 1], [["a", "b"]], {"x"}]


@pytest.mark.parametrize("junk", GARBAGE, ids=repr)
def test_build_profile_survives_garbage_in_the_record(junk: Any) -> None:
    record: Record = {"interests": junk, "prefs": junk, "customer": junk, "segments": junk}
    profile = build_profile({}, record, visitor_id="v1", consent=Consent("full"), now=T0)
    assert profile["interests"] == {"top": None}
    assert profile["prefs"] == {"interests": {}}
    assert profile["customer"] == {}
    assert profile["segments"] == (["a"] if junk == ["a", 1] else [])
    assert profile["consent"]["tier"] == "full"


def test_build_profile_survives_garbage_inside_the_sections() -> None:
    record: Record = {
        "interests": {"shoes": "many", "hats": [1, 2, 3], "socks": [1.0, T0]},
        "prefs": {"interests": "more", "colour": "red"},
        "customer": {"name": "Ann"},
        "segments": [{"a": 1}, ["b"], "c"],
    }
    profile = build_profile({}, record, visitor_id=None, consent=Consent("session"), now=T0)
    assert profile["interests"] == {"socks": 1.0, "top": "socks"}
    assert profile["prefs"] == {"interests": {}}
    assert profile["segments"] == ["c"]
    assert profile["consent"]["tier"] == "session"
