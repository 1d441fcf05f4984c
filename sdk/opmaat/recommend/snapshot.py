"""The lists the strategies read, precomputed from the store's so that a lookup only merges.

- ``related[family][product]``: its neighbours, best first, each scored
  ``count / ((n_product + damping) ** alpha * (n_neighbour + damping) ** (1 - alpha))`` where
  ``n`` is a product's ``popular:all`` count: a neighbour that is merely popular everywhere
  ranks below one that goes with this product in particular (item-kNN's normalisation);
- ``popular[scope]``: counts, highest first; ``trending[scope]``: what sells more now than
  usual. A steady seller's short-half-life count is about ``long * trending_half_life /
  popular_half_life``; with ``usual`` 1.25 times that, a product scores
  ``(short - usual) / sqrt(usual + 1)``: how far above its usual it is, in standard deviations
  of a count of that size, so a small product that doubles can outrank a big one that wobbles.
  Only products that score above 0 (a quarter or more above their usual) are listed;
- ``by_category[category]``: the most popular products of each category of the feed;
- ``pool``: the few most popular of every category, most popular first: where serendipity
  draws from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from opmaat.recommend.feed import Feed
from opmaat.recommend.model import RELATIONS, ModelSettings
from opmaat.recommend.store import Lists, Ranked

Ranking = tuple[tuple[str, ...], tuple[float, ...]]  # ids and scores, best first
POOL_PER_CATEGORY = 5
TRENDING_MARGIN = 1.25
_ORDER = {"popular": 0, "trending": 1}  # popular first: the others read its counts


def _ranking(ranked: Ranked) -> Ranking:
    ids = tuple(member for member, _ in ranked)
    return ids, tuple(score for _, score in ranked)


class Snapshot:
    """The precomputed lists (see the module docstring), updated from what a store read."""

    def __init__(self, settings: ModelSettings, *, damping: float = 20.0, alpha: float = 0.75):
        self.settings = settings
        self.damping = damping
        self.alpha = alpha
        self.related: dict[str, dict[str, Ranking]] = {f: {} for f in RELATIONS}
        self.popular: dict[str, Ranking] = {}
        self.trending: dict[str, Ranking] = {}
        self.counts: dict[str, float] = {}
        self.by_category: dict[str, Ranking] = {}
        self.pool: tuple[str, ...] = ()
        self.cursor: float | None = None

    def apply(self, lists: Lists, feed: Feed) -> None:
        """Take the lists a store read (everything, when they are a full read)."""
        if lists.full:
            for table in self.related.values():
                table.clear()
            self.popular.clear()
            self.trending.clear()
            self.counts = {}
        ordered = sorted(lists.lists.items(), key=lambda kv: _ORDER.get(kv[0][0], 2))
        for (family, key), ranked in ordered:
            if family == "popular":
                self._put(self.popular, key, _ranking(ranked))
                if key == "all":
                    self.counts = dict(ranked)
            elif family == "trending":
                self._put(self.trending, key, self._growth(key, ranked))
            else:
                self._put(self.related[family], key, self._similar(key, ranked))
        if ("popular", "all") in lists.lists:
            self.categorize(feed)
        self.cursor = lists.cursor

    @staticmethod
    def _put(table: dict[str, Ranking], key: str, ranking: Ranking) -> None:
        if ranking[0]:
            table[key] = ranking
        else:
            table.pop(key, None)

    def _similar(self, product: str, ranked: Ranked) -> Ranking:
        counts, damping, alpha = self.counts, self.damping, self.alpha
        own = (counts.get(product, 0.0) + damping) ** alpha
        scored = [
            (other, count / (own * (counts.get(other, 0.0) + damping) ** (1 - alpha)))
            for other, count in ranked
        ]
        scored.sort(key=lambda kv: -kv[1])
        return _ranking(scored)

    def _growth(self, scope: str, ranked: Ranked) -> Ranking:
        settings = self.settings
        ratio = TRENDING_MARGIN * settings.trending_half_life_days / settings.popular_half_life_days
        usual: Mapping[str, float] = self.counts
        if scope != "all":
            ids, scores = self.popular.get(scope, ((), ()))
            usual = dict(zip(ids, scores, strict=True))
        grown = []
        for product_id, short in ranked:
            expected = ratio * usual.get(product_id, 0.0)
            if short > expected:
                grown.append((product_id, (short - expected) / math.sqrt(expected + 1.0)))
        grown.sort(key=lambda kv: -kv[1])
        return _ranking(grown)

    def categorize(self, feed: Feed) -> None:
        """Recompute ``by_category`` and ``pool`` (after the feed or the counts changed)."""
        show = self.settings.show
        lists: dict[str, list[tuple[str, float]]] = {}
        pool: list[str] = []
        for product_id, count in self.counts.items():
            product = feed.get(product_id)
            if product is None or product.category is None:
                continue
            ranked = lists.setdefault(product.category, [])
            if len(ranked) < show:
                ranked.append((product_id, count))
                if len(ranked) <= POOL_PER_CATEGORY:
                    pool.append(product_id)
        self.by_category = {category: _ranking(ranked) for category, ranked in lists.items()}
        self.pool = tuple(pool)
