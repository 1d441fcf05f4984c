"""Strategies: named, configured sources of recommendations, and the candidates each yields.

Kinds:

- ``viewed-together``, ``bought-together``, ``viewed-then-bought``: the neighbours of the seed
  products (those given, else the visitor's most recently viewed), merged with weight
  ``1 / (rank + 1)`` by seed, the most recent first; the seeds themselves are never shown;
- ``popular``, ``trending``: the lists overall, or ``by`` the visitor's ``city``, ``country`` or
  ``segment`` (their first segment that has a list);
- ``recently-viewed``: what the visitor viewed, newest first;
- ``personal``: a blend of the popular products of the visitor's top 3 interests (weighted by
  interest, together at most 1), the neighbours of their favourites and of the products they
  rated 4 or 5 (viewed or bought together; each at 1.5, so what the visitor said outranks what
  was inferred) and the products viewed together with what they viewed last (at 0.5), each
  source scaled to its best item.

Every list leaves out the products the visitor rated 1 or 2.

Options: ``by`` (popular, trending), ``serendipity`` (the share of each list drawn from outside
the visitor's interests, see serendipity.py; default 0.2, 0 for recently-viewed), ``fill``
(top a short list up with popular products; default true, false for recently-viewed) and
``seeds`` (how many recently viewed products seed an item strategy; default 3).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opmaat.interests import category_key
from opmaat.recommend.feed import Feed
from opmaat.recommend.model import scope_key
from opmaat.recommend.reasons import reason
from opmaat.recommend.snapshot import Ranking, Snapshot
from opmaat.recommend.visitor import Visitor

KINDS = (
    "viewed-together",
    "bought-together",
    "viewed-then-bought",
    "popular",
    "trending",
    "recently-viewed",
    "personal",
)
FAMILY = {
    "viewed-together": "viewed",
    "bought-together": "bought",
    "viewed-then-bought": "view-buy",
}
BY = ("city", "country", "segment")
OPTIONS = ("kind", "by", "serendipity", "fill", "seeds")
SERENDIPITY = 0.2
MAX_SEEDS = 5
TOP_INTERESTS = 3
RECENT_WEIGHT = 0.5
# What the visitor said (favourites, ratings) outranks what was inferred (interests, at most 1).
EXPLICIT_WEIGHT = 1.5

Candidates = Iterator[tuple[str, str]]  # (product id, reason), best first


@dataclass(frozen=True, slots=True)
class Strategy:
    """One named source of recommendations (see the module docstring)."""

    name: str
    kind: str
    by: str | None = None
    serendipity: float = SERENDIPITY
    fill: bool = True
    seeds: int = 3


class StrategyError(ValueError):
    """A strategy's configuration is wrong; ``path`` leads to the value from the section."""

    def __init__(self, path: tuple[str, ...], message: str) -> None:
        super().__init__(path, message)
        self.path = path
        self.message = message

    def __str__(self) -> str:
        return f"{'.'.join(self.path)}: {self.message}"


def _share(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 0.5


def make_strategy(
    name: str, config: Mapping[str, Any] | None, *, serendipity: float = SERENDIPITY
) -> Strategy:
    """The strategy ``name`` configured by ``config`` (its kind defaults to its name); raises
    StrategyError naming the option that is wrong."""
    config = config or {}
    path = ("strategies", name)
    if category_key(name) != name:
        raise StrategyError(path, "a strategy name is a slug: a-z, 0-9, '-' and '_'")
    unknown = sorted(str(k) for k in config if k not in OPTIONS)
    if unknown:
        raise StrategyError((*path, unknown[0]), f"unknown option; known: {', '.join(OPTIONS)}")
    kind = config.get("kind", name)
    if kind not in KINDS:
        shown = repr(kind)[:40]
        raise StrategyError((*path, "kind"), f"{shown} is not a kind: {', '.join(KINDS)}")
    by = config.get("by")
    if by is not None and (kind not in ("popular", "trending") or by not in BY):
        raise StrategyError((*path, "by"), f"popular and trending take by: {', '.join(BY)}")
    reminder = kind == "recently-viewed"
    share = config.get("serendipity", 0.0 if reminder else serendipity)
    if not _share(share):
        raise StrategyError((*path, "serendipity"), "a share from 0 to 0.5")
    fill = config.get("fill", not reminder)
    if not isinstance(fill, bool):
        raise StrategyError((*path, "fill"), "true or false")
    seeds = config.get("seeds", 3)
    if not isinstance(seeds, int) or isinstance(seeds, bool) or not 1 <= seeds <= MAX_SEEDS:
        raise StrategyError((*path, "seeds"), f"a whole number from 1 to {MAX_SEEDS}")
    return Strategy(name, kind, by, float(share), fill, seeds)


def make_strategies(
    config: Mapping[str, Any] | None, *, serendipity: float = SERENDIPITY
) -> dict[str, Strategy]:
    """The strategies of a ``strategies:`` section (name -> options); without one, a strategy
    of each kind named after it. ``serendipity``: the section's default share."""
    if not _share(serendipity):
        raise StrategyError(("serendipity",), "a share from 0 to 0.5")
    if not config:
        return {kind: make_strategy(kind, None, serendipity=serendipity) for kind in KINDS}
    out: dict[str, Strategy] = {}
    for name, options in config.items():
        if options is not None and not isinstance(options, Mapping):
            raise StrategyError(("strategies", str(name)), "options are a mapping")
        out[str(name)] = make_strategy(str(name), options, serendipity=serendipity)
    return out


def _name(feed: Feed, product_id: str) -> str | None:
    product = feed.get(product_id)
    return product.name if product is not None else None


def _merge(
    scores: dict[str, float],
    why: dict[str, str],
    ranking: Ranking,
    weight: float,
    said: str,
    depth: int,
) -> None:
    # scores += weight * ranking (its first ``depth``); a product's first reason stays.
    ids, values = ranking
    for product_id, value in zip(ids[:depth], values[:depth], strict=True):
        if product_id in scores:
            scores[product_id] += weight * value
        else:
            scores[product_id] = weight * value
            why[product_id] = said


def related(snapshot: Snapshot, feed: Feed, kind: str, seeds: Sequence[str]) -> Candidates:
    """The neighbours of ``seeds``; the reason names the most recent seed each came from."""
    table = snapshot.related[FAMILY[kind]]
    lists = [(seed, table[seed]) for seed in seeds if seed in table]
    if not lists:
        return
    if len(lists) == 1:
        seed, (ids, _) = lists[0]
        said = reason(kind, _name(feed, seed))
        for product_id in ids:
            yield product_id, said
        return
    # Each product's reason names the first (most recent) seed it is a neighbour of.
    scores: dict[str, float] = {}
    why: dict[str, str] = {}
    for rank, (seed, ranking) in enumerate(lists):
        said = reason(kind, _name(feed, seed))
        _merge(scores, why, ranking, 1.0 / (rank + 1), said, len(ranking[0]))
    for product_id in sorted(scores, key=scores.__getitem__, reverse=True):
        yield product_id, why[product_id]


def _scoped(table: Mapping[str, Ranking], visitor: Visitor, by: str | None) -> tuple[Ranking, str]:
    # The visitor's list for ``by`` and what it is named by in a reason; else the overall one.
    places: list[tuple[str, str]] = []
    if by == "city" and visitor.city:
        places.append((scope_key("city", visitor.city), visitor.city))
    elif by == "country" and visitor.country:
        places.append((scope_key("country", visitor.country), visitor.country))
    elif by == "segment":
        places.extend((scope_key("segment", s), s) for s in visitor.segments)
    for key, place in places:
        if key in table:
            return table[key], place
    return table.get("all", ((), ())), ""


def ranked_list(
    table: Mapping[str, Ranking], source: str, visitor: Visitor, by: str | None
) -> Candidates:
    """A popular or trending list (``source``: ``popular`` or ``trending``)."""
    (ids, _), place = _scoped(table, visitor, by)
    why = reason(f"{source}-with" if by == "segment" and place else source, place)
    for product_id in ids:
        yield product_id, why


def recently_viewed(visitor: Visitor) -> Candidates:
    why = reason("recently-viewed")
    for product_id in visitor.viewed:
        yield product_id, why


def personal(
    snapshot: Snapshot, feed: Feed, visitor: Visitor, seeds: int, depth: int
) -> Candidates:
    """The blend of interests, favourites and recent views (see the module docstring); each
    source gives its best ``depth`` products."""
    scores: dict[str, float] = {}
    why: dict[str, str] = {}

    def add(ranking: Ranking, weight: float, source: str, subject: str | None) -> None:
        ids, values = ranking
        if ids and values[0] > 0:
            _merge(scores, why, ranking, weight / values[0], reason(source, subject), depth)

    top = visitor.interests[:TOP_INTERESTS]
    total = sum(score for _, score in top)
    for category, score in top:
        if category in snapshot.by_category and total > 0:
            add(snapshot.by_category[category], score / total, "interest", category)
    viewed, bought = snapshot.related["viewed"], snapshot.related["bought"]
    for product_id in visitor.favourites[:seeds]:
        name = _name(feed, product_id)
        for table in (viewed, bought):
            if product_id in table:
                add(table[product_id], EXPLICIT_WEIGHT, "favourite", name)
    for product_id in visitor.liked[:seeds]:
        name = _name(feed, product_id)
        for table in (viewed, bought):
            if product_id in table:
                add(table[product_id], EXPLICIT_WEIGHT, "rated", name)
    for product_id in visitor.viewed[:seeds]:
        if product_id in viewed:
            add(viewed[product_id], RECENT_WEIGHT, "viewed", _name(feed, product_id))
    for product_id in sorted(scores, key=scores.__getitem__, reverse=True):
        yield product_id, why[product_id]
