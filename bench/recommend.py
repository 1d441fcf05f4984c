"""Benchmark: recommendation quality against the popularity baseline, lookup cost and memory.

Data: a generated shop (bench/sessions.py; 2,000 products, 20,000 visitors, 60 days, seeded),
split by time. Every event of the first 48 days is fed to ``Recommender.learn`` in time order, as
the edge would feed it (full consent, one address per visitor: the flood guard is on); then the
model is frozen and the sessions of the last 12 days are the test. Three tasks, at most 4,000
cases each (a seeded sample):

- **next view**: after each view of a test session (the session so far is the context), the
  next product viewed. "new" counts only targets the session had not viewed yet (in public
  click logs about a third of next clicks go back to a product seen before);
- **order**: from the views of a session that ends in an order, the products ordered ("new":
  those not viewed in the session);
- **basket**: from the first product of an order of several, the others.

A last line compares popular and trending on the next views that go to products whose
popularity is rising (10% of the catalogue): what trending is for.

For each strategy: HR@10 (share of targets in the list of 10) and NDCG@10 (1 / log2(1 + rank)
of the target, 0 when it is not in the list), and NDCG's ratio to ``popular``'s on the same
cases. Strategies run as configured by default (``fill`` on) with serendipity 0, except the
rows marked ``+ serendipity``. The visitor's interests come from their views before the split
and in the session so far (interests.py, half-life 7 days).

Then: the cost of a lookup (lists of 10 from a warm model: the mean CPU time over 300
visitors, best of 7 runs) and memory:
the learned lists and the snapshot, in bytes per 10,000 products, as learned here and with every
list at its bound.

    python -m bench.recommend [--quick]
"""

from __future__ import annotations

import asyncio
import math
import random
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from bench.sessions import DAY, START, Session, Shop, generate
from opmaat.interests import interest_attributes, note_interest
from opmaat.recommend import (
    Event,
    Feed,
    MemoryModelStore,
    ModelSettings,
    Product,
    Recommender,
    Visitor,
    make_strategies,
)
from opmaat.recommend.model import Update

MAX_CASES = 4000
TRAIN_SHARE = 0.8
HALF_LIFE_DAYS = 7
K = 10
BUDGET_LOOKUP_US = 50.0  # a list of 10 from a warm model, any strategy
STRATEGIES = {
    "popular": {},
    "popular-city": {"kind": "popular", "by": "city"},
    "trending": {},
    "viewed-together": {},
    "viewed-then-bought": {},
    "bought-together": {},
    "personal": {},
    "personal-serendipity": {"kind": "personal", "serendipity": 0.2},
    "recently-viewed": {},
}
TASKS: dict[str, tuple[str, ...]] = {
    "next view": (
        "popular",
        "popular-city",
        "trending",
        "viewed-together",
        "viewed-then-bought",
        "personal",
        "personal-serendipity",
        "recently-viewed",
    ),
    "order": ("popular", "viewed-then-bought", "viewed-together", "personal"),
    "basket": ("popular", "bought-together", "viewed-together"),
}


@dataclass(frozen=True)
class Case:
    visitor: Visitor
    target: str
    new: bool
    seeds: tuple[str, ...] = ()
    rising: bool = False


def feed_of(shop: Shop) -> Feed:
    return Feed(
        Product(p.id, p.name, f"/product/{p.id}", p.price, p.category) for p in shop.products
    )


def _recent(views: Iterable[str]) -> tuple[str, ...]:
    """Distinct products, newest first."""
    return tuple(dict.fromkeys(reversed(list(views))))


def events_of(session: Session, number: int) -> list[Event]:
    """The events of session ``number``, as the edge would learn them (one address a visitor)."""
    visitor = int(session.visitor.removeprefix("v"))
    common: dict[str, Any] = {
        "consent": "full",
        "visitor": session.visitor,
        "session": f"s{number}",
        "address": f"10.{visitor // 62500}.{visitor // 250 % 250}.{visitor % 250}",
        "segments": (session.segment,),
        "city": session.city,
        "country": session.country,
    }
    out: list[Event] = []
    seen: list[str] = []
    for at, product in session.views:
        out.append(Event("product_view", (product,), at, viewed=_recent(seen), **common))
        seen.append(product)
    if session.order:
        viewed = _recent(seen)
        for product in session.order:
            out.append(Event("add_to_cart", (product,), session.order_at, viewed=viewed, **common))
        out.append(
            Event("purchase", tuple(session.order), session.order_at, viewed=viewed, **common)
        )
    return out


async def train(recommender: Recommender, sessions: list[Session]) -> int:
    count = 0
    for number, session in enumerate(sessions):
        for event in events_of(session, number):
            await recommender.learn(event)
            count += 1
    return count


def _visitor(
    record: dict[str, Any],
    session: Session,
    number: int,
    views: list[str],
    bought: Iterable[str],
    category: dict[str, str],
    now: float,
) -> Visitor:
    """The visitor after ``views`` of this session, their interests as the profile shows them."""
    scratch = {"interests": dict(record.get("interests", {}))}
    for product in views:
        note_interest(scratch, category[product], now, HALF_LIFE_DAYS)
    interests = interest_attributes(scratch, {}, now, HALF_LIFE_DAYS)
    return Visitor(
        viewed=_recent(views),
        bought=frozenset(bought),
        interests=tuple((k, v) for k, v in interests.items() if k != "top"),
        segments=(session.segment,),
        city=session.city,
        country=session.country,
        session=f"s{number}",
    )


def cases(shop: Shop, split: float, rnd: random.Random) -> dict[str, list[Case]]:
    category = {p.id: p.category for p in shop.products}
    rising = {p.id for p in shop.products if p.trend > 0}
    records: dict[str, dict[str, Any]] = {}
    bought: dict[str, set[str]] = {}
    out: dict[str, list[Case]] = {task: [] for task in TASKS}
    for number, session in enumerate(shop.sessions):
        record = records.setdefault(session.visitor, {})
        had = bought.setdefault(session.visitor, set())
        if session.start < split:
            for at, product in session.views:
                note_interest(record, category[product], at, HALF_LIFE_DAYS)
            had.update(session.order)
            continue
        views = [p for _, p in session.views]
        for t in range(1, len(views)):
            now = session.views[t][0]
            visitor = _visitor(record, session, number, views[:t], had, category, now)
            target = views[t]
            case = Case(visitor, target, target not in views[:t], rising=target in rising)
            out["next view"].append(case)
        if session.order:
            buyer = _visitor(record, session, number, views, had, category, session.order_at)
            out["order"].extend(Case(buyer, p, p not in views) for p in session.order)
            for target in session.order[1:]:
                out["basket"].append(Case(buyer, target, True, (session.order[0],)))
    return {task: rnd.sample(found, min(MAX_CASES, len(found))) for task, found in out.items()}


@dataclass
class Score:
    hits: int = 0
    gain: float = 0.0
    cases: int = 0
    new_hits: int = 0
    new_gain: float = 0.0
    new_cases: int = 0
    rising_gain: float = 0.0
    rising_cases: int = 0

    def add(self, rank: int | None, new: bool, rising: bool = False) -> None:
        gain = 1.0 / math.log2(rank + 2) if rank is not None else 0.0
        self.cases += 1
        self.hits += rank is not None
        self.gain += gain
        if new:
            self.new_cases += 1
            self.new_hits += rank is not None
            self.new_gain += gain
        if rising:
            self.rising_cases += 1
            self.rising_gain += gain


def evaluate(recommender: Recommender, found: dict[str, list[Case]]) -> dict[str, dict[str, Score]]:
    out: dict[str, dict[str, Score]] = {}
    for task, strategies in TASKS.items():
        out[task] = {}
        for name in strategies:
            score = out[task][name] = Score()
            for case in found[task]:
                items = recommender.recommend(name, case.visitor, K, case.seeds)
                ids = [item.id for item in items]
                rank = ids.index(case.target) if case.target in ids else None
                score.add(rank, case.new, case.rising)
    return out


def _per_call(call: Callable[[], object], visitors: int) -> float:
    # CPU time, best of 7 runs: other processes on the machine only ever make a run slower.
    runs = []
    for _ in range(7):
        started = time.process_time()
        call()
        runs.append((time.process_time() - started) / visitors * 1e6)
    return min(runs)


def lookup_costs(recommender: Recommender, found: dict[str, list[Case]]) -> dict[str, float]:
    visitors = [c.visitor for c in found["next view"] if len(c.visitor.viewed) >= 3][:300]
    out: dict[str, float] = {}
    for label, name, seeds in (
        ("viewed-together, 1 seed", "viewed-together", 1),
        ("viewed-together, 3 seeds", "viewed-together", 3),
        ("popular by city", "popular-city", 3),
        ("personal", "personal", 3),
        ("personal + serendipity 0.2", "personal-serendipity", 3),
    ):
        trimmed = [replace(v, viewed=v.viewed[:seeds]) for v in visitors]

        def run(name: str = name, trimmed: list[Visitor] = trimmed) -> None:
            for visitor in trimmed:
                recommender.recommend(name, visitor, K)

        run()
        out[label] = _per_call(run, len(trimmed))
    return out


def deep_size(root: object) -> int:
    """Bytes of ``root`` and everything it holds, each object once."""
    seen: set[int] = set()
    stack = [root]
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            stack.extend(obj)
        elif hasattr(obj, "__slots__"):
            stack.extend(getattr(obj, name) for name in obj.__slots__ if hasattr(obj, name))
    return total


def model_bytes(recommender: Recommender) -> int:
    store = recommender.store
    assert isinstance(store, MemoryModelStore)
    snapshot = recommender.snapshot
    held = [store._lists, snapshot.related, snapshot.popular, snapshot.trending, snapshot.counts]
    return deep_size([*held, snapshot.by_category, snapshot.pool])


async def bound_bytes(settings: ModelSettings, products: int) -> int:
    """Memory with every list of ``products`` products at its largest (just before a cut)."""
    feed = Feed(Product(f"p{i}", f"P {i}", f"/p/{i}", 1.0, f"c{i % 12}") for i in range(products))
    recommender = Recommender(feed, MemoryModelStore(settings))
    fill = settings.cut_at("viewed", "")
    rnd = random.Random(3)
    ids = [f"p{i}" for i in range(products)]
    for family in ("viewed", "bought", "view-buy"):
        for key in ids:
            members = rnd.sample(ids, fill)
            await recommender.store.add(
                [Update(family, key, m, rnd.random()) for m in members], START
            )
    for family in ("popular", "trending"):
        await recommender.store.add([Update(family, "all", m, rnd.random()) for m in ids], START)
    await recommender.refresh()
    return model_bytes(recommender)


def table(scores: dict[str, dict[str, Score]]) -> list[str]:
    lines = [
        f"{'task':<10} {'strategy':<28} {'cases':>6} {'HR@10':>6} {'NDCG@10':>8} {'x pop':>6}"
        f" {'new: cases':>10} {'HR@10':>6} {'NDCG@10':>8} {'x pop':>6}",
    ]
    for task, by_name in scores.items():
        base = by_name["popular"]
        for name, s in by_name.items():
            label = name.replace("-serendipity", " + serendipity 0.2")
            ratio = s.gain / base.gain if base.gain else math.nan
            line = (
                f"{task:<10} {label:<28} {s.cases:>6} {s.hits / s.cases:>6.3f}"
                f" {s.gain / s.cases:>8.3f} {ratio:>6.2f}"
            )
            if task != "basket" and s.new_cases and name != "recently-viewed":
                new_ratio = s.new_gain / base.new_gain if base.new_gain else math.nan
                line += (
                    f" {s.new_cases:>10} {s.new_hits / s.new_cases:>6.3f}"
                    f" {s.new_gain / s.new_cases:>8.3f} {new_ratio:>6.2f}"
                )
            lines.append(line)
    views = scores["next view"]
    rising = views["popular"].rising_cases
    lines.append(
        f"next view, the {rising} targets that are rising products: NDCG@10 "
        + ", ".join(f"{n} {views[n].rising_gain / rising:.3f}" for n in ("popular", "trending"))
    )
    return lines


async def run(
    *, products: int = 2000, visitors: int = 20_000, bound_products: int = 10_000
) -> dict[str, Any]:
    started = time.perf_counter()
    shop = generate(1, products=products, visitors=visitors, days=60)
    split = START + shop.days * TRAIN_SHARE * DAY
    strategies = make_strategies(STRATEGIES, serendipity=0.0)
    recommender = Recommender(feed_of(shop), MemoryModelStore(), strategies, clock=lambda: split)
    learn_started = time.perf_counter()
    events = await train(recommender, [s for s in shop.sessions if s.start < split])
    learn_seconds = time.perf_counter() - learn_started
    await recommender.refresh()
    found = cases(shop, split, random.Random(2))
    bound = await bound_bytes(recommender.store.settings, bound_products)
    return {
        "shop": shop,
        "events": events,
        "learn_us": learn_seconds / events * 1e6,
        "scores": evaluate(recommender, found),
        "costs": lookup_costs(recommender, found),
        "learned_bytes": model_bytes(recommender) * 10_000 // products,
        "bound_bytes": bound * 10_000 // bound_products,
        "seconds": time.perf_counter() - started,
    }


def budget_row(result: dict[str, Any]) -> tuple[str, str, str, bool, str]:
    """bench/RESULTS.md's budget row: the slowest strategy's lookup against the budget."""
    label, worst = max(result["costs"].items(), key=lambda kv: kv[1])
    return (
        "recommendation lookup, list of 10 from a warm model (slowest strategy)",
        f"{worst:.0f} µs ({label})",
        f"≤ {BUDGET_LOOKUP_US:.0f} µs",
        worst <= BUDGET_LOOKUP_US,
        "python -m bench.recommend",
    )


def report(result: dict[str, Any]) -> list[str]:
    shop: Shop = result["shop"]
    return [
        f"recommendations: {len(shop.products):,} products, {len(shop.sessions):,} sessions, "
        f"{result['events']:,} training events learned at {result['learn_us']:.0f} µs each",
        *table(result["scores"]),
        "lookup, list of 10 from a warm model (µs of CPU, best of 7 runs): "
        + ", ".join(f"{k} {v:.1f}" for k, v in result["costs"].items()),
        f"memory per 10,000 products: {result['learned_bytes'] / 2**20:.1f} MiB as learned here, "
        f"{result['bound_bytes'] / 2**20:.1f} MiB with every list at its bound",
        f"({result['seconds']:.0f} s)",
    ]


if __name__ == "__main__":
    size = {"visitors": 5000, "bound_products": 2000} if "--quick" in sys.argv else {}
    print("\n".join(report(asyncio.run(run(**size)))))
