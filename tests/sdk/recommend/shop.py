"""A small fixed shop for the recommendation tests, and helpers to teach a Recommender."""

from __future__ import annotations

import asyncio
from typing import Any

from opmaat.recommend import Event, Feed, Product, Recommender, make_strategies
from opmaat.recommend.store import MemoryModelStore

NOW = 1_780_000_000.0
DAY = 86400.0
FEED = Feed(
    [
        Product("trail", "Trail Runner 3", "/product/trail", 129.0, "running"),
        Product("road", "Road Racer", "/product/road", 99.0, "running"),
        Product("socks", "Merino running socks", "/product/socks", 15.0, "running"),
        Product("helmet", "City helmet", "/product/helmet", 59.0, "cycling"),
        Product("light", "USB bike light set", "/product/light", 24.5, "cycling"),
        Product("tent", "Two-person dome tent", "/product/tent", 179.0, "outdoor"),
        Product("jacket", "Rain jacket", "/product/jacket", 89.0, "outdoor"),
        Product("mat", "Yoga mat", "/product/mat", 35.0, "yoga"),
        Product("gone", "Old trainer", "/product/gone", 50.0, "running", in_stock=False),
        Product("hidden", "Staff sample", "/product/hidden", 0.0, "running", excluded=True),
    ]
)


def view(product: str, *viewed: str, **fields: Any) -> Event:
    """A product view, ``viewed``: the session's earlier views, newest first."""
    return Event(
        "product_view",
        (product,),
        fields.pop("at", NOW),
        fields.pop("consent", "full"),
        fields.pop("visitor", "v"),
        viewed=viewed,
        **fields,
    )


def order(*products: str, viewed: tuple[str, ...] = (), **fields: Any) -> Event:
    return Event(
        "purchase",
        products,
        fields.pop("at", NOW),
        fields.pop("consent", "full"),
        fields.pop("visitor", "v"),
        viewed=viewed,
        **fields,
    )


def learn(recommender: Recommender, *events: Event) -> list[bool]:
    async def go() -> list[bool]:
        taught = [await recommender.learn(event) for event in events]
        await recommender.refresh()
        return taught

    return asyncio.run(go())


def recommender(
    *events: Event,
    strategies: dict[str, Any] | None = None,
    store: MemoryModelStore | None = None,
    feed: Feed = FEED,
    now: float = NOW,
) -> Recommender:
    """A Recommender on ``feed`` that has learned ``events`` (no serendipity unless asked)."""
    made = make_strategies(strategies, serendipity=0.0)
    rec = Recommender(feed, MemoryModelStore() if store is None else store, made, clock=lambda: now)
    learn(rec, *events)
    return rec


def ids(items: list[Any]) -> list[str]:
    return [item.id for item in items]
