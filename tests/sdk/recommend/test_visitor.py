"""What the recommender reads about a visitor, and the events it learns from, taken from the
record and profile the edge keeps."""

from __future__ import annotations

from typing import Any

import pytest

from opmaat.cart import add_to_cart, note_product_view, purchase
from opmaat.consent import Consent
from opmaat.interests import note_interest
from opmaat.profile import build_profile
from opmaat.recommend import Event, Visitor, event_from_visit, visitor_of
from opmaat.visits import record_pageview
from tests.sdk.recommend.shop import NOW


def shopper() -> dict[str, Any]:
    record, _ = record_pageview(
        None, now=NOW - 7200, page_url="/", page_path="/", utm_campaign=None
    )
    note_product_view(record, {"id": "tent", "category": "outdoor"}, NOW - 7000)
    record, _ = record_pageview(
        record, now=NOW - 60, page_url="/", page_path="/", utm_campaign=None
    )
    for offset, product in ((50, "trail"), (40, "road"), (30, 7)):
        note_product_view(record, {"id": product}, NOW - offset)
        note_interest(record, "running", NOW - offset, 7)
    note_interest(record, "yoga", NOW, 7)
    add_to_cart(record, {"id": "socks", "price": 15}, NOW, record["session"]["id"])
    record["bought"] = ["helmet"]
    record["segments"] = ["vip"]
    record["prefs"] = {
        "interests": {"yoga": "less"},
        "favourites": ["light", {"id": "mat"}],
        "ratings": {"road": 4, "trail": 5, "tent": 1, "socks": 2, "jacket": 3, "mat": 5},
    }
    return record


def profile_of(record: dict[str, Any]) -> dict[str, Any]:
    context = {"geo": {"city": "Utrecht", "country": "NL"}}
    return build_profile(context, record, visitor_id="v1", consent=Consent("full"), now=NOW)


def test_the_visitor_as_the_profile_and_record_show_them() -> None:
    record = shopper()
    profile = profile_of(record)
    profile["prefs"] = record["prefs"]  # favourites, as the preferences will hold them
    visitor = visitor_of(profile, record)
    assert visitor.viewed == ("7", "road", "trail", "tent")
    assert visitor.bought == frozenset({"helmet"})
    assert visitor.cart == frozenset({"socks"})
    assert [category for category, _ in visitor.interests] == ["running"]
    assert visitor.less == frozenset({"yoga"})
    assert visitor.favourites == ("light", "mat")
    assert visitor.liked == ("mat", "trail", "road")  # best first, then the newest
    assert visitor.disliked == frozenset({"tent", "socks"})
    assert visitor.segments == ("vip",)
    assert (visitor.city, visitor.country) == ("Utrecht", "NL")
    assert visitor.session == record["session"]["id"]
    # Without the record: the profile's viewed products (not those bought or in the cart).
    assert visitor_of(profile).viewed == ("7", "road", "trail", "tent")
    assert visitor_of(profile).bought == frozenset()


def test_an_empty_profile_is_an_anonymous_visitor() -> None:
    assert visitor_of({}) == Visitor()
    assert visitor_of({"visitor": {"id": "v9"}, "interests": {"top": None}}).session == "v9"


def test_a_view_event_carries_the_session_so_far() -> None:
    record = shopper()
    event = event_from_visit(
        "product_view",
        record,
        products=["socks"],
        profile=profile_of(record),
        consent="full",
        visitor="v1",
        address="192.0.2.1",
        at=NOW,
    )
    assert event == Event(
        "product_view",
        ("socks",),
        NOW,
        "full",
        "v1",
        session=record["session"]["id"],
        viewed=("7", "road", "trail"),  # not "tent": an earlier session
        address="192.0.2.1",
        segments=("vip",),
        city="Utrecht",
        country="NL",
    )


def test_an_order_event_takes_the_cart_before_it_is_emptied() -> None:
    record = shopper()
    profile = profile_of(record)
    event = event_from_visit(
        "purchase", record, profile=profile, consent="session", visitor="v1", address=None, at=NOW
    )
    assert event.products == ("socks",)
    assert event.consent == "session"
    purchase(record, NOW)
    emptied = event_from_visit(
        "purchase", record, profile=profile, consent="full", visitor="v1", address=None, at=NOW
    )
    assert emptied.products == ()


def test_an_event_must_be_of_a_known_kind_and_time() -> None:
    with pytest.raises(ValueError, match="event kind must be one of"):
        Event("click", ("a",), NOW, "full", "v")
    with pytest.raises(ValueError, match="event time must be a finite number"):
        Event("purchase", ("a",), float("nan"), "full", "v")
