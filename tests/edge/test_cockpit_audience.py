"""Audiences in words for the cockpit: exact sentences for the demo's audiences, every operator
`opmaat.conditions` knows, friendly attribute names, nesting with parentheses, values as
marketers write them, at most 300 characters, and never an exception whatever the input."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from opmaat import conditions
from opmaat.conditions import compile_condition
from opmaat.errors import ConditionError
from opmaat_edge.cockpit.audience import (
    EVERY_VISITOR,
    MAX_CHARS,
    UNDESCRIBABLE,
    describe_audience,
)
from opmaat_edge.resources import DEMO_CAMPAIGNS

CASES = Path(__file__).parents[1] / "sdk" / "cases" / "conditions.json"
GENERIC = ("unrecognized condition", "matches {", "invalid pattern")


def described(audience: Any) -> str:
    """describe_audience, checked for what holds of every answer."""
    text = describe_audience(audience)
    assert isinstance(text, str)
    assert text
    assert len(text) <= MAX_CHARS
    assert text.isprintable()
    return text


# --- the demo's audiences -----------------------------------------------------------------

DEMO = [
    ({"geo.country": "NL"}, "country is NL"),
    ({"visitor.visits": {"$gte": 2}}, "visits at least 2"),
    (
        {"segments": {"$in": ["rfm-champions", "vip"]}},
        "is in any of the segments rfm-champions or vip",
    ),
    ({"interests.top": {"$exists": True, "$ne": None}}, "top interest is known"),
    (
        {"interests.top": {"$in": ["running", "cycling", "outdoor"]}},
        "top interest is one of running, cycling or outdoor",
    ),
    ({"cart.abandoned": True}, "has an abandoned cart"),
    (
        {"purl.campaign": "spring-mailing", "purl.forwarded": False},
        "personal link of campaign is spring-mailing and personal link was not forwarded",
    ),
    (
        {"purl.campaign": "spring-mailing", "purl.forwarded": True},
        "personal link of campaign is spring-mailing and personal link was forwarded",
    ),
    (
        {"geo.nearest.distance_km": {"$exists": True, "$lte": 100}},
        "distance to the nearest store in km is known and at most 100",
    ),
    ({"events.product_view.count_1d": {"$gte": 3}}, "product view events today at least 3"),
    ({"referrer.medium": "search"}, "traffic source is search"),
    ({"device.type": "mobile"}, "device is mobile"),
    ({"cart.count": {"$gte": 1}}, "items in the cart at least 1"),
    ({"milestone.back_after_30_days": True}, "is back after 30 days or more away"),
    ({"milestone.third_visit": True}, "is on their third visit"),
    ({"intent.score": {"$gte": 60}}, "intent score at least 60"),
    (
        {"$or": [{"prefs.size": {"$exists": True}}, {"prefs.favourites": {"$exists": True}}]},
        "either preference size is known or favourites are known",
    ),
]


@pytest.mark.parametrize(("audience", "expected"), DEMO)
def test_demo_audiences(audience: dict[str, Any], expected: str) -> None:
    assert described(audience) == expected


def demo_audiences() -> list[Any]:
    document = yaml.safe_load(DEMO_CAMPAIGNS.read_text(encoding="utf-8"))
    return [campaign.get("audience") for campaign in document["campaigns"]]


def test_every_demo_audience_is_in_the_table_above() -> None:
    """The demo file's audiences as loaded from YAML, so the table cannot drift from it."""
    expected = {json.dumps(a, sort_keys=True): text for a, text in DEMO}
    audiences = [a for a in demo_audiences() if a]
    assert audiences
    for audience in audiences:
        assert described(audience) == expected[json.dumps(audience, sort_keys=True)]


def test_demo_campaigns_without_an_audience_reach_every_visitor() -> None:
    assert None in demo_audiences()
    assert described(None) == EVERY_VISITOR


# --- everyone -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "audience",
    [None, {}, {"$and": []}, {"$or": []}, {"$and": [{}, {"$or": []}]}, {"$or": [{}, {"a": 1}]}],
)
def test_every_visitor(audience: Any) -> None:
    assert described(audience) == "every visitor"


def test_parts_that_hold_for_everyone_drop_out() -> None:
    assert described({"$and": [{}, {"geo.country": "NL"}], "$or": []}) == "country is NL"


@pytest.mark.parametrize(
    "audience", [{"$nor": []}, {"$not": {}}, {"$nor": [{}]}, {"$not": {"$or": []}}]
)
def test_no_visitor(audience: Any) -> None:
    # GrowthBook: an empty $nor matches no one, as does "not (everyone)".
    assert described(audience) == "no visitor"
    assert not compile_condition(audience)({"geo": {"country": "NL"}})


# --- friendly names -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("geo.country", "country is X"),
        ("geo.region", "region is X"),
        ("geo.city", "city is X"),
        ("device.type", "device is X"),
        ("device.os", "operating system is X"),
        ("device.browser", "browser is X"),
        ("referrer.medium", "traffic source is X"),
        ("referrer.source", "referrer is X"),
        ("referrer.term", "search term is X"),
        ("visitor.visits", "visits are X"),
        ("session.pageviews", "pages viewed this visit are X"),
        ("cart.count", "items in the cart are X"),
        ("cart.value", "cart value is X"),
        ("segments", "segments are X"),
        ("interests.running", "interest in running is X"),
        ("interests.trail_shoes", "interest in trail shoes is X"),
        ("interests.top", "top interest is X"),
        ("intent.score", "intent score is X"),
        ("journey.stage", "journey stage is X"),
        ("events.product_view.count_1d", "product view events today are X"),
        ("events.purchase.count_7d", "purchase events in the last 7 days are X"),
        ("events.search.count_30d", "search events in the last 30 days are X"),
        ("events.add_to_cart.session", "add to cart events this visit are X"),
        ("milestone.third_visit", "milestone third visit is X"),
        ("purl.campaign", "personal link of campaign is X"),
        ("utm.campaign", "UTM campaign is X"),
        ("utm.source", "UTM source is X"),
        ("time.hour", "hour of day is X"),
        ("time.weekday", "weekday is X"),
        ("customer.first_name", "customer first name is X"),
        ("customer.id", "customer ID is X"),
        ("rfm.segment", "RFM segment is X"),
        ("rfm.score", "RFM score is X"),
        ("rfm.r", "RFM recency score is X"),
        ("prefs.interests.running", "stated preference for running is X"),
        ("prefs.newsletter", "preference newsletter is X"),
        ("consent.tier", "consent tier is X"),
        ("page.category", "page category is X"),
        ("response.spring-sale.clicks", "clicks on campaign spring-sale are X"),
        ("orders.count", "orders are X"),
        # Anything else keeps its dotted path.
        ("visitor.id", "visitor.id is X"),
        ("events.product_view", "events.product_view is X"),
        ("events.product_view.count_2d", "events.product_view.count_2d is X"),
        ("response.spring-sale.seen", "response.spring-sale.seen is X"),
        ("shoe_size", "shoe_size is X"),
        ("a.b.c.d", "a.b.c.d is X"),
    ],
)
def test_attribute_names(path: str, expected: str) -> None:
    assert described({path: "X"}) == expected


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        ({"cart.abandoned": True}, "has an abandoned cart"),
        ({"cart.abandoned": False}, "has no abandoned cart"),
        ({"cart.abandoned": {"$eq": True}}, "has an abandoned cart"),
        # $ne also matches visitors without the attribute, so it is not the "false" wording.
        ({"cart.abandoned": {"$ne": True}}, "not (has an abandoned cart)"),
        ({"cart.abandoned": {"$ne": False}}, "not (has no abandoned cart)"),
        ({"cart.abandoned": {"$exists": True}}, "abandoned cart is known"),
        ({"visitor.new": True}, "is a new visitor"),
        ({"visitor.new": False}, "is not a new visitor"),
        ({"milestone.first_visit": True}, "is on their first visit"),
        ({"milestone.back_after_7_days": False}, "is not back after 7 days or more away"),
        ({"milestone.fifth_order": True}, "reached the milestone fifth order"),
        ({"milestone.fifth_order": False}, "has not reached the milestone fifth order"),
        ({"consent.personalized": False}, "turned personalization off"),
        ({"purl.forwarded": {"$not": False}}, "not (personal link was not forwarded)"),
        # Not a known true/false attribute: the value is said as it is.
        ({"newsletter": True}, "newsletter is true"),
        ({"cart.abandoned": "yes"}, "abandoned cart is yes"),
    ],
)
def test_true_false_attributes(audience: dict[str, Any], expected: str) -> None:
    assert described(audience) == expected


def test_flag_wordings_say_what_the_condition_does() -> None:
    """`$ne: true` and `false` differ exactly on visitors without the attribute."""
    no_cart: dict[str, Any] = {}
    assert compile_condition({"cart.abandoned": {"$ne": True}})(no_cart)
    assert not compile_condition({"cart.abandoned": False})(no_cart)
    assert described({"cart.abandoned": {"$ne": True}}) != described({"cart.abandoned": False})


# --- operators ----------------------------------------------------------------------------

OPERATORS = [
    # equality
    ({"geo.country": {"$eq": "NL"}}, "country is NL"),
    ({"geo.country": {"$ne": "NL"}}, "country is not NL"),
    ({"visitor.visits": 3}, "visits are 3"),
    ({"geo.city": None}, "city is not known"),
    ({"geo.city": {"$eq": None}}, "city is not known"),
    ({"geo.city": {"$ne": None}}, "city is known"),
    ({"tags": ["a", "b"]}, "tags is [a, b]"),
    ({"tags": {"$eq": ["a", "b"]}}, "tags is [a, b]"),
    ({"prefs": {}}, "prefs is {}"),
    ({"shoe": {"size": 42, "width": "wide"}}, "shoe is {size: 42, width: wide}"),
    # Operators mixed with plain keys are a literal object to GrowthBook.
    ({"x": {"$gt": 1, "y": 2}}, "x is {$gt: 1, y: 2}"),
    # comparisons
    ({"visitor.visits": {"$gt": 2}}, "visits more than 2"),
    ({"visitor.visits": {"$gte": 2}}, "visits at least 2"),
    ({"visitor.visits": {"$lt": 2}}, "visits less than 2"),
    ({"visitor.visits": {"$lte": 2}}, "visits at most 2"),
    ({"visitor.visits": {"$gte": 2, "$lte": 5}}, "visits at least 2 and at most 5"),
    ({"time.hour": {"$gte": 8, "$lt": 22}}, "hour of day at least 8 and less than 22"),
    ({"cart.value": {"$gt": 49.5}}, "cart value more than 49.5"),
    ({"cart.value": {"$gt": "50"}}, "cart value more than 50"),
    ({"geo.city": {"$gt": "M"}}, "city comes after M alphabetically"),
    ({"geo.city": {"$gte": "M"}}, "city is M or comes after it alphabetically"),
    ({"geo.city": {"$lt": "M"}}, "city comes before M alphabetically"),
    ({"geo.city": {"$lte": "M"}}, "city is M or comes before it alphabetically"),
    # versions
    ({"app": {"$veq": "2.1.0"}}, "app is version 2.1.0"),
    ({"app": {"$vne": "2.1.0"}}, "app is not version 2.1.0"),
    ({"app": {"$vgt": "2.1.0"}}, "app is a version after 2.1.0"),
    ({"app": {"$vgte": "2.1.0"}}, "app is version 2.1.0 or later"),
    ({"app": {"$vlt": "2.1.0"}}, "app is a version before 2.1.0"),
    ({"app": {"$vlte": 3}}, "app is version 3 or earlier"),
    # membership
    ({"geo.country": {"$in": ["NL", "BE", "DE"]}}, "country is one of NL, BE or DE"),
    ({"geo.country": {"$in": ["NL", "BE"]}}, "country is one of NL or BE"),
    ({"geo.country": {"$in": ["NL"]}}, "country is NL"),
    ({"geo.country": {"$in": []}}, "country is in an empty list"),
    ({"geo.country": {"$nin": ["US", "CA"]}}, "country is none of US or CA"),
    ({"geo.country": {"$nin": ["US"]}}, "country is not US"),
    ({"geo.country": {"$nin": []}}, "country is not in an empty list"),
    (
        {"utm.source": {"$ini": ["google", "bing"]}},
        "UTM source is one of google or bing (ignoring case)",
    ),
    ({"utm.source": {"$nini": ["google"]}}, "UTM source is not google (ignoring case)"),
    ({"segments": {"$in": ["vip"]}}, "is in the segment vip"),
    ({"segments": {"$in": ["a", "b", "c"]}}, "is in any of the segments a, b or c"),
    ({"segments": {"$nin": ["unsubscribed"]}}, "is not in the segment unsubscribed"),
    ({"segments": {"$nin": ["a", "b"]}}, "is in none of the segments a or b"),
    (
        {"segments": {"$ini": ["VIP", "Gold"]}},
        "is in any of the segments VIP or Gold (ignoring case)",
    ),
    ({"session.pages": {"$in": ["/cart"]}}, "page history of this visit includes /cart"),
    (
        {"session.pages": {"$in": ["/cart", "/checkout"]}},
        "page history of this visit includes any of /cart or /checkout",
    ),
    ({"session.pages": {"$nin": ["/cart"]}}, "page history of this visit does not include /cart"),
    (
        {"session.pages": {"$nin": ["/cart", "/checkout"]}},
        "page history of this visit includes none of /cart or /checkout",
    ),
    # saved groups
    ({"geo.city": {"$inGroup": "vip_cities"}}, "city is in the saved group vip_cities"),
    ({"visitor.id": {"$notInGroup": "staff"}}, "visitor.id is not in the saved group staff"),
    # $all
    (
        {"session.pages": {"$all": ["/cart", "/checkout"]}},
        "page history of this visit includes all of /cart and /checkout",
    ),
    ({"tags": {"$all": ["a", "b", "c"]}}, "tags includes all of a, b and c"),
    ({"tags": {"$all": ["a"]}}, "tags includes a"),
    ({"tags": {"$all": []}}, "tags is a list"),
    ({"tags": {"$alli": ["a", "B"]}}, "tags includes all of a and B (ignoring case)"),
    ({"segments": {"$all": ["vip", "newsletter"]}}, "is in all of the segments vip and newsletter"),
    ({"segments": {"$all": ["vip"]}}, "is in the segment vip"),
    # $elemMatch
    (
        {"session.pages": {"$elemMatch": {"$regex": "^/shoes/"}}},
        "page history of this visit has an item that matches the pattern ^/shoes/",
    ),
    (
        {"nums": {"$elemMatch": {"$gt": 10, "$lt": 20}}},
        "nums has an item that is more than 10 and is less than 20",
    ),
    (
        {"cart.items": {"$elemMatch": {"id": "tent", "quantity": {"$gte": 2}}}},
        "cart has an item where (id is tent and quantity at least 2)",
    ),
    # An item's fields keep their own names, even when they look like profile paths.
    (
        {"orders": {"$elemMatch": {"geo.country": "NL"}}},
        "orders has an item where geo.country is NL",
    ),
    ({"x": {"$elemMatch": {}}}, "x has an item"),
    # As in opmaat.conditions, $not makes $elemMatch's operand a condition on the item's fields.
    (
        {"x": {"$elemMatch": {"$not": {"$eq": 1}}}},
        "x has an item where not (unrecognized condition {$eq: 1})",
    ),
    (
        {"segments": {"$elemMatch": {"$regex": "^rfm-"}}},
        "is in a segment that matches the pattern ^rfm-",
    ),
    (
        {"x": {"$elemMatch": {"$or": [{"a": 1}, {"b": 2}]}}},
        "x has an item where (either a is 1 or b is 2)",
    ),
    # $size
    ({"session.pages": {"$size": 3}}, "page history of this visit has exactly 3 items"),
    ({"tags": {"$size": 1}}, "tags has exactly 1 item"),
    ({"tags": {"$size": {"$gte": 3}}}, "tags has at least 3 items"),
    ({"tags": {"$size": {"$gt": 1, "$lte": 5}}}, "tags has more than 1 and at most 5 items"),
    ({"tags": {"$size": {"$lt": 2}}}, "tags has fewer than 2 items"),
    ({"tags": {"$size": {"$ne": 2}}}, "tags has a number of items that is not 2"),
    (
        {"tags": {"$size": {"$gt": 1, "$not": {"$eq": 4}}}},
        "tags has a number of items where (number of items more than 1 and not (number of "
        "items is 4))",
    ),
    ({"segments": {"$size": 2}}, "is in exactly 2 segments"),
    ({"segments": {"$size": {"$gte": 1}}}, "is in at least 1 segment"),
    ({"viewed_products": {"$size": {"$gte": 3}}}, "recently viewed products have at least 3 items"),
    # $exists, $type
    ({"utm.campaign": {"$exists": True}}, "UTM campaign is known"),
    ({"utm.campaign": {"$exists": False}}, "UTM campaign is not known"),
    ({"segments": {"$exists": True}}, "segments are known"),
    ({"utm.campaign": {"$exists": 1}}, "UTM campaign is known"),
    ({"utm.campaign": {"$exists": 0}}, "UTM campaign is not known"),
    ({"utm.campaign": {"$exists": ""}}, "UTM campaign is not known"),
    ({"price": {"$type": "number"}}, "price is a number"),
    ({"price": {"$type": "string"}}, "price is text"),
    ({"price": {"$type": "boolean"}}, "price is true or false"),
    ({"price": {"$type": "array"}}, "price is a list"),
    ({"price": {"$type": "object"}}, "price is an object"),
    ({"price": {"$type": "null"}}, "price is not known"),
    # patterns
    ({"page.path": {"$regex": "^/sale/"}}, "page path matches the pattern ^/sale/"),
    ({"page.path": {"$regexi": "sale"}}, "page path matches the pattern sale (ignoring case)"),
    ({"page.path": {"$notRegex": "^/sale/"}}, "page path does not match the pattern ^/sale/"),
    (
        {"page.path": {"$notRegexi": "sale"}},
        "page path does not match the pattern sale (ignoring case)",
    ),
    ({"segments": {"$regex": "vip"}}, "segments match the pattern vip"),
    ({"page.path": {"$regex": "("}}, "page path matches the invalid pattern ("),
    # $not on a value
    ({"geo.country": {"$not": {"$in": ["US", "CA"]}}}, "not (country is one of US or CA)"),
    ({"geo.country": {"$not": "NL"}}, "not (country is NL)"),
    (
        {"visitor.visits": {"$gte": 2, "$not": {"$gte": 5}}},
        "visits at least 2 and not (visits at least 5)",
    ),
    # After a whole clause the attribute is named again.
    (
        {"visitor.visits": {"$not": {"$gt": 9}, "$gte": 2, "$lte": 5}},
        "not (visits more than 9) and visits at least 2 and at most 5",
    ),
]


@pytest.mark.parametrize(("audience", "expected"), OPERATORS)
def test_operators(audience: dict[str, Any], expected: str) -> None:
    assert described(audience) == expected


SAMPLE_OPERANDS: dict[str, Any] = {
    "$eq": 1,
    "$ne": 1,
    "$gt": 1,
    "$gte": 1,
    "$lt": 1,
    "$lte": 1,
    "$veq": "1.2.3",
    "$vne": "1.2.3",
    "$vgt": "1.2.3",
    "$vgte": "1.2.3",
    "$vlt": "1.2.3",
    "$vlte": "1.2.3",
    "$in": [1, 2],
    "$nin": [1, 2],
    "$ini": ["a", "b"],
    "$nini": ["a", "b"],
    "$inGroup": "g",
    "$notInGroup": "g",
    "$all": [1, 2],
    "$alli": ["a", "b"],
    "$elemMatch": {"$gt": 1},
    "$size": 2,
    "$exists": True,
    "$type": "number",
    "$regex": "a",
    "$regexi": "a",
    "$notRegex": "a",
    "$notRegexi": "a",
    "$not": {"$gt": 1},
}


def test_every_operator_opmaat_knows_has_its_own_wording() -> None:
    """A new operator in opmaat.conditions must get wording here, not the generic fallback."""
    assert set(SAMPLE_OPERANDS) == set(conditions._OPERATORS)
    said: set[str] = set()
    for name, operand in SAMPLE_OPERANDS.items():
        condition = {"x": {name: operand}}
        compile_condition(condition, {"g": [1]}, strict=True)  # a valid condition
        text = described(condition)
        assert not any(g in text for g in GENERIC), (name, text)
        said.add(text)
    assert len(said) == len(SAMPLE_OPERANDS)  # no two operators read the same


def test_every_logical_operator_opmaat_knows_has_its_own_wording() -> None:
    assert set(conditions._LOGICAL) == {"$and", "$or", "$nor", "$not"}
    a, b = {"a": 1}, {"b": 2}
    assert described({"$and": [a, b]}) == "a is 1 and b is 2"
    assert described({"$or": [a, b]}) == "either a is 1 or b is 2"
    assert described({"$nor": [a, b]}) == "neither a is 1 nor b is 2"
    assert described({"$not": a}) == "not (a is 1)"


def test_the_growthbook_cases_read_without_generic_wording() -> None:
    """Every condition of the shared cases that compiles strictly gets real wording."""
    cases = json.loads(CASES.read_text(encoding="utf-8"))
    checked = 0
    for case in cases:
        condition = case["condition"]
        try:
            compile_condition(condition, {"group_id": [1]}, strict=True)
        except ConditionError:
            described(condition)  # still a sentence, whatever it is
            continue
        text = described(condition)
        assert not any(g in text for g in GENERIC), (condition, text)
        checked += 1
    assert checked > 100


# --- combining ----------------------------------------------------------------------------

COMBINED = [
    (
        {"geo.country": "NL", "device.type": "mobile", "visitor.visits": {"$gte": 2}},
        "country is NL and device is mobile and visits at least 2",
    ),
    (
        {"$or": [{"referrer.medium": "search"}, {"utm.medium": "cpc"}]},
        "either traffic source is search or UTM medium is cpc",
    ),
    ({"$or": [{"a": 1}, {"b": 2}, {"c": 3}]}, "either a is 1, b is 2 or c is 3"),
    ({"$or": [{"a": 1}]}, "a is 1"),
    ({"$or": [{"a": 1}, {"a": 1}]}, "a is 1"),
    # An "or" inside an "and" is parenthesized, and the other way round.
    (
        {"$or": [{"a": 1}, {"b": 2}], "c": 3},
        "(either a is 1 or b is 2) and c is 3",
    ),
    (
        {"$or": [{"a": 1, "b": 2}, {"c": 3}]},
        "either (a is 1 and b is 2) or c is 3",
    ),
    (
        {"$or": [{"visitor.visits": {"$gte": 2, "$lte": 5}}, {"cart.abandoned": True}]},
        "either (visits at least 2 and at most 5) or has an abandoned cart",
    ),
    # The same operator nested in itself reads as one list.
    ({"$or": [{"$or": [{"a": 1}, {"b": 2}]}, {"c": 3}]}, "either a is 1, b is 2 or c is 3"),
    ({"$and": [{"$and": [{"a": 1}, {"b": 2}]}, {"c": 3}]}, "a is 1 and b is 2 and c is 3"),
    (
        {"$and": [{"$or": [{"a": 1}, {"b": 2}]}, {"$or": [{"c": 3}, {"d": 4}]}]},
        "(either a is 1 or b is 2) and (either c is 3 or d is 4)",
    ),
    (
        {"$or": [{"$and": [{"a": 1}, {"$or": [{"b": 2}, {"c": 3}]}]}, {"d": 4}]},
        "either (a is 1 and (either b is 2 or c is 3)) or d is 4",
    ),
    # $nor and $not
    ({"$nor": [{"a": 1}]}, "not (a is 1)"),
    ({"$nor": [{"a": 1}, {"b": 2, "c": 3}]}, "neither a is 1 nor (b is 2 and c is 3)"),
    ({"$nor": [{"a": 1}, {"b": 2}, {"c": 3}]}, "none of a is 1, b is 2 or c is 3"),
    ({"$nor": [{"a": 1}, {"b": 2}], "c": 3}, "(neither a is 1 nor b is 2) and c is 3"),
    ({"$not": {"a": 1, "b": 2}}, "not (a is 1 and b is 2)"),
    ({"$not": {"$not": {"a": 1}}}, "not (not (a is 1))"),
    (
        {"$not": {"$or": [{"geo.country": "NL"}, {"geo.country": "BE"}]}, "device.type": "mobile"},
        "not (either country is NL or country is BE) and device is mobile",
    ),
    # The name is said once per attribute, even when two attributes share a predicate.
    (
        {"visitor.visits": {"$gte": 2, "$lte": 5}, "cart.count": {"$gte": 2, "$lte": 5}},
        "visits at least 2 and at most 5 and items in the cart at least 2 and at most 5",
    ),
    (
        {
            "$or": [{"interests.shoes": {"$gte": 0.6}}, {"page.category": "shoes"}],
            "segments": {"$nin": ["unsubscribed"]},
            "time.hour": {"$gte": 8, "$lt": 22},
        },
        "(either interest in shoes at least 0.6 or page category is shoes) and is not in the "
        "segment unsubscribed and hour of day at least 8 and less than 22",
    ),
]


@pytest.mark.parametrize(("audience", "expected"), COMBINED)
def test_combining(audience: dict[str, Any], expected: str) -> None:
    assert described(audience) == expected


# --- values -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("NL", "x is NL"),
        ("spring sale", "x is spring sale"),
        ("'quoted'", "x is 'quoted'"),
        ("", 'x is ""'),
        ("  ", 'x is "  "'),
        ("a\nb\tc\x00d", "x is a b c d"),
        ("\u202eevil", "x is  evil"),
        ("caf\u00e9 \u2603", "x is caf\u00e9 \u2603"),
        ("<b>&amp;</b>", "x is <b>&amp;</b>"),  # plain text: the template escapes it
        (2, "x is 2"),
        (2.0, "x is 2"),
        (-0.0, "x is 0"),
        (2.5, "x is 2.5"),
        (0.1, "x is 0.1"),
        (1e20, "x is 1e+20"),
        (float("inf"), "x is infinity"),
        (float("-inf"), "x is minus infinity"),
        (float("nan"), "x is not a number"),
        (10**30, "x is " + "1" + "0" * 30),
        (True, "x is true"),
        (False, "x is false"),
        ([1, 2.0, "a", None, True], "x is [1, 2, a, null, true]"),
        ([], "x is []"),
        ({"a": [1, {"b": ""}]}, 'x is {a: [1, {b: ""}]}'),
        ((1, 2), "x is [1, 2]"),
    ],
)
def test_values(value: Any, expected: str) -> None:
    assert described({"x": value}) == expected


def test_an_integer_too_long_to_print() -> None:
    # Python refuses str() of ints past 4300 digits (and pytest could not name it as a param).
    assert described({"x": 10**5000}) == "x is a very large number"


def test_list_operands_are_joined_with_or_and_counted_past_sixty() -> None:
    assert described({"x": {"$in": list(range(3))}}) == "x is one of 0, 1 or 2"
    text = described({"x": {"$in": list(range(10**6))}})
    assert text == "x is one of " + ", ".join(map(str, range(60))) + " or 999940 more"
    # Under the limit the remainder is counted rather than listed.
    short = describe_audience({"x": {"$in": ["a"] * 100}})
    assert short == "x is one of " + ", ".join(["a"] * 60) + " or 40 more"


def test_strings_and_paths_of_any_length() -> None:
    long = "x" * 100_000
    text = described({long: long})
    assert text == "x" * (MAX_CHARS - 1) + "…"
    assert described({"a": {"$regex": long}}).startswith("a matches the pattern xxx")


def test_odd_objects_are_described_by_their_text() -> None:
    class Weird:
        def __str__(self) -> str:
            return "weird\nthing"

    class Broken:
        def __str__(self) -> str:
            raise ValueError("no")

    assert described({"x": Weird()}) == "x is weird thing"
    assert described({"x": Broken()}) == "x is a Broken"
    assert described({"x": {"$in": [{1, 2}]}}) in {"x is {1, 2}", "x is {2, 1}"}


# --- truncation ---------------------------------------------------------------------------


def test_long_descriptions_are_cut_at_300_characters_with_an_ellipsis() -> None:
    audience = {f"attribute_{i}": f"value_{i}" for i in range(40)}
    full = " and ".join(f"attribute_{i} is value_{i}" for i in range(40))
    text = described(audience)
    assert MAX_CHARS == 300
    assert text == full[:299].rstrip() + "…"
    assert full[298] == " "  # so the space before the ellipsis was dropped
    assert len(text) == 299


def test_a_description_of_exactly_300_characters_is_not_cut() -> None:
    prefix = "x is "
    exact = described({"x": "y" * (MAX_CHARS - len(prefix))})
    assert exact == prefix + "y" * (MAX_CHARS - len(prefix))
    longer = described({"x": "y" * (MAX_CHARS - len(prefix) + 1)})
    assert longer == prefix + "y" * (MAX_CHARS - len(prefix) - 1) + "…"


def test_the_cut_never_leaves_a_space_before_the_ellipsis() -> None:
    for width in range(280, 300):
        text = described({"x": "y " * width})
        assert len(text) <= MAX_CHARS
        assert not text.endswith(" …")


def test_huge_audiences_are_described_quickly() -> None:
    audience = {f"k{i}": i for i in range(200_000)}
    audience["$or"] = [{"a": i} for i in range(200_000)]  # type: ignore[assignment]
    text = described(audience)
    assert text.startswith("k0 is 0 and k1 is 1")
    assert text.endswith("…")


# --- malformed input ----------------------------------------------------------------------

MALFORMED = [
    ({"geo.country": {"$foo": 1}}, "country matches {$foo: 1}"),
    ({"geo.country": {"$in": "NL"}}, "country matches {$in: NL}"),
    ({"geo.country": {"$nin": 5}}, "country matches {$nin: 5}"),
    ({"x": {"$gt": [1]}}, "x matches {$gt: [1]}"),
    ({"x": {"$gte": None}}, "x matches {$gte: null}"),
    ({"x": {"$lt": True}}, "x matches {$lt: true}"),
    ({"x": {"$vgt": ["1"]}}, "x matches {$vgt: [1]}"),
    ({"x": {"$regex": 5}}, "x matches {$regex: 5}"),
    ({"x": {"$inGroup": ["a"]}}, "x matches {$inGroup: [a]}"),
    ({"x": {"$all": "one"}}, "x matches {$all: one}"),
    ({"x": {"$elemMatch": [1]}}, "x matches {$elemMatch: [1]}"),
    ({"x": {"$size": "3"}}, "x matches {$size: 3}"),
    ({"x": {"$type": "date"}}, "x matches {$type: date}"),
    ({"x": {"$type": ["number"]}}, "x matches {$type: [number]}"),
    ({"x": {"$or": [{"a": 1}]}}, "x matches {$or: [{a: 1}]}"),
    ({"x": {"$gt": 1, "$bogus": 2}}, "x more than 1 and matches {$bogus: 2}"),
    ({"$and": 5}, "unrecognized condition {$and: 5}"),
    ({"$or": {"name": "hello"}}, "unrecognized condition {$or: {name: hello}}"),
    ({"$nor": "x"}, "unrecognized condition {$nor: x}"),
    ({"$not": [1]}, "not (unrecognized condition [1])"),
    ({"$and": [1, {"a": 1}]}, "unrecognized condition 1 and a is 1"),
    ({"$or": ["x", None]}, "either unrecognized condition x or unrecognized condition null"),
    ({"$where": "1 == 1"}, "unrecognized condition {$where: 1 == 1}"),
    ({1: "a"}, "unrecognized condition {1: a}"),
    ({None: "a", "b": 2}, "unrecognized condition {null: a} and b is 2"),
    ({"": 1}, '"" is 1'),
]


@pytest.mark.parametrize(("audience", "expected"), MALFORMED)
def test_malformed_conditions_get_generic_wording(audience: Any, expected: str) -> None:
    assert described(audience) == expected


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        ([{"a": 1}], "unrecognized condition [{a: 1}]"),
        ("geo.country", "unrecognized condition geo.country"),
        (5, "unrecognized condition 5"),
        (True, "unrecognized condition true"),
    ],
)
def test_an_audience_that_is_not_an_object(audience: Any, expected: str) -> None:
    assert described(audience) == expected


def nested(levels: int, wrap: Any) -> Any:
    condition: Any = {"a": 1}
    for _ in range(levels):
        condition = wrap(condition)
    return condition


@pytest.mark.parametrize(
    "wrap",
    [
        lambda c: {"$and": [c]},
        lambda c: {"$or": [c, {"b": 2}]},
        lambda c: {"$nor": [c, {"b": 2}]},
        lambda c: {"$not": c},
        lambda c: {"x": {"$elemMatch": c}},
        lambda c: {"x": {"$not": {"$elemMatch": c}}},
    ],
    ids=["and", "or", "nor", "not", "elemMatch", "not-elemMatch"],
)
@pytest.mark.parametrize("levels", [200, 5000])
def test_deep_nesting_is_described_without_recursion_error(wrap: Any, levels: int) -> None:
    text = described(nested(levels, wrap))
    assert text != UNDESCRIBABLE  # the catch-all did not have to step in
    assert "…" in text


def test_deeply_nested_operators_and_values() -> None:
    operand: Any = {"$eq": 1}
    for _ in range(300):
        operand = {"$not": operand}
    text = described({"x": operand})
    assert text.startswith("not (not (not (")
    assert text != UNDESCRIBABLE

    value: Any = 1
    for _ in range(5000):
        value = [value]
    assert described({"x": value}) == "x is [[[[[[[…]]]]]]]"

    size: Any = 3
    for _ in range(300):
        size = {"$size": size}
    assert described({"x": size}).startswith("x has a number of items that has a number")


def test_shallow_nesting_is_never_cut() -> None:
    assert described(nested(20, lambda c: {"$and": [c]})) == "a is 1"
    assert described(nested(3, lambda c: {"$not": c})) == "not (not (not (a is 1)))"


def test_a_self_containing_condition_is_described() -> None:
    loop: dict[str, Any] = {"a": 1}
    loop["$and"] = [loop]
    assert described(loop).startswith("a is 1 and a is 1")
    value: list[Any] = []
    value.append(value)
    assert described({"x": value}) == "x is [[[[[[[…]]]]]]]"


class ExplodingMapping(Mapping[str, Any]):
    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("boom")

    def __len__(self) -> int:
        return 1


def test_a_mapping_that_raises_gives_the_fallback_sentence() -> None:
    assert describe_audience(ExplodingMapping()) == UNDESCRIBABLE
    assert describe_audience({"x": {"$in": [ExplodingMapping()]}}) == UNDESCRIBABLE


def test_tuples_read_as_lists() -> None:
    assert described({"$or": ({"a": 1}, {"b": 2})}) == "either a is 1 or b is 2"
    assert described({"x": {"$in": ("A", "B")}}) == "x is one of A or B"


# --- fuzzing ------------------------------------------------------------------------------

KEYS = st.sampled_from(
    [
        *SAMPLE_OPERANDS,
        "$and",
        "$or",
        "$nor",
        "$bogus",
        "geo.country",
        "segments",
        "cart.abandoned",
        "x",
        "",
    ]
) | st.text(max_size=5)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(alphabet=string.printable + "\x00\u2028\ud800é", max_size=8)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_fuzzed_conditions_always_give_a_short_plain_sentence(audience: Any) -> None:
    text = described(audience)
    assert text != UNDESCRIBABLE
    assert "\n" not in text
