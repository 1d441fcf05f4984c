"""What the model learns from: full consent only, the feed's products, once per session, and
no more than the flood guard lets one address add."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import pytest

from opmaat.breaker import StoreUnavailable
from opmaat.recommend import Event, Feed, FloodGuard, Product, Recommender, Visitor
from opmaat.recommend.model import Update
from opmaat.recommend.store import Lists, MemoryModelStore
from tests.sdk.recommend.shop import FEED, NOW, ids, learn, order, recommender, view


def test_only_visitors_with_full_consent_teach_the_model() -> None:
    store = MemoryModelStore()
    rec = recommender(store=store)
    taught = learn(
        rec,
        view("road", "trail", consent="session"),
        view("road", "trail", consent="none"),
        order("road", consent="session"),
    )
    assert taught == [False, False, False]
    assert len(store) == 0
    assert rec.recommend("popular", Visitor(), 4) == []
    assert learn(rec, view("road", "trail")) == [True]
    assert ids(rec.recommend("viewed-together", Visitor(viewed=("trail",)), 4)) == ["road"]


def test_a_flood_from_one_address_cannot_move_popular() -> None:
    organic = [view("tent", visitor=f"v{i}", address=f"192.0.2.{i}") for i in range(5)]
    bot = "203.0.113.9"
    flood = [view("helmet", visitor=f"b{i}", address=bot, at=NOW - 3600) for i in range(1000)]
    rec = recommender(*organic, *flood)
    assert ids(rec.recommend("popular", Visitor(), 2)) == ["tent", "helmet"]
    assert rec.guard.refused == 1000 - rec.guard.per_window
    # The same address again in the next window counts again, as a real visitor would.
    later = view("helmet", visitor="human", address=bot)
    assert learn(rec, later) == [True]


def test_an_ipv6_flood_counts_as_one_address_per_64() -> None:
    guard = FloodGuard(per_window=2)
    allowed = [guard.allow(f"2001:db8::{i:x}", "tent", NOW) for i in range(5)]
    assert allowed == [True, True, False, False, False]
    assert guard.allow("2001:db8:0:1::1", "tent", NOW)
    assert guard.allow("2001:db8::1", "helmet", NOW)


def test_events_from_a_trusted_server_are_not_limited() -> None:
    rec = recommender(*(order("tent", visitor=f"c{i}") for i in range(10)))
    assert rec.guard.refused == 0
    assert ids(rec.recommend("popular", Visitor(), 1)) == ["tent"]


def test_viewing_a_product_again_in_the_same_session_adds_nothing() -> None:
    store = MemoryModelStore()
    rec = recommender(view("trail"), view("road", "trail"), store=store)
    before = asyncio.run(store.read(None, NOW)).lists
    assert learn(rec, view("trail", "road", "trail")) == [False]
    assert asyncio.run(store.read(None, NOW)).lists == before


def test_products_outside_the_feed_are_not_learned_unless_the_feed_learns_from_pages() -> None:
    store = MemoryModelStore()
    rec = recommender(store=store)
    assert learn(rec, view("made-up", "trail")) == [False]
    assert learn(rec, view("road", "made-up")) == [True]
    keys = set(asyncio.run(store.read(None, NOW)).lists)
    assert ("viewed", "made-up") not in keys
    assert ("popular", "all") in keys
    pages = Feed.from_pages()
    pages.note(Product("made-up", "Made up", "/made-up"))
    learner = Recommender(pages, clock=lambda: NOW)
    assert learn(learner, view("new-on-site", "made-up")) == [True]


def test_an_event_from_the_future_counts_as_now() -> None:
    store = MemoryModelStore()
    rec = recommender(view("tent", at=NOW + 10 * 365 * 86400), store=store)
    learn(rec, view("helmet", visitor="w"))
    ranked = asyncio.run(store.read(None, NOW)).lists[("popular", "all")]
    assert ranked[0][1] == pytest.approx(ranked[1][1], rel=0.01)


def test_what_each_event_adds() -> None:
    store = MemoryModelStore()
    recommender(
        view("road", "trail", "socks", city="Utrecht", country="nl", segments=("vip",)),
        order("tent", "jacket", viewed=("tent", "helmet")),
        Event("add_to_cart", ("mat",), NOW, "full", "v"),
        store=store,
    )
    lists = asyncio.run(store.read(None, NOW)).lists
    assert dict(lists[("viewed", "road")]) == {"trail": 1.0, "socks": 0.5}
    assert dict(lists[("viewed", "socks")]) == {"road": 0.5}
    assert dict(lists[("bought", "tent")]) == {"jacket": 1.0}
    assert dict(lists[("view-buy", "helmet")]) == {"tent": 1.0, "jacket": 1.0}
    assert dict(lists[("view-buy", "tent")]) == {"jacket": 1.0}
    assert dict(lists[("popular", "all")]) == {"road": 1.0, "tent": 5.0, "jacket": 5.0, "mat": 3.0}
    for scope in ("city:utrecht", "country:NL", "segment:vip"):
        assert dict(lists[("popular", scope)]) == {"road": 1.0}
        assert dict(lists[("trending", scope)]) == {"road": 1.0}


def test_a_store_that_fails_costs_the_lesson_not_the_request() -> None:
    class Down(MemoryModelStore):
        async def add(self, updates: Iterable[Update], at: float) -> None:
            raise StoreUnavailable("redis: TimeoutError")

        async def read(self, since: float | None, now: float) -> Lists:
            raise StoreUnavailable("redis: TimeoutError")

    rec = Recommender(FEED, Down(), clock=lambda: NOW)
    assert asyncio.run(rec.learn(view("tent"))) is False
    assert asyncio.run(rec.refresh()) is False
    assert rec.failures == 2
