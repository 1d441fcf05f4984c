"""Benchmark: `decide` for 5 slots over 200 campaigns, in-process (target: median ≤ 200 µs)."""

from __future__ import annotations

import json
import random
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from opmaat.campaigns import CampaignSet, load_campaigns_text
from opmaat.engine import Engine

SLOTS = ["hero", "sidebar", "footer", "banner", "product"]
NOW = datetime(2026, 6, 1, tzinfo=UTC)


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


PROFILES: dict[str, dict[str, Any]] = {
    "nothing matches": {
        "visitor": {"id": "v-123", "new": False, "visits": 1},
        "session": {"pageviews": 2},
        "geo": {"country": "IT", "city": "Rome"},
        "device": {"type": "desktop"},
        "referrer": {"medium": "direct"},
        "utm": {},
        "time": {"hour": 22},
        "page": {"category": "hats"},
        "interests": {"shoes": 0.0},
        "cart": {"items": 0},
        "segments": ["x"],
        "response": {"c0": {"seen": [1.0, 2.0]}},
        "consent": {"tier": "session"},
    },
    "every slot filled": {
        "visitor": {"id": "v-9", "visits": 5},
        "geo": {"country": "NL", "city": "Utrecht"},
        "referrer": {"medium": "search", "source": "google", "term": "shoes"},
        "consent": {"tier": "session"},
    },
}


def median_decide_seconds(engine: Engine, profile: dict[str, Any], runs: int) -> float:
    for _ in range(50):
        engine.decide(profile, SLOTS, now=NOW)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        engine.decide(profile, SLOTS, now=NOW)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def run(runs: int = 20_000) -> dict[str, float]:
    """Median µs per decide, per profile."""
    engine = Engine(two_hundred_campaigns())
    filled = engine.decide(PROFILES["every slot filled"], SLOTS, now=NOW)
    assert all(d.campaign for d in filled.values()), "the benchmark must exercise rendering"
    return {
        label: median_decide_seconds(engine, profile, runs) * 1e6
        for label, profile in PROFILES.items()
    }


if __name__ == "__main__":
    for label, micros in run().items():
        print(f"decide, 5 slots over 200 campaigns, {label}: median {micros:.0f} µs")
