"""Personalized filters and offers: which of the site's offers a visitor gets, in which order,
and why each is there."""

from __future__ import annotations

from typing import Any

import pytest

from opmaat.offers import MAX_OFFERS_SHOWN, index_offers, pick_offers
from opmaat.preference_fields import Offer, PreferenceField, Preferences

SIZE = PreferenceField("size", "Size", "choice", ("41", "42", "43"), column="sizes")
BUDGET = PreferenceField("budget", "Budget", "number", maximum=1000, column="price")
WIDTH = PreferenceField("width", "Shoe width", "choice", ("narrow", "wide"))  # filters nothing


def offer(position: int, pid: str, category: str | None, **more: Any) -> Offer:
    sizes = more.pop("sizes", None)
    price = more.pop("price", 50.0)
    choices = {"sizes": frozenset(sizes.split("|"))} if sizes else {}
    return Offer(
        pid,
        pid.title(),
        f"/p/{pid}",
        position,
        price,
        category,
        choices=choices,
        numbers={"price": price},
        **more,
    )


OFFERS = (
    offer(0, "road-shoe", "running", sizes="41|42"),
    offer(1, "trail-shoe", "running", sizes="43", price=120.0),
    offer(2, "tent", "outdoor", price=200.0),
    offer(3, "helmet", "cycling"),
    offer(4, "spike", "running", sizes="42", in_stock=False),
    offer(5, "boot", "outdoor", sizes="42|43", price=150.0),
    offer(6, "socks", None, price=10.0),
)


def site(
    *offers: Offer, fields: tuple[PreferenceField, ...] = (SIZE, BUDGET, WIDTH)
) -> Preferences:
    by_name = {f.name: f for f in fields}
    chosen = offers or OFFERS
    return Preferences(by_name, None, chosen, index_offers(by_name, chosen))


def picks(prefs: dict[str, Any], interests: dict[str, Any] | None = None) -> list[tuple[str, Any]]:
    found = pick_offers(site(), {"interests": {}, **prefs}, interests or {})
    return [(item["id"], item["reason"]) for item in found]


def test_without_anything_known_the_offers_come_in_file_order_without_reasons() -> None:
    assert picks({}) == [
        ("road-shoe", None),
        ("trail-shoe", None),
        ("tent", None),
        ("helmet", None),
        ("boot", None),  # the spike is out of stock
        ("socks", None),
    ]


def test_a_chosen_size_filters_and_says_so_where_it_applies() -> None:
    assert picks({"size": "42"}) == [
        ("road-shoe", "because you chose size 42"),
        ("tent", None),  # no sizes: the size does not apply to it
        ("helmet", None),
        ("boot", "because you chose size 42"),
        ("socks", None),
    ]
    assert picks({"size": "43", "width": "wide"})[0] == ("trail-shoe", "because you chose size 43")


def test_a_number_field_is_a_most() -> None:
    assert [pid for pid, _ in picks({"budget": 100})] == ["road-shoe", "helmet", "socks"]
    assert picks({"budget": 100})[0] == ("road-shoe", "because you set your budget to 100")
    both = picks({"budget": 150, "size": "42"})
    assert both == [
        ("road-shoe", "because you chose size 42"),
        ("helmet", "because you set your budget to 150"),
        ("boot", "because you chose size 42"),
        ("socks", "because you set your budget to 150"),
    ]


def test_explicit_choices_come_before_inferred_interests() -> None:
    interests = {"running": 2.5, "cycling": 7.0, "top": "cycling"}
    assert picks({"interests": {"outdoor": "more"}}, interests) == [
        ("tent", "because you asked to see more outdoor"),
        ("boot", "because you asked to see more outdoor"),
        ("helmet", "because you showed interest in cycling"),
        ("road-shoe", "because you showed interest in running"),
        ("trail-shoe", "because you showed interest in running"),
        ("socks", None),
    ]


def test_favourites_then_good_ratings_lead_and_bad_ratings_and_less_leave() -> None:
    prefs = {
        "favourites": ["tent", "spike", "helmet"],  # the newest first; the spike is sold out
        "ratings": {"boot": 4, "socks": 5, "road-shoe": 1},
        "interests": {"running": "less"},
        "size": "43",  # does not filter favourites: the visitor chose them one by one
        "budget": 20,
    }
    assert picks(prefs) == [
        ("tent", "because you saved it as a favourite"),
        ("helmet", "because you saved it as a favourite"),
        ("socks", "because you gave it 5 stars"),
        # The boot (4 stars) is over the budget; the shoes are running, which they want less of.
    ]


def test_at_most_a_dozen_and_each_once() -> None:
    many = tuple(offer(i, f"p{i}", "running") for i in range(40))
    prefs = {"interests": {}, "favourites": ["p3"], "ratings": {"p3": 5, "p4": 5}}
    found = pick_offers(site(*many), prefs, {"running": 1.0})
    assert len(found) == MAX_OFFERS_SHOWN
    assert [item["id"] for item in found[:4]] == ["p3", "p4", "p0", "p1"]
    assert len({item["id"] for item in found}) == MAX_OFFERS_SHOWN


@pytest.mark.parametrize("value", ["44", "nope"])
def test_a_value_no_offer_lists_keeps_only_offers_it_does_not_apply_to(value: str) -> None:
    fields = (PreferenceField("size", "Size", "choice", ("41", "44", "nope"), column="sizes"),)
    preferences = site(*OFFERS, fields=fields)
    found = pick_offers(preferences, {"interests": {}, "size": value}, {})
    assert [item["id"] for item in found] == ["tent", "helmet", "socks"]


def test_a_visitor_nothing_is_known_about_gets_what_the_walk_would_give() -> None:
    nothing = pick_offers(site(), {"interests": {}}, {"top": None})
    walked = pick_offers(site(), {"interests": {}}, {"golf": 5.0, "top": "golf"})
    assert nothing == walked
