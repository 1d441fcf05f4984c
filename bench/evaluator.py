"""Benchmark: our condition evaluator beside GrowthBook's Python SDK, on the same cases.

Target: ours at least 3x faster. Both evaluate the same realistic audience conditions against
the same opmaat-shaped profiles. Ours is compiled once (as the engine compiles each campaign's
audience when campaigns load) and then called per evaluation; GrowthBook's SDK has no compile
step: its `evalCondition(attributes, condition)` walks the condition dict on every call, which
is how the SDK itself calls it for each feature rule and experiment.

First every (condition, profile) pair is evaluated by both; a pair on which they disagree is
listed and left out of the timing, so both time exactly the same work.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

from growthbook.core import evalCondition

from opmaat.conditions import compile_condition

Condition = dict[str, Any]
Profile = dict[str, Any]

# Audiences as campaign files write them: every operator both evaluators support, nested
# paths, array attributes, array indexes and lengths, logical combinations.
CONDITIONS: dict[str, Condition] = {
    "country in list": {"geo.country": {"$in": ["NL", "BE", "LU"]}},
    "country equals": {"geo.country": "NL"},
    "country not in list": {"geo.country": {"$nin": ["US", "CA", "GB"]}},
    "not on desktop": {"device.type": {"$ne": "desktop"}},
    "city in list": {"geo.city": {"$in": ["Amsterdam", "Utrecht", "Rotterdam", "Antwerpen"]}},
    "inside a bounding box": {
        "geo.lat": {"$gte": 50.7, "$lte": 53.6},
        "geo.lon": {"$gte": 3.3, "$lte": 7.3},
    },
    "from a search engine": {
        "referrer.medium": "search",
        "referrer.source": {"$regex": "^(google|bing|duckduckgo)$"},
    },
    "search term mentions shoes": {"referrer.term": {"$regexi": "shoe"}},
    "spring utm campaign": {"utm.campaign": {"$regex": "^spring_"}},
    "landing from an ad": {"session.landing_url": {"$regex": "utm_medium=(cpc|paid)"}},
    "email or newsletter": {
        "$or": [{"utm.source": "newsletter"}, {"referrer.medium": "email"}],
    },
    "returning regular": {"visitor.new": False, "visitor.visits": {"$gte": 3}},
    "back after a week": {"visitor.days_since_last_visit": {"$gte": 7}},
    "second visit": {"milestone.second_visit": True},
    "office hours on weekdays": {
        "time.hour": {"$gte": 9, "$lt": 18},
        "time.weekday": {"$nin": ["saturday", "sunday"]},
    },
    "deep session": {"session.pageviews": {"$gt": 4}},
    "visited checkout": {"session.pages": {"$elemMatch": {"$regex": "^/checkout"}}},
    "strong running interest": {"interests.running": {"$gt": 2}},
    "top interest outdoor": {"interests.top": {"$in": ["running", "hiking", "trail"]}},
    "vip segment": {"segments": {"$in": ["vip"]}},
    "vip and newsletter": {"segments": {"$all": ["vip", "newsletter"]}},
    "two segments or more": {"segments": {"$size": {"$gte": 2}}},
    "not a churn risk": {"segments": {"$nin": ["rfm-at_risk", "rfm-hibernating"]}},
    "cart worth 50": {"cart.count": {"$gt": 0}, "cart.value": {"$gte": 50}},
    "abandoned cart": {"cart.abandoned": True, "cart.minutes_since_update": {"$gte": 30}},
    "outdoor gear over 45 in cart": {
        "cart.items": {
            "$elemMatch": {"category": {"$in": ["running", "hiking"]}, "price": {"$gte": 45}}
        }
    },
    "cart has a first item": {"cart.items.0.id": {"$exists": True}},
    "two cart lines": {"cart.items.length": {"$gte": 2}},
    "repeat buyer": {"orders.count": {"$gte": 2}, "orders.value": {"$gt": 200}},
    "never bought": {"orders.count": 0},
    "viewed outdoor products": {
        "viewed_products": {"$elemMatch": {"category": {"$in": ["running", "trail"]}}}
    },
    "known customer": {"customer.id": {"$exists": True}},
    "anonymous": {"customer.id": {"$exists": False}},
    "gold or silver tier": {"customer.tier": {"$type": "string", "$in": ["gold", "silver"]}},
    "app at least 2.3": {"customer.app_version": {"$vgte": "2.3.0"}},
    "app exactly 2.4.1": {"customer.app_version": {"$veq": "2.4.1"}},
    "app before 2.0": {"customer.app_version": {"$vlt": "2.0.0"}},
    "champions": {"rfm.segment": {"$in": ["champions", "loyal"]}, "rfm.score": {"$gte": 12}},
    "saw spring sale thrice": {"response.spring-sale.impressions": {"$gte": 3}},
    "saw but never converted": {
        "response.spring-sale.impressions": {"$gte": 1},
        "response.spring-sale.conversions": 0,
    },
    "europe and mobile or deep": {
        "$and": [
            {"geo.continent": "EU"},
            {"$or": [{"device.type": "mobile"}, {"session.pageviews": {"$gte": 5}}]},
        ]
    },
    "outside benelux": {"$not": {"geo.country": {"$in": ["NL", "BE"]}}},
    "neither tablet nor no consent": {
        "$nor": [{"device.type": "tablet"}, {"consent.tier": "none"}],
    },
    "intent not low": {"intent.score": {"$not": {"$lt": 30}}},
    "ready to buy": {"journey.stage": {"$in": ["consider", "buy"]}, "intent.score": {"$gte": 50}},
    "added to cart this week": {"events.add_to_cart.count_7d": {"$gte": 1}},
    "cheap product page": {"page.price": {"$lt": 100}},
    "personalized with consent": {
        "consent.tier": {"$in": ["full", "session"]},
        "consent.personalized": True,
    },
}

# Where visitors come from: (country, city, region, continent, lat, lon, timezone).
_PLACES = [
    ("NL", "Amsterdam", "Noord-Holland", "EU", 52.37, 4.89, "Europe/Amsterdam"),
    ("NL", "Utrecht", "Utrecht", "EU", 52.09, 5.12, "Europe/Amsterdam"),
    ("BE", "Antwerpen", "Flanders", "EU", 51.22, 4.40, "Europe/Brussels"),
    ("DE", "Berlin", "Berlin", "EU", 52.52, 13.40, "Europe/Berlin"),
    ("GB", "London", "England", "EU", 51.51, -0.13, "Europe/London"),
    ("US", "Seattle", "Washington", "NA", 47.61, -122.33, "America/Los_Angeles"),
    ("FR", "Lille", "Hauts-de-France", "EU", 50.63, 3.06, "Europe/Paris"),
]
_DEVICES = [
    ("mobile", "iOS", "Mobile Safari"),
    ("mobile", "Android", "Chrome Mobile"),
    ("desktop", "Windows", "Chrome"),
    ("desktop", "Mac OS X", "Safari"),
    ("tablet", "iOS", "Mobile Safari"),
]
# (medium, source, host, term, utm)
_ARRIVALS: list[tuple[str, str | None, str | None, str | None, dict[str, str]]] = [
    ("search", "google", "www.google.nl", "trail running shoes", {}),
    ("search", "bing", "www.bing.com", "hiking boots", {}),
    (
        "paid",
        "google",
        "www.google.com",
        "running shoes sale",
        {"source": "google", "medium": "cpc", "campaign": "spring_sale", "term": "shoes"},
    ),
    ("social", "facebook", "m.facebook.com", None, {}),
    (
        "email",
        "newsletter",
        None,
        None,
        {"source": "newsletter", "medium": "email", "campaign": "spring_news"},
    ),
    ("direct", None, None, None, {}),
    ("referral", "blog.example", "blog.example", None, {}),
]
_CATEGORIES = ["running", "hiking", "trail", "bags", "hats", "socks", "outdoor"]
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_PAGES = ["/", "/c/running", "/c/hiking", "/p/tr-42", "/p/hk-7", "/cart", "/checkout/address"]


def _product(rnd: random.Random, with_quantity: bool) -> dict[str, Any]:
    product: dict[str, Any] = {
        "id": f"SKU-{rnd.randint(100, 999)}",
        "name": rnd.choice(["Trail Runner 42", "Hiker Pro", "Day Pack 20", "Wool Socks"]),
        "price": rnd.choice([19.95, 49.0, 89.95, 129.0]),
        "category": rnd.choice(_CATEGORIES[:4]),
        "url": f"/p/{rnd.randint(1, 500)}",
    }
    if with_quantity:
        product["quantity"] = rnd.randint(1, 3)
    return product


def _profile(rnd: random.Random, kind: str, n: int) -> Profile:
    """One profile as `opmaat.profile.build_profile` shapes it, for a visitor of `kind`
    (first-timer, returning, shopper or customer)."""
    country, city, region, continent, lat, lon, zone = rnd.choice(_PLACES)
    device, os_name, browser = rnd.choice(_DEVICES)
    medium, source, host, term, utm = rnd.choice(_ARRIVALS)
    returning = kind != "first-timer"
    visits = rnd.randint(2, 14) if returning else 1
    pages = rnd.sample(_PAGES, rnd.randint(1, 5))
    interests: dict[str, Any] = {}
    if returning:
        for category in rnd.sample(_CATEGORIES, rnd.randint(1, 4)):
            interests[category] = round(rnd.uniform(0.1, 6), 2)
    ranked = sorted(interests, key=lambda k: -interests[k])
    interests["top"] = ranked[0] if ranked else None
    segments: list[str] = []
    if kind in ("shopper", "customer"):
        segments = rnd.sample(["vip", "newsletter", "rfm-champions", "rfm-at_risk", "b2b"], 2)
    items = [_product(rnd, True) for _ in range(rnd.randint(1, 3))] if kind == "shopper" else []
    count = sum(i["quantity"] for i in items)
    value = round(sum(i["price"] * i["quantity"] for i in items), 2)
    abandoned = bool(items) and rnd.random() < 0.5
    minutes = rnd.randint(1, 300) if items else None
    orders = rnd.randint(1, 6) if kind == "customer" else 0
    customer: dict[str, Any] = {}
    rfm: dict[str, Any] = {}
    if kind == "customer":
        customer = {
            "id": f"C-{1000 + n}",
            "tier": rnd.choice(["gold", "silver", "bronze"]),
            "app_version": rnd.choice(["1.9.2", "2.3.0", "2.4.1", "2.10.0-beta.1"]),
        }
        r, f, m = rnd.randint(1, 5), rnd.randint(1, 5), rnd.randint(1, 5)
        rfm = {"r": r, "f": f, "m": m, "score": r + f + m, "cell": f"{r}{f}{m}"}
        rfm["segment"] = "champions" if min(r, f, m) >= 4 else ("loyal" if f >= 4 else "new")
    response: dict[str, Any] = {}
    if returning:
        for campaign in rnd.sample(["spring-sale", "newsletter-signup", "free-shipping"], 2):
            impressions = rnd.randint(1, 6)
            response[campaign] = {
                "impressions": impressions,
                "clicks": rnd.randint(0, 1),
                "conversions": rnd.randint(0, 1),
                "variant": rnd.choice(["a", "b"]),
                "seen": [1_780_000_000 + 3600 * i for i in range(impressions)],
            }
    viewed = [{**_product(rnd, False), "at": 1_780_000_000.0} for _ in range(rnd.randint(0, 4))]
    score = rnd.randint(0, 100)
    on_product = rnd.random() < 0.4
    page: dict[str, Any] = {"category": rnd.choice(_CATEGORIES), "path": pages[-1]}
    page["url"] = f"https://shop.example{pages[-1]}"
    if on_product:
        page.update(product=f"SKU-{rnd.randint(100, 999)}", price=rnd.choice([24.5, 89.95, 149]))
    landing = f"https://shop.example{pages[0]}"
    if utm:
        landing += "?" + "&".join(f"utm_{k}={v}" for k, v in utm.items())
    hour = rnd.randint(0, 23)
    return {
        "visitor": {
            "id": f"v-{n:04d}",
            "new": not returning,
            "visits": visits,
            "first_seen": "2026-05-02T10:00:00+00:00",
            "last_seen": "2026-06-01T12:00:00+00:00",
            "days_since_last_visit": rnd.randint(0, 40) if returning else None,
        },
        "session": {
            "id": f"s{n:07d}",
            "pageviews": len(pages),
            "landing_url": landing,
            "pages": pages,
        },
        "geo": {
            "country": country,
            "region": region,
            "city": city,
            "lat": lat,
            "lon": lon,
            "timezone": zone,
            "continent": continent,
        },
        "device": {"type": device, "os": os_name, "browser": browser},
        "referrer": {
            "url": f"https://{host}/" if host else None,
            "host": host,
            "medium": medium,
            "source": source,
            "term": term,
        },
        "utm": dict(utm),
        "time": {
            "hour": hour,
            "weekday": rnd.choice(_WEEKDAYS),
            "local": f"2026-06-01T{hour:02d}:00:00+02:00",
        },
        "page": page,
        "interests": interests,
        "prefs": {"interests": {}},
        "customer": customer,
        "rfm": rfm,
        "segments": segments,
        "purl": {},
        "events": {
            "page_view": {
                "count_1d": len(pages),
                "count_7d": visits,
                "count_30d": visits,
                "session": 1,
            },
            **(
                {"add_to_cart": {"count_1d": 1, "count_7d": 2, "count_30d": 2, "session": 1}}
                if items
                else {}
            ),
        },
        "milestone": {
            "first_visit": visits == 1,
            "second_visit": visits == 2,
            "third_visit": visits == 3,
            "tenth_visit": visits == 10,
            "back_after_7_days": False,
            "back_after_30_days": False,
        },
        "cart": {
            "items": items,
            "count": count,
            "value": value,
            "abandoned": abandoned,
            "abandoned_items": [dict(i) for i in items] if abandoned else [],
            "minutes_since_update": minutes,
        },
        "orders": {
            "count": orders,
            "value": round(orders * rnd.uniform(40, 120), 2),
            "last": "2026-05-20T09:30:00+00:00" if orders else None,
        },
        "viewed_products": viewed,
        "intent": {"score": score, "signals": {"depth": len(pages), "product_views": len(viewed)}},
        "journey": {"stage": rnd.choice(["explore", "consider", "buy", "loyal"])},
        "response": response,
        "consent": {
            "tier": rnd.choice(["full", "full", "session", "none"]),
            "choice": None,
            "capped_by": None,
            "personalized": True,
            "source": "site",
        },
    }


def make_profiles(count: int = 20, seed: int = 2026) -> dict[str, Profile]:
    """`count` profiles: first-timers, returning visitors, shoppers and known customers."""
    rnd = random.Random(seed)
    kinds = ["first-timer", "returning", "shopper", "customer"]
    return {f"{kinds[n % 4]} {n}": _profile(rnd, kinds[n % 4], n) for n in range(count)}


Case = tuple[str, str, Condition, Profile]


Disagreement = tuple[str, str, bool, bool]  # condition, profile, ours, GrowthBook's


def check_agreement(
    conditions: Mapping[str, Condition], profiles: Mapping[str, Profile]
) -> tuple[list[Case], list[Disagreement], int]:
    """The (condition, profile) cases both evaluators agree on, the cases they disagree on,
    and how many of the agreed cases match."""
    agreed: list[Case] = []
    disagreements: list[Disagreement] = []
    matches = 0
    for name, condition in conditions.items():
        ours = compile_condition(condition)
        for label, profile in profiles.items():
            mine, theirs = ours(profile), evalCondition(profile, condition)
            if mine != theirs:
                disagreements.append((name, label, mine, theirs))
                continue
            agreed.append((name, label, condition, profile))
            matches += mine
    return agreed, disagreements, matches


def _time_ours(
    pairs: list[tuple[Callable[[Mapping[str, Any]], bool], Profile]], number: int
) -> float:
    start = time.perf_counter()
    for _ in range(number):
        for predicate, profile in pairs:
            predicate(profile)
    return time.perf_counter() - start


def _time_growthbook(pairs: list[tuple[Condition, Profile]], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        for condition, profile in pairs:
            evalCondition(profile, condition)
    return time.perf_counter() - start


def run(
    rounds: int = 5,
    number: int = 200,
    conditions: Mapping[str, Condition] = CONDITIONS,
    profiles: Mapping[str, Profile] | None = None,
) -> dict[str, Any]:
    """µs per evaluation, ours and GrowthBook's, and their ratio (the median of each round's
    ratio, both timed in the same round); per condition too. `number` passes per round over
    every agreed case."""
    profiles = make_profiles() if profiles is None else profiles
    agreed, disagreements, matches = check_agreement(conditions, profiles)
    groups: dict[str, list[Case]] = {}
    for case in agreed:
        groups.setdefault(case[0], []).append(case)
    ours_pairs = {
        name: [(compile_condition(c[2]), c[3]) for c in cases] for name, cases in groups.items()
    }
    theirs_pairs = {name: [(c[2], c[3]) for c in cases] for name, cases in groups.items()}
    # Warm up both (regex caches, version caches, the interpreter's specializations).
    for name in groups:
        _time_ours(ours_pairs[name], 20)
        _time_growthbook(theirs_pairs[name], 20)
    totals_ours: list[float] = []
    totals_theirs: list[float] = []
    per_condition: dict[str, list[float]] = {name: [] for name in groups}
    for _ in range(rounds):
        round_ours = round_theirs = 0.0
        for name in groups:
            mine = _time_ours(ours_pairs[name], number)
            theirs = _time_growthbook(theirs_pairs[name], number)
            round_ours += mine
            round_theirs += theirs
            per_condition[name].append(theirs / mine)
        totals_ours.append(round_ours)
        totals_theirs.append(round_theirs)
    evaluations = len(agreed) * number
    ratios = {name: statistics.median(values) for name, values in per_condition.items()}
    lowest = min(ratios, key=ratios.__getitem__) if ratios else ""
    return {
        "conditions": len(conditions),
        "profiles": len(profiles),
        "cases": len(agreed),
        "matching": matches,
        "disagreements": disagreements,
        "ours_us": statistics.median(totals_ours) / evaluations * 1e6,
        "growthbook_us": statistics.median(totals_theirs) / evaluations * 1e6,
        "ratio": statistics.median(t / o for t, o in zip(totals_theirs, totals_ours, strict=True)),
        "per_condition_ratio": ratios,
        "lowest_ratio_condition": lowest,
        "lowest_ratio": ratios.get(lowest, 0.0),
    }


if __name__ == "__main__":
    result = run()
    print(
        f"condition evaluation, {result['conditions']} conditions x {result['profiles']} "
        f"profiles: {result['cases']} cases both agree on ({result['matching']} match), "
        f"{len(result['disagreements'])} disagreements left out"
    )
    by_condition: dict[str, list[Disagreement]] = {}
    for case in result["disagreements"]:
        by_condition.setdefault(case[0], []).append(case)
    for name, cases in by_condition.items():
        answers = sorted({f"ours {c[2]}, GrowthBook {c[3]}" for c in cases})
        print(
            f"  disagreement: {name!r} ({json.dumps(CONDITIONS.get(name))}) on "
            f"{len(cases)} profiles ({'; '.join(answers)}): {', '.join(c[1] for c in cases)}"
        )
    print(f"condition evaluation, ours (compiled once): median {result['ours_us']:.2f} µs")
    print(
        f"condition evaluation, GrowthBook evalCondition: median {result['growthbook_us']:.2f} µs"
    )
    print(f"condition evaluation, GrowthBook / ours: {result['ratio']:.1f}x (target ≥ 3x)")
    print(
        f"condition evaluation, lowest per-condition ratio: {result['lowest_ratio']:.1f}x "
        f"({result['lowest_ratio_condition']})"
    )
