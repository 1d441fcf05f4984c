"""A seeded generator of shop sessions for the recommendations benchmark (bench/recommend.py).

What it models, and why:

- **Catalogue**: ``products`` products in 12 categories of unequal size. Each product has a
  base popularity from a Zipf law (exponent 1.0) over a random order: a long tail, as in
  every shop. 10% of the products are *rising* (their popularity grows from x0.3 on day 0 to
  x3 on the last day) and 10% *fading* (the reverse): what "trending" should notice.
- **Hidden structure** the strategies should find: every product has 6 *siblings* in its own
  category (alternatives a visitor compares) and 2 *complements* in its category's partner
  category (socks for shoes), drawn with a bias to popular products.
- **Places and segments**: 8 cities in 2 countries and 3 segments, each with its own taste:
  a weight from 0.3 to 3 per category, so the popular products differ by city.
- **Visitors** (``visitors``): a city, a segment, 1-3 favourite categories (drawn by category
  size times the city's and segment's taste) and 1-8 sessions (geometric, mean 2) on random
  days of ``days``.
- **Sessions**: 1 + geometric(mean 4) product views, at most 20, 30-120 s apart. The first view
  is a popular product (by base popularity x trend on that day) of a favourite category (80%)
  or of any category. Each next view revisits an earlier product (25%: "a third of next clicks
  re-visit" in public session logs), goes to a sibling (36%) or complement (9%) of the current
  product, or starts afresh as the first view did (30%).
- **Orders**: 10% of sessions end in an order, after an add-to-cart for each product: the last
  product viewed (70%) or another viewed one; with 35% a complement of it too, with 15% one
  more viewed product.

Everything is drawn from one ``random.Random(seed)``: the same arguments give the same shop.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass, field

CATEGORIES = (
    "running",
    "socks",
    "cycling",
    "lights",
    "outdoor",
    "tents",
    "hiking",
    "bags",
    "swimming",
    "fitness",
    "yoga",
    "nutrition",
)
PARTNER = {c: CATEGORIES[i ^ 1] for i, c in enumerate(CATEGORIES)}  # running <-> socks, ...
CITIES = (
    ("Amsterdam", "NL"),
    ("Utrecht", "NL"),
    ("Rotterdam", "NL"),
    ("Groningen", "NL"),
    ("Antwerp", "BE"),
    ("Ghent", "BE"),
    ("Brussels", "BE"),
    ("Leuven", "BE"),
)
SEGMENTS = ("vip", "new", "bargain")
DAY = 86400.0
START = 1_780_000_000.0  # 2026-05-28


@dataclass(frozen=True)
class ShopProduct:
    id: str
    name: str
    category: str
    price: float
    base: float
    trend: int  # 1 rising, -1 fading, 0 steady


@dataclass
class Session:
    visitor: str
    city: str
    country: str
    segment: str
    views: list[tuple[float, str]] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    order_at: float = 0.0

    @property
    def start(self) -> float:
        return self.views[0][0]


@dataclass
class Shop:
    products: list[ShopProduct]
    siblings: dict[str, list[str]]
    complements: dict[str, list[str]]
    days: int
    sessions: list[Session]
    favourites: dict[str, list[str]]


def _trend(product: ShopProduct, day: float, days: int) -> float:
    if product.trend == 0:
        return 1.0
    share = day / days
    grow = 0.3 * 10**share  # 0.3 on day 0, 3 on the last day
    return grow if product.trend > 0 else 0.9 / grow


class _Picker:
    """Popularity-weighted draws, cumulative weights cached per (category, day)."""

    def __init__(self, by_category: dict[str, list[ShopProduct]], days: int) -> None:
        self.by_category = by_category
        self.days = days
        self._cum: dict[tuple[str, int], list[float]] = {}

    def pick(self, rnd: random.Random, category: str, day: float) -> str:
        key = (category, int(day))
        cum = self._cum.get(key)
        items = self.by_category[category]
        if cum is None:
            weights = (p.base * _trend(p, key[1], self.days) for p in items)
            cum = self._cum[key] = list(itertools.accumulate(weights))
        return items[bisect.bisect_left(cum, rnd.random() * cum[-1])].id


def _zipf(rnd: random.Random, n: int) -> list[float]:
    ranks = list(range(1, n + 1))
    rnd.shuffle(ranks)
    return [1.0 / r for r in ranks]


def _catalogue(rnd: random.Random, n: int) -> list[ShopProduct]:
    sizes = [rnd.uniform(0.4, 1.6) for _ in CATEGORIES]
    bases = _zipf(rnd, n)
    out = []
    for i in range(n):
        category = rnd.choices(CATEGORIES, weights=sizes)[0]
        trend = rnd.choices((1, -1, 0), weights=(1, 1, 8))[0]
        name = f"{category.title()} {i}"
        price = round(rnd.uniform(5, 250), 2)
        out.append(ShopProduct(f"p{i}", name, category, price, bases[i], trend))
    return out


def _related(
    rnd: random.Random, products: list[ShopProduct], by_category: dict[str, list[ShopProduct]]
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    def some(pool: list[ShopProduct], k: int, not_id: str) -> list[str]:
        if len(pool) <= 1:
            return []
        chosen: list[str] = []
        weights = [p.base**0.5 for p in pool]
        while len(chosen) < min(k, len(pool) - 1):
            candidate = rnd.choices(pool, weights=weights)[0].id
            if candidate != not_id and candidate not in chosen:
                chosen.append(candidate)
        return chosen

    siblings = {p.id: some(by_category[p.category], 6, p.id) for p in products}
    complements = {p.id: some(by_category.get(PARTNER[p.category], []), 2, p.id) for p in products}
    return siblings, complements


def generate(
    seed: int = 1, *, products: int = 2000, visitors: int = 20_000, days: int = 60
) -> Shop:
    """A shop and its sessions, oldest session first (see the module docstring)."""
    rnd = random.Random(seed)
    catalogue = _catalogue(rnd, products)
    by_category: dict[str, list[ShopProduct]] = {}
    for product in catalogue:
        by_category.setdefault(product.category, []).append(product)
    categories = [c for c in CATEGORIES if c in by_category]
    siblings, complements = _related(rnd, catalogue, by_category)
    taste = {
        place: {c: rnd.uniform(0.3, 3.0) for c in categories}
        for place in (*(city for city, _ in CITIES), *SEGMENTS)
    }
    size = {c: float(len(by_category[c])) for c in categories}
    category_weight = {c: sum(p.base for p in by_category[c]) for c in categories}
    picker = _Picker(by_category, days)
    index = {p.id: p for p in catalogue}
    sessions: list[Session] = []
    favourites: dict[str, list[str]] = {}
    for v in range(visitors):
        visitor = f"v{v}"
        city, country = rnd.choice(CITIES)
        segment = rnd.choice(SEGMENTS)
        weights = [size[c] * taste[city][c] * taste[segment][c] for c in categories]
        liked = list(dict.fromkeys(rnd.choices(categories, weights=weights, k=rnd.randint(1, 3))))
        favourites[visitor] = liked
        count = min(8, 1 + int(rnd.expovariate(1.0)))
        for day in sorted(rnd.uniform(0, days) for _ in range(count)):
            session = Session(visitor, city, country, segment)

            def fresh(day: float = day, liked: list[str] = liked) -> str:
                if rnd.random() < 0.8:
                    category = rnd.choice(liked)
                else:
                    category = rnd.choices(categories, weights=list(category_weight.values()))[0]
                return picker.pick(rnd, category, day)

            at = START + day * DAY
            current = fresh()
            session.views.append((at, current))
            length = min(20, 1 + int(rnd.expovariate(1 / 4)))
            for _ in range(length - 1):
                at += rnd.uniform(30, 120)
                r = rnd.random()
                seen = [pid for _, pid in session.views]
                if r < 0.25 and len(set(seen)) > 1:
                    current = rnd.choice([pid for pid in seen if pid != current])
                elif r < 0.61 and siblings[current]:
                    current = _by_popularity(rnd, siblings[current], index, day, days)
                elif r < 0.70 and complements[current]:
                    current = _by_popularity(rnd, complements[current], index, day, days)
                else:
                    current = fresh()
                session.views.append((at, current))
            if rnd.random() < 0.10:
                _order(rnd, session, complements)
                session.order_at = at + 60
            sessions.append(session)
    sessions.sort(key=lambda s: s.start)
    return Shop(catalogue, siblings, complements, days, sessions, favourites)


def _by_popularity(
    rnd: random.Random, ids: list[str], index: dict[str, ShopProduct], day: float, days: int
) -> str:
    weights = [index[i].base * _trend(index[i], day, days) for i in ids]
    return rnd.choices(ids, weights=weights)[0]


def _order(rnd: random.Random, session: Session, complements: dict[str, list[str]]) -> None:
    viewed = [pid for _, pid in session.views]
    first = viewed[-1] if rnd.random() < 0.7 else rnd.choice(viewed)
    order = [first]
    if rnd.random() < 0.35 and complements[first]:
        order.append(rnd.choice(complements[first]))
    if rnd.random() < 0.15:
        order.append(rnd.choice(viewed))
    session.order = list(dict.fromkeys(order))
