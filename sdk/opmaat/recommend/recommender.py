"""The Recommender: learns from events into a store, and answers lists from a snapshot.

``recommend`` reads only the in-process snapshot (no I/O): a list of 10 from a warm model costs
tens of microseconds. ``learn`` writes to the store; ``refresh`` brings the snapshot up to date
with what the store has learned (from every node, on Redis). The caller runs ``refresh`` every
few seconds, as it refreshes campaign tallies.

Every list leaves out what the visitor bought or has in the cart, the seed products, products
not in the feed, out of stock or excluded, and products of categories the visitor wants less of.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from opmaat.breaker import StoreUnavailable
from opmaat.recommend.events import Event
from opmaat.recommend.feed import Feed
from opmaat.recommend.guard import FloodGuard
from opmaat.recommend.model import updates
from opmaat.recommend.reasons import reason
from opmaat.recommend.serendipity import draw, share_of
from opmaat.recommend.snapshot import Snapshot
from opmaat.recommend.store import MemoryModelStore, ModelStore
from opmaat.recommend.strategies import (
    FAMILY,
    TOP_INTERESTS,
    Candidates,
    Strategy,
    StrategyError,
    make_strategies,
    personal,
    ranked_list,
    recently_viewed,
    related,
)
from opmaat.recommend.visitor import Visitor

log = logging.getLogger("opmaat.recommend")
MAX_N = 50
FUTURE_SKEW = 60.0  # seconds an event may lie ahead of this node's clock
RESYNC_SECONDS = 600.0


class Item(NamedTuple):
    """One recommended product, with why it is there."""

    id: str
    name: str
    url: str
    price: float | None
    image: str | None
    category: str | None
    reason: str
    serendipitous: bool

    def as_dict(self) -> dict[str, Any]:
        """The item as JSON-ready data (for the server API and the snippet)."""
        return self._asdict()


class Recommender:
    """Recommendations from ``feed`` and what ``store`` learned, by the named ``strategies``
    (default: one of each kind). ``guard`` limits what one address contributes."""

    def __init__(
        self,
        feed: Feed,
        store: ModelStore | None = None,
        strategies: Mapping[str, Strategy] | None = None,
        *,
        guard: FloodGuard | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.feed = feed
        self.store: ModelStore = MemoryModelStore() if store is None else store
        self.strategies = dict(strategies) if strategies is not None else make_strategies(None)
        self.guard = FloodGuard() if guard is None else guard
        self.snapshot = Snapshot(self.store.settings)
        self.clock = clock
        self.failures = 0
        self._resynced = -RESYNC_SECONDS

    def use_feed(self, feed: Feed) -> None:
        """Recommend from ``feed`` from now on (a reloaded file)."""
        self.feed = feed
        self.snapshot.categorize(feed)

    async def learn(self, event: Event) -> bool:
        """Learn from one event; False when it taught nothing: consent below ``full``, no
        product in the feed, over the flood guard's limit, or the store failed (logged)."""
        if event.consent != "full":
            return False
        at = min(event.at, self.clock() + FUTURE_SKEW)
        feed, guard = self.feed, self.guard
        products = tuple(p for p in event.products if feed.learns or p in feed)
        viewed = tuple(p for p in event.viewed if feed.learns or p in feed)
        if event.address is not None:
            products = tuple(p for p in products if guard.allow(event.address, p, at))
        changes = list(updates(event, products, viewed))
        if not changes:
            return False
        try:
            await self.store.add(changes, at)
        except StoreUnavailable:
            self.failures += 1
            log.warning("could not store what a %s event taught", event.kind)
            return False
        return True

    async def refresh(self) -> bool:
        """Bring the snapshot up to date with the store (every list again once every
        RESYNC_SECONDS, so lists gone from the store leave it); False when the store failed."""
        now = self.clock()
        full = now - self._resynced >= RESYNC_SECONDS
        try:
            lists = await self.store.read(None if full else self.snapshot.cursor, now)
        except StoreUnavailable:
            self.failures += 1
            log.warning("could not read what the recommendation model learned")
            return False
        self.snapshot.apply(lists, self.feed)
        if full:
            self._resynced = now
        return True

    def recommend(
        self,
        strategy: str,
        visitor: Visitor,
        n: int = 4,
        seed_products: Sequence[str] = (),
    ) -> list[Item]:
        """Up to ``n`` (at most MAX_N) items by the named strategy; raises StrategyError for a
        name that is not configured."""
        chosen = self.strategies.get(strategy)
        if chosen is None:
            raise StrategyError(("strategies", str(strategy)[:40]), "no such strategy")
        if not 0 <= n <= MAX_N:
            raise ValueError(f"n must be from 0 to {MAX_N}")
        seeds = self._seeds(chosen, visitor, seed_products)
        skip = {*visitor.bought, *visitor.cart, *visitor.disliked, *seeds}
        products, less = self.feed.products, visitor.less
        out: list[Item] = []

        def take(candidates: Candidates, limit: int) -> None:
            if len(out) >= limit:
                return
            for product_id, why in candidates:
                if product_id in skip:
                    continue
                p = products.get(product_id)
                if p is None or not p.in_stock or p.excluded or p.category in less:
                    continue
                skip.add(product_id)
                out.append(Item(p.id, p.name, p.url, p.price, p.image, p.category, why, False))
                if len(out) >= limit:
                    return

        main = self._candidates(chosen, visitor, seeds, n)
        fill: Candidates = iter(())
        if chosen.fill:
            fill = ranked_list(self.snapshot.popular, "popular", visitor, None)
        k = share_of(n, chosen.serendipity)
        take(main, n - k)
        take(fill, n - k)
        surprises: list[Item] = []
        if k:
            surprises = self._surprises(k, f"{visitor.session}|{chosen.name}", visitor, skip)
            # Places serendipity could not fill go to the strategy's next candidates.
            take(main, n - len(surprises))
            take(fill, n - len(surprises))
        return [*out, *surprises]

    def _seeds(self, chosen: Strategy, visitor: Visitor, given: Sequence[str]) -> tuple[str, ...]:
        if chosen.kind in FAMILY:
            return tuple(given[: chosen.seeds]) or visitor.viewed[: chosen.seeds]
        if chosen.kind == "personal":
            n = chosen.seeds
            return (*visitor.favourites[:n], *visitor.liked[:n], *visitor.viewed[:n])
        return ()

    def _candidates(
        self, chosen: Strategy, visitor: Visitor, seeds: Sequence[str], n: int
    ) -> Candidates:
        kind, snapshot = chosen.kind, self.snapshot
        if kind in FAMILY:
            return related(snapshot, self.feed, kind, seeds)
        if kind == "popular":
            return ranked_list(snapshot.popular, "popular", visitor, chosen.by)
        if kind == "trending":
            return ranked_list(snapshot.trending, "trending", visitor, chosen.by)
        if kind == "recently-viewed":
            return recently_viewed(visitor)
        return personal(snapshot, self.feed, visitor, chosen.seeds, n)

    def _surprises(self, k: int, seed: str, visitor: Visitor, skip: set[str]) -> list[Item]:
        # Up to k products drawn for serendipity (see serendipity.py), none of those in
        # ``skip`` (left out, or in the list already), which they join.
        blocked = {category for category, _ in visitor.interests[:TOP_INTERESTS]} | visitor.less
        products = self.feed.products

        def eligible(product_id: str) -> bool:
            if product_id in skip:
                return False
            p = products.get(product_id)
            return p is not None and p.available and p.category not in blocked

        why = reason("different")
        picked = [products[i] for i in draw(self.snapshot.pool, k, seed, eligible)]
        skip.update(p.id for p in picked)
        return [Item(p.id, p.name, p.url, p.price, p.image, p.category, why, True) for p in picked]
