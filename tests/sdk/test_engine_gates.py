"""The engine skips most audiences with a cheap pre-check; it must never change a decision."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

from opmaat.campaigns import load_campaigns_text
from opmaat.conditions import evaluate_condition
from opmaat.engine import Engine

NOW = datetime(2026, 11, 10, tzinfo=UTC)
SLOTS = ["a", "b", "c"]
TEXTS = ["NL", "BE", "search", "vip", "1", ""]
AUDIENCES: list[Any] = [
    {"geo.country": "NL"},
    {"geo.country": {"$eq": "BE"}},
    {"geo.country": {"$in": ["NL", "BE"]}, "device.type": "mobile"},
    {"segments": {"$in": ["vip", "1"]}},
    {"segments": "vip"},
    {"segments": ["vip"]},
    {"referrer.medium": {"$in": ["search", 1]}},
    {"referrer.medium": {"$in": ["search"], "$ne": "x"}},
    {"visitor.visits": {"$gte": 2}, "geo.country": {"$nin": ["NL"]}},
    {"$or": [{"geo.country": "NL"}, {"segments": {"$in": ["vip"]}}]},
    {"geo.country": {"$in": []}},
    {"a.b.c": "1"},
    {"a.0": "1"},
    None,
]


def random_value(rnd: random.Random) -> Any:
    return rnd.choice(
        [
            lambda: rnd.choice(TEXTS),
            lambda: [rnd.choice([*TEXTS, 1, None]) for _ in range(rnd.randint(0, 3))],
            lambda: tuple(rnd.sample(TEXTS, 2)),
            lambda: rnd.choice([1, 2.5, True, False, None]),
            lambda: {"b": {"c": rnd.choice(TEXTS)}},
        ]
    )()


def random_profile(rnd: random.Random) -> dict[str, Any]:
    profile: dict[str, Any] = {
        "visitor": {"id": f"v{rnd.randint(0, 50)}", "visits": rnd.randint(0, 4)}
    }
    for section, key in [("geo", "country"), ("device", "type"), ("referrer", "medium")]:
        roll = rnd.random()
        if roll < 0.7:
            profile[section] = {key: random_value(rnd)}
        elif roll < 0.85:
            profile[section] = random_value(rnd)
    if rnd.random() < 0.7:
        profile["segments"] = random_value(rnd)
    if rnd.random() < 0.3:
        profile["a"] = random_value(rnd)
    return profile


def reference(spec: list[dict[str, Any]], profile: dict[str, Any]) -> dict[str, str | None]:
    ranked = sorted(enumerate(spec), key=lambda pair: (-pair[1]["priority"], pair[0]))
    used: set[str] = set()
    out: dict[str, str | None] = {}
    for slot in SLOTS:
        out[slot] = None
        for _, camp in ranked:
            if (
                slot in camp["slots"]
                and camp["id"] not in used
                and evaluate_condition(camp.get("audience"), profile)
            ):
                out[slot] = camp["id"]
                used.add(camp["id"])
                break
    return out


def test_pre_checks_agree_with_full_evaluation() -> None:
    rnd = random.Random(20261110)
    spec = []
    for n in range(60):
        camp: dict[str, Any] = {
            "id": f"c{n}",
            "slots": rnd.sample(SLOTS, rnd.randint(1, 2)),
            "priority": rnd.randint(0, 5),
            "variants": [{"key": "x", "html": "x"}],
        }
        audience = rnd.choice(AUDIENCES)
        if audience is not None:
            camp["audience"] = audience
        spec.append(camp)
    eng = Engine(
        load_campaigns_text(json.dumps({"slots": {s: {} for s in SLOTS}, "campaigns": spec}))
    )
    winners = 0
    for _ in range(3000):
        profile = random_profile(rnd)
        decided = eng.decide(profile, SLOTS, now=NOW)
        expected = reference(spec, profile)
        assert {slot: d.campaign for slot, d in decided.items()} == expected, profile
        winners += sum(v is not None for v in expected.values())
    assert winners > 3000
