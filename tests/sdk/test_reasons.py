from __future__ import annotations

from typing import Any

import pytest

from opmaat.reasons import EVERYONE, MATCHED, compile_reason, join, text

VISITOR: dict[str, Any] = {
    "referrer": {"medium": "search", "source": "google", "term": "running shoes"},
    "geo": {"country": "NL", "city": "Amsterdam", "nearest": {"name": "Dam", "distance_km": 3.5}},
    "device": {"type": "mobile"},
    "visitor": {"id": "v1", "visits": 4, "new": False},
    "interests": {"running_shoes": 0.8},
    "segments": ["newsletter", "vip"],
    "cart": {"items": 2},
    "utm": {"campaign": "spring-sale"},
    "page": {"category": "shoes"},
    "time": {"hour": 9},
    "purl": {"name": "Ann"},
    "rfm": {"recency": 3},
    "events": {"product_view": {"count_1d": 4, "count_7d": 4}},
    "milestone": {"third_visit": True},
}


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        ({"referrer.medium": "search"}, "you came from a Google search for 'running shoes'"),
        ({"geo.country": "NL"}, "you are in Amsterdam, the Netherlands"),
        ({"device.type": {"$in": ["mobile", "tablet"]}}, "you are using a mobile phone"),
        ({"visitor.visits": {"$gte": 3}}, "you have visited 4 times"),
        ({"visitor.new": False}, "you have been here before"),
        ({"interests.running_shoes": {"$gt": 0.5}}, "you showed interest in running shoes"),
        ({"segments": {"$in": ["vip"]}}, "you are in the 'vip' segment"),
        ({"cart.items": {"$gt": 0}}, "you have 2 items in your cart"),
        ({"utm.campaign": "spring-sale"}, "you came via the 'spring-sale' campaign"),
        ({"page.category": "shoes"}, "you are looking at shoes"),
        ({"time.hour": {"$lt": 12}}, "it is morning where you are"),
        ({"purl.name": {"$exists": True}}, "you followed your personal link"),
        ({"rfm.recency": {"$lt": 5}}, "your order history with us matched"),
        ({"geo.nearest.distance_km": {"$lte": 50}}, "our Dam store is 3.5 km from you"),
        ({"events.product_view.count_1d": {"$gte": 3}}, "you looked at 4 products today"),
        ({"milestone.third_visit": True}, "this is your third visit"),
        ({"visitor.id": {"$inGroup": "vip_ids"}}, "you are on the 'vip_ids' list"),
    ],
)
def test_phrases(audience: dict[str, Any], expected: str) -> None:
    assert compile_reason(audience, {"vip_ids": ["v1"]})(VISITOR) == expected


def test_several_conditions_are_joined() -> None:
    reason = compile_reason(
        {"referrer.medium": "search", "geo.country": "NL", "device.type": "mobile"}
    )
    assert reason(VISITOR) == (
        "you came from a Google search for 'running shoes', you are in Amsterdam, "
        "the Netherlands and you are using a mobile phone"
    )


def test_only_the_matching_branch_of_an_or_is_mentioned() -> None:
    reason = compile_reason({"$or": [{"geo.country": "DE"}, {"device.type": "mobile"}]})
    assert reason(VISITOR) == "you are using a mobile phone"


def test_negated_parts_explain_nothing() -> None:
    reason = compile_reason({"$not": {"geo.country": "DE"}, "device.type": "mobile"})
    assert reason(VISITOR) == "you are using a mobile phone"
    assert compile_reason({"$not": {"geo.country": "DE"}})(VISITOR) == MATCHED


def test_no_audience_means_everyone() -> None:
    assert compile_reason(None)(VISITOR) == EVERYONE
    assert compile_reason({})(VISITOR) == EVERYONE


def test_visitor_values_are_cut_and_made_single_line() -> None:
    visitor = {"referrer": {"medium": "search", "source": "bing", "term": "a\nb  " + "x" * 200}}
    reason = compile_reason({"referrer.medium": "search"})(visitor)
    assert "\n" not in reason
    assert reason.startswith("you came from a Bing search for 'a b xxx")
    assert len(reason) < 110
    assert reason.endswith("…'")


def test_odd_profile_values_never_raise() -> None:
    reason = compile_reason({"geo.country": "NL", "visitor.visits": {"$gt": 1}})
    assert reason({"geo": "NL", "visitor": {"visits": [1]}}) == MATCHED
    assert reason({"geo": {"country": 10**30}}) == "you are in a very large number"


def test_unknown_country_codes_are_shown_as_given() -> None:
    assert compile_reason({"geo.country": "IS"})({"geo": {"country": "IS"}}) == "you are in IS"


def test_text_and_join() -> None:
    assert text("  hi  ") == "hi"
    assert text(True) is None
    assert text({"a": 1}) is None
    assert text(2.50) == "2.5"
    assert join(["a"]) == "a"
    assert join(["a", "b", "c"]) == "a, b and c"


@pytest.mark.parametrize(
    ("geo", "expected"),
    [
        ({"country": "DE", "region": "Berlin", "city": "Berlin"}, "you are in Berlin, Germany"),
        (
            {"country": "NL", "region": "UTRECHT", "city": "Utrecht"},
            "you are in Utrecht, the Netherlands",
        ),
        (
            {"country": "NL", "region": "Noord-Holland", "city": "Amsterdam"},
            "you are in Amsterdam, Noord-Holland, the Netherlands",
        ),
    ],
)
def test_a_city_that_is_its_own_region_is_named_once(geo: dict[str, Any], expected: str) -> None:
    assert compile_reason({"geo.country": {"$exists": True}})({"geo": geo}) == expected


CHOSE: dict[str, Any] = {
    "prefs": {
        "interests": {"running": "more", "golf": "less"},
        "favourites": ["tent"],
        "ratings": {"tent": 5},
        "size": "42",
        "shoe_width": "wide",
        "channels": {"email": {"personalized": True}},
    },
    "offers": [{"id": "shoe", "reason": "because you chose size 42"}],
}


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        ({"prefs.size": {"$exists": True}}, "you chose size 42"),
        ({"prefs.shoe_width": "wide"}, "you chose shoe width wide"),
        ({"prefs.interests.running": "more"}, "you asked to see more running"),
        ({"prefs.interests.golf": "less"}, "you asked to see less of golf"),
        ({"prefs.favourites": {"$in": ["tent"]}}, "you saved favourites"),
        ({"prefs.ratings.tent": {"$gte": 4}}, "you gave tent 5 stars"),
        ({"prefs.channels.email.personalized": True}, "of the channels and hours you chose"),
        ({"offers.0": {"$exists": True}}, "you chose size 42"),
        ({"offers.length": {"$gte": 1}}, "you chose size 42"),
    ],
)
def test_what_the_visitor_chose_is_said_in_their_words(
    audience: dict[str, Any], expected: str
) -> None:
    assert compile_reason(audience)(CHOSE) == expected


def test_offers_without_a_reason_of_their_own_still_explain() -> None:
    reason = compile_reason({"offers.0": {"$exists": True}})
    assert reason({"offers": [{"id": "shoe", "reason": None}]}) == "of the offers picked for you"
    assert reason({"offers": ["shoe"]}) == "of the offers picked for you"
