"""Benchmark: the engine's decide for `bench.visitor`'s returning visitor: 3 slots over the
campaign file of `bench.request` (the demo's and the 200 generated here), in-process (target:
median ≤ 200 µs). Also the source of those 200 generated campaigns."""

from __future__ import annotations

import json
import random
import statistics
import time
from typing import TYPE_CHECKING, Any

from opmaat.campaigns import CampaignSet, load_campaigns_text

if TYPE_CHECKING:
    from bench.visitor import Returning

SLOTS = ["hero", "sidebar", "footer", "banner", "product"]
FIGURE = "returning visitor"


def two_hundred_campaigns() -> CampaignSet:
    rnd = random.Random(7)
    audiences = [
        lambda i: {"geo.country": {"$in": rnd.sample(["NL", "BE", "DE", "FR", "US", "GB"], 2)}},
        lambda i: {"referrer.medium": rnd.choice(["search", "social", "email"])},
        lambda i: {"visitor.visits": {"$gte": rnd.randint(2, 10)}},
        lambda i: {f"interests.{rnd.choice(['shoes', 'bags', 'hats'])}": {"$gt": rnd.random()}},
        lambda i: {"segments": {"$in": [rnd.choice(["vip", "churn", "new"])]}},
        lambda i: {
            "device.type": rnd.choice(["mobile", "tablet"]),
            "time.hour": {"$gte": 8, "$lt": 20},
        },
        lambda i: {
            "$or": [
                {"utm.campaign": f"spring{i}"},
                {"referrer.source": {"$regex": "^goo"}, "geo.city": "Utrecht"},
            ]
        },
        lambda i: {"page.category": rnd.choice(["shoes", "bags"]), "cart.items": {"$gt": 0}},
    ]
    campaigns: list[dict[str, Any]] = []
    for i in range(200):
        campaign: dict[str, Any] = {
            "id": f"c{i}",
            "slot": SLOTS[i % len(SLOTS)],
            "priority": rnd.randint(0, 50),
            "audience": audiences[i % len(audiences)](i),
            "variants": [
                {"key": "a", "html": "<p>Hi {{ geo.city }} {{ referrer.term }}</p>"},
                {"key": "b", "weight": 2, "html": "<b>{{ campaign.id }}</b>"},
            ],
        }
        if i % 3 == 0:
            campaign["schedule"] = {
                "start": "2026-01-01 00:00",
                "end": "2027-01-01",
                "timezone": "Europe/Amsterdam",
            }
        if i % 4 == 0:
            campaign["frequency"] = {"max": 3, "per": "1d"}
        if i % 5 == 0:
            campaign["holdout"] = 0.1
        if i % 7 == 0:
            campaign["consent"] = "full"
        campaigns.append(campaign)
    document = {"slots": {s: {"default": f"<p>{s}</p>"} for s in SLOTS}, "campaigns": campaigns}
    return load_campaigns_text(json.dumps(document), "bench.json")


def median_decide_seconds(visitor: Returning, runs: int) -> float:
    engine, profile, slots = visitor.engine, visitor.profile, visitor.slots
    for _ in range(50):
        engine.decide(profile, slots, now=visitor.now, exclude=visitor.exclude)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        engine.decide(profile, slots, now=visitor.now, exclude=visitor.exclude)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def run(runs: int = 20_000) -> dict[str, float]:
    """Median µs per decide of `bench.visitor`'s returning visitor."""
    from bench.visitor import returning_visitor  # not at the top: bench.http imports this module

    visitor = returning_visitor()
    filled = visitor.engine.decide(visitor.profile, visitor.slots, now=visitor.now)
    assert any(d.campaign for d in filled.values()), "the benchmark must exercise rendering"
    return {FIGURE: median_decide_seconds(visitor, runs) * 1e6}


if __name__ == "__main__":
    for label, micros in run().items():
        print(f"decide, 3 slots over 216 campaigns, {label}: median {micros:.0f} µs")
