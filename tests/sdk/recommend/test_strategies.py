"""Each strategy on small fixed data, the filters every list applies, and the configuration."""

from __future__ import annotations

from dataclasses import replace

import pytest

from opmaat.recommend import Feed, Visitor, make_strategies, make_strategy
from opmaat.recommend.strategies import StrategyError
from tests.sdk.recommend.shop import DAY, FEED, NOW, ids, order, recommender, view

CO_VIEWS = [
    view("road", "trail"),
    view("road", "trail", visitor="w"),
    view("socks", "trail", visitor="x"),
    view("helmet", "light"),
]


def test_viewed_together_ranks_what_was_viewed_with_the_seed_and_says_so() -> None:
    rec = recommender(*CO_VIEWS, strategies={"viewed-together": {"fill": False}})
    items = rec.recommend("viewed-together", Visitor(viewed=("trail",)), n=4)
    assert ids(items) == ["road", "socks"]
    assert items[0].reason == "people who viewed Trail Runner 3 also viewed this"
    assert items[0].name == "Road Racer"
    assert items[0].url == "/product/road"
    assert items[0].price == 99.0
    assert items[0].category == "running"
    assert not items[0].serendipitous
    # Explicit seeds win over what the visitor viewed; seeds are never shown.
    assert ids(rec.recommend("viewed-together", Visitor(viewed=("trail",)), 4, ["road"])) == [
        "trail"
    ]


def test_several_seeds_merge_and_the_reason_names_the_most_recent_one() -> None:
    rec = recommender(*CO_VIEWS, strategies={"viewed-together": {"fill": False}})
    items = rec.recommend("viewed-together", Visitor(viewed=("light", "trail")), n=4)
    assert ids(items) == ["helmet", "road", "socks"]
    assert items[0].reason == "people who viewed USB bike light set also viewed this"
    assert items[1].reason == "people who viewed Trail Runner 3 also viewed this"


def test_bought_together_and_viewed_then_bought_learn_from_orders() -> None:
    rec = recommender(
        order("trail", "socks", viewed=("road", "trail")),
        strategies={"bought-together": {"fill": False}, "viewed-then-bought": {"fill": False}},
    )
    bought = rec.recommend("bought-together", Visitor(), 4, ["trail"])
    assert ids(bought) == ["socks"]
    assert bought[0].reason == "people who bought Trail Runner 3 also bought this"
    after_view = rec.recommend("viewed-then-bought", Visitor(viewed=("road",)), 4)
    assert ids(after_view) == ["trail", "socks"]
    assert after_view[0].reason == "people who viewed Road Racer bought this"
    # Viewing a product and buying it with another: "viewed trail, bought socks".
    assert ids(rec.recommend("viewed-then-bought", Visitor(), 4, ["trail"])) == ["socks"]


def test_an_item_strategy_without_neighbours_fills_up_with_popular_products() -> None:
    rec = recommender(*CO_VIEWS)
    items = rec.recommend("viewed-together", Visitor(viewed=("tent",)), n=1)
    assert ids(items) == ["road"]  # viewed twice
    assert items[0].reason == "popular right now"
    no_fill = recommender(*CO_VIEWS, strategies={"viewed-together": {"fill": False}})
    assert no_fill.recommend("viewed-together", Visitor(viewed=("tent",)), n=2) == []


def test_popular_overall_and_by_city_country_and_segment() -> None:
    rec = recommender(
        view("tent", city="Utrecht", country="NL", segments=("vip",)),
        view("tent", visitor="w", city="Utrecht", country="NL"),
        view("helmet", visitor="x", city="Ghent", country="BE"),
        view("helmet", visitor="y", city="Ghent", country="BE"),
        view("helmet", visitor="z", city="Ghent", country="BE"),
        strategies={
            "popular": {"fill": False},
            "near-you": {"kind": "popular", "by": "city"},
            "in-country": {"kind": "popular", "by": "country"},
            "like-you": {"kind": "popular", "by": "segment"},
        },
    )
    assert ids(rec.recommend("popular", Visitor(), 4)) == ["helmet", "tent"]
    local = rec.recommend("near-you", Visitor(city="utrecht"), 1)
    assert ids(local) == ["tent"]
    assert local[0].reason == "popular in utrecht"
    country = rec.recommend("in-country", Visitor(country="nl"), 1)
    assert ids(country) == ["tent"]
    assert country[0].reason == "popular in nl"
    group = rec.recommend("like-you", Visitor(segments=("new", "vip")), 1)
    assert ids(group) == ["tent"]
    assert group[0].reason == "popular with vip visitors"
    # A place without a list of its own gets the overall one.
    elsewhere = rec.recommend("near-you", Visitor(city="Oslo"), 1)
    assert ids(elsewhere) == ["helmet"]
    assert elsewhere[0].reason == "popular right now"


def test_trending_finds_what_sells_more_now_than_usual() -> None:
    steady = [view("tent", visitor=f"s{d}", at=NOW - d * DAY) for d in range(0, 60, 2)]
    rising = [view("jacket", visitor=f"r{i}", at=NOW - i * 3600) for i in range(6)]
    rec = recommender(*steady, *rising, strategies={"popular": {}, "trending": {"fill": False}})
    popular = ids(rec.recommend("popular", Visitor(), 2))
    assert popular == ["tent", "jacket"]
    trending = rec.recommend("trending", Visitor(), 2)
    assert ids(trending)[0] == "jacket"
    assert trending[0].reason == "trending this week"
    # A product viewed as often as ever does not trend.
    flat = [view("tent", visitor=f"s{h}", at=NOW - h * 6 * 3600) for h in range(800)]
    assert (
        recommender(*flat, strategies={"trending": {"fill": False}}).recommend(
            "trending", Visitor(), 2
        )
        == []
    )


def test_trending_weighs_a_rise_against_how_much_a_product_usually_sells() -> None:
    # 20 views a day for 200 days, then 100 today: more than usual, by a few times what a
    # count that size wobbles by. 6 views today of a product nobody viewed before is news.
    usual = [view("tent", at=NOW - i * DAY / 20 - 3 * DAY) for i in range(4000)]
    busy = [view("tent", at=NOW - i * DAY / 100) for i in range(100)]
    news = [view("mat", at=NOW - i * 3600) for i in range(6)]
    rec = recommender(*usual, *busy, *news, strategies={"trending": {"fill": False}})
    assert ids(rec.recommend("trending", Visitor(), 2)) == ["mat", "tent"]


def test_recently_viewed_reminds_without_what_was_bought() -> None:
    rec = recommender()
    visitor = Visitor(viewed=("road", "trail", "tent", "socks"), bought=frozenset({"tent"}))
    items = rec.recommend("recently-viewed", visitor, 4)
    assert ids(items) == ["road", "trail", "socks"]
    assert items[0].reason == "you viewed this recently"


def test_personal_blends_interests_favourites_and_recent_views() -> None:
    rec = recommender(
        view("tent"),
        view("tent", visitor="w"),
        view("jacket", visitor="w"),
        view("helmet", visitor="x"),
        view("light", "helmet", visitor="y"),
        strategies={"personal": {"fill": False}},
    )
    outdoorsy = Visitor(interests=(("outdoor", 5.0), ("cycling", 0.5)))
    items = rec.recommend("personal", outdoorsy, 4)
    assert ids(items) == ["tent", "jacket", "helmet", "light"]
    assert items[0].reason == "because you like outdoor"
    fan = rec.recommend("personal", Visitor(favourites=("helmet",)), 4)
    assert ids(fan) == ["light"]
    assert fan[0].reason == "because you like City helmet"
    browser = rec.recommend("personal", Visitor(viewed=("light",)), 4)
    assert ids(browser) == ["helmet"]
    assert browser[0].reason == "because you viewed USB bike light set"


def test_every_list_leaves_out_bought_cart_unavailable_unknown_and_less_wanted() -> None:
    rec = recommender(*(view(p, visitor=p) for p in ("gone", "hidden", "nope", "trail", "road")))
    rec.recommend("popular", Visitor(), 10)
    everything = ids(rec.recommend("popular", Visitor(), 10))
    assert set(everything) == {"trail", "road"}  # not out of stock, excluded or unknown
    assert ids(rec.recommend("popular", Visitor(bought=frozenset({"trail"})), 10)) == ["road"]
    assert ids(rec.recommend("popular", Visitor(cart=frozenset({"road"})), 10)) == ["trail"]
    assert rec.recommend("popular", Visitor(less=frozenset({"running"})), 10) == []
    reminded = Visitor(viewed=("trail", "gone"), less=frozenset({"running"}))
    assert rec.recommend("recently-viewed", reminded, 10) == []


def test_list_length_and_unknown_strategies() -> None:
    rec = recommender(*(view(p, visitor=p) for p in ("trail", "road", "socks")))
    assert len(rec.recommend("popular", Visitor(), 2)) == 2
    assert rec.recommend("popular", Visitor(), 0) == []
    with pytest.raises(ValueError, match="n must be from 0 to 50"):
        rec.recommend("popular", Visitor(), 51)
    with pytest.raises(StrategyError, match=r"strategies\.best-sellers: no such strategy"):
        rec.recommend("best-sellers", Visitor())


def test_strategies_are_configured_by_name_with_kind_and_options() -> None:
    made = make_strategies(
        {"near-you": {"kind": "popular", "by": "city", "serendipity": 0.1}, "trending": None},
        serendipity=0.3,
    )
    assert made["near-you"].kind == "popular"
    assert made["near-you"].by == "city"
    assert made["near-you"].serendipity == 0.1
    assert made["trending"].serendipity == 0.3
    assert made["trending"].fill
    assert set(make_strategies(None)) == {
        "viewed-together",
        "bought-together",
        "viewed-then-bought",
        "popular",
        "trending",
        "recently-viewed",
        "personal",
    }
    with pytest.raises(StrategyError, match=r"^serendipity: a share from 0 to 0\.5$"):
        make_strategies(None, serendipity=2)
    reminder = make_strategy("recently-viewed", None)
    assert reminder.serendipity == 0
    assert not reminder.fill


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("top-sellers", None, "strategies.top-sellers.kind: 'top-sellers' is not a kind"),
        ("a", {"kind": "popular", "by": "planet"}, "strategies.a.by: popular and trending take"),
        ("a", {"kind": "personal", "by": "city"}, "strategies.a.by: popular and trending take"),
        ("a", {"kind": "popular", "serendipity": 0.9}, "strategies.a.serendipity: a share"),
        ("a", {"kind": "popular", "fill": "yes"}, "strategies.a.fill: true or false"),
        ("a", {"kind": "popular", "seeds": 9}, "strategies.a.seeds: a whole number from 1 to 5"),
        ("a", {"kind": "popular", "colour": 1}, "strategies.a.colour: unknown option"),
        ("Top Sellers", {"kind": "popular"}, "strategies.Top Sellers: a strategy name is a slug"),
    ],
)
def test_a_wrong_strategy_option_is_named(
    name: str, options: dict[str, object] | None, message: str
) -> None:
    with pytest.raises(StrategyError) as caught:
        make_strategy(name, options)
    assert str(caught.value).startswith(message)
    assert caught.value.path[:2] == ("strategies", name)


def test_a_new_feed_takes_effect_at_once() -> None:
    rec = recommender(view("tent"), view("jacket", visitor="w"))
    outdoorsy = Visitor(interests=(("outdoor", 1.0),))
    assert ids(rec.recommend("personal", outdoorsy, 2)) == ["tent", "jacket"]
    sold_out = Feed(replace(p, in_stock=False) if p.id == "tent" else p for p in FEED)
    rec.use_feed(sold_out)
    assert ids(rec.recommend("personal", outdoorsy, 2)) == ["jacket"]
    moved = Feed(replace(p, category="yoga") if p.id == "jacket" else p for p in sold_out)
    rec.use_feed(moved)
    assert ids(rec.recommend("personal", Visitor(interests=(("yoga", 1.0),)), 2)) == ["jacket"]


def test_an_item_as_data() -> None:
    rec = recommender(view("road", "trail"))
    item = rec.recommend("viewed-together", Visitor(), 1, ["trail"])[0]
    assert item.as_dict() == {
        "id": "road",
        "name": "Road Racer",
        "url": "/product/road",
        "price": 99.0,
        "image": None,
        "category": "running",
        "reason": "people who viewed Trail Runner 3 also viewed this",
        "serendipitous": False,
    }


def test_ratings_lead_the_personal_list_and_low_ones_are_never_recommended() -> None:
    rec = recommender(
        view("helmet", visitor="x"),
        view("light", "helmet", visitor="y"),
        view("tent", visitor="z"),
        view("jacket", "tent", visitor="z"),
        strategies={"personal": {"fill": False}, "popular": {}},
    )
    fan = Visitor(liked=("helmet",), interests=(("outdoor", 5.0),))
    items = rec.recommend("personal", fan, 4)
    assert ids(items)[0] == "light"  # a rating outranks an inferred interest
    assert items[0].reason == "because you rated City helmet highly"
    assert "helmet" not in ids(items)  # what they rated is not recommended back
    critic = Visitor(disliked=frozenset({"tent", "light"}))
    for strategy in ("popular", "personal"):
        assert not {"tent", "light"} & set(ids(rec.recommend(strategy, critic, 10)))
    assert {"tent", "light"} <= set(ids(rec.recommend("popular", Visitor(), 10)))  # for others
