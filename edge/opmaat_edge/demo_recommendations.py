"""Seeded demo recommendations: the demo shop's recommendation model starts with the sessions of
made-up visitors, so that a product page shows what was "viewed together" with it (with its
reasons) from the first visit, as a shop with some history would.

Only in demo mode (the demo shop's pages ask for it when the first one is served), only through
``Recommender.learn`` (what real visits teach with), and only into a model that has learned
nothing yet: a shared store is seeded once, and a model that learned from real visitors is left
alone. The same sessions every time, so what the demo shows can be described and tested.
"""

from __future__ import annotations

import logging
import time
import weakref
from dataclasses import replace

from opmaat.personalizer import Personalizer
from opmaat.recommend import Event, Recommender
from opmaat.recommend.live import LiveRecommender

log = logging.getLogger("opmaat.demo")

# What one made-up visitor viewed in one session, in order, and then ordered (if anything).
SESSIONS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("trail-runner", "run-socks", "run-vest", "trail-runner-gtx"), ("trail-runner", "run-socks")),
    (("trail-runner", "trail-runner-gtx", "soft-flask"), ("trail-runner-gtx", "soft-flask")),
    (("road-racer", "tempo-trainer", "run-socks", "run-cap"), ("road-racer", "run-socks")),
    (("road-racer", "race-flat", "gps-watch", "heart-strap"), ("gps-watch", "heart-strap")),
    (("cushion-max", "insoles", "toe-socks"), ("cushion-max", "insoles")),
    (("run-tights", "run-shirt", "run-jacket", "head-torch"), ("run-tights", "head-torch")),
    (("city-helmet", "bike-light", "bike-lock", "bike-bell"), ("city-helmet", "bike-light")),
    (("road-helmet", "bike-gloves", "bottle-cage", "bike-bottle"), ("bottle-cage", "bike-bottle")),
    (("mtb-helmet", "mini-pump", "repair-kit", "inner-tube"), ("repair-kit", "inner-tube")),
    (("bike-lock", "chain-lock", "pannier", "rain-cape"), ("pannier",)),
    (("bike-pump", "chain-oil", "inner-tube"), ("bike-pump", "chain-oil")),
    (("phone-mount", "bike-light", "city-helmet"), ()),
    (("dome-tent", "tent-footprint", "sleeping-mat"), ("dome-tent", "sleeping-mat")),
    (("tunnel-tent", "camp-chair", "camp-stove", "gas-canister"), ("camp-stove", "gas-canister")),
    (("hiking-boots", "hiking-socks", "trek-poles", "daypack"), ("hiking-boots", "hiking-socks")),
    (("rain-jacket", "rain-trousers", "fleece"), ("rain-jacket", "rain-trousers")),
    (("backpack", "headlamp", "first-aid", "cook-set"), ("backpack", "first-aid")),
    (("dome-tent", "rain-jacket", "headlamp"), ()),
    (("trail-runner", "rain-jacket", "headlamp"), ()),
)
CITIES = ("Amsterdam", "Utrecht", "Rotterdam", None)
COPIES = (2, 3, 4)  # made-up visitors per session, by session number: some sessions are common

# By each personalizer's live recommender (one each): a compiled Personalizer
# (opmaat/compiled.py) takes no weak reference.
_seeded: weakref.WeakSet[LiveRecommender] = weakref.WeakSet()


async def seed_once(personalizer: Personalizer) -> None:
    """Seed ``personalizer``'s model the first time this is asked (later calls cost a look-up)."""
    if personalizer.recommender in _seeded:
        return
    _seeded.add(personalizer.recommender)
    recommender = personalizer.recommender.current(personalizer.runtime.current.campaigns)
    if recommender is not None:
        await seed(recommender)


async def seed(recommender: Recommender) -> bool:
    """Learn the made-up sessions into a model that has learned nothing; whether it did."""
    if not await recommender.refresh() or recommender.snapshot.popular:
        return False
    now = time.time()
    for number, (views, order) in enumerate(SESSIONS):
        for copy in range(COPIES[number % len(COPIES)]):
            visitor = f"demo-{number}-{copy}"
            city = CITIES[(number + copy) % len(CITIES)]
            country = "NL" if city else None
            for seen, product in enumerate(views):
                before = tuple(reversed(views[:seen]))
                viewed = Event("product_view", (product,), now, "full", visitor, visitor, before)
                await recommender.learn(replace(viewed, city=city, country=country))
            if order:
                bought = Event("purchase", order, now, "full", visitor, visitor, views[::-1])
                await recommender.learn(replace(bought, city=city, country=country))
    if not await recommender.refresh():
        log.warning("demo: the seeded recommendations could not be read back")
        return False
    return True
