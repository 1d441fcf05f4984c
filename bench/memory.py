"""Benchmark: resident bytes per stored profile in the memory store (target: ≤ 2 KB).

100,000 visitors with realistic histories (seeded), written the way the edge writes them: the
record is changed by the same helpers the edge uses (page views, interests, event counts,
products, cart and orders, the decisions history, campaign responses), and after every request
it is stored with ``MemoryStore.store_if`` (compare-and-set, compact JSON). The mix:

- 60% one visit of 1-3 page views;
- 30% returning visitors: several sessions over a month, product views, interests, event
  counts, the decisions history, impressions (and now and then a click) of the campaigns shown;
- 10% shoppers: as returning visitors, plus a cart, usually an order, and a customer id.

Each page decides 3 slots (decisions drawn from the demo campaigns' real decisions over varied
profiles) and every campaign shown sends an impression, a request of its own.

Memory is measured in fresh subprocesses, so nothing else blurs it: the resident set size
(``VmRSS``) before and after filling the store, and, in a second process, tracemalloc's traced
bytes before and after (which also says which lines allocated them). The encoded size of each
record and its share per top-level field tell how much of a profile is JSON and how much is the
Python objects around it.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import inspect
import json
import random
import subprocess
import sys
import tracemalloc
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import opmaat.store as store_module
from bench.evaluator import make_profiles
from opmaat.context import GeoReader
from opmaat.engine import Decision, Engine
from opmaat.history import note_decisions
from opmaat.interests import note_interest
from opmaat.profile import ContextBuilder, RequestFacts
from opmaat.store import MemoryStore, Record, decode_record, encode_record
from opmaat.tracking import apply_event
from opmaat.visits import record_pageview
from opmaat_edge.api import _record_response
from opmaat_edge.resources import DEMO_CAMPAIGNS, DEMO_GEO

BUDGET = 2048
HOT_RECORDS = inspect.signature(MemoryStore).parameters["max_hot"].default
DECODED_RECORDS = inspect.signature(MemoryStore).parameters["max_decoded"].default
TRACED_VISITORS = 20_000
NOW = 1_780_000_000.0  # 2026-05-28: the fill's clock, so every run builds the same records
DAY = 86400.0
TTL = 395 * DAY  # the default retention, for visitors who consented to be remembered
HALF_LIFE_DAYS = 7
SLOTS = ("hero", "sidebar", "offer")
SITE = "https://shop.example"
HEADERS = {
    "user-agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "x-forwarded-for": "203.0.113.7",
}
# How visitors arrive: (query string on the landing page, referrer).
ARRIVALS: list[tuple[str, str | None]] = [
    ("", None),
    ("", None),
    ("", "https://www.google.nl/search?q=trail+running+shoes"),
    ("", "https://www.bing.com/search?q=hiking+boots"),
    (
        "utm_source=google&utm_medium=cpc&utm_campaign=spring_sale&utm_term=trail+shoes",
        "https://www.google.com/",
    ),
    ("", "https://m.facebook.com/"),
    ("utm_source=newsletter&utm_medium=email&utm_campaign=spring_news", None),
    ("", "https://blog.example/best-running-shoes-2026"),
]
CATEGORIES = ["running", "cycling", "outdoor", "hiking", "socks", "bags"]
PRODUCT_NAMES = ["Trail Runner", "Road Racer", "City Helmet", "Dome Tent", "Rain Jacket", "Pack"]
SITE_EVENTS = ["newsletter_signup", "search", "store_locator"]


def _arrivals() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(landing query, referrer.*, utm.*) as the edge's context builder reads each arrival."""
    builder = ContextBuilder(
        geo=GeoReader(DEMO_GEO), trusted_proxies=["127.0.0.1"], site_hosts=["shop.example"]
    )
    out = []
    for query, referrer in ARRIVALS:
        url = f"{SITE}/?{query}" if query else f"{SITE}/"
        facts = RequestFacts(
            peer="127.0.0.1",
            headers=HEADERS,
            page_url=url,
            referrer=referrer,
            page_meta={},
            now=datetime.fromtimestamp(NOW, UTC),
        )
        context = builder.build(facts)
        out.append((query, context["referrer"], context["utm"]))
    return out


def _decision_pool(profiles: int = 60) -> list[dict[str, Decision]]:
    """Real decisions of the demo campaigns for 3 slots, over varied visitor profiles."""
    engine = Engine.from_file(DEMO_CAMPAIGNS)
    when = datetime.fromtimestamp(NOW, UTC)
    return [
        engine.decide(profile, SLOTS, now=when)
        for profile in make_profiles(profiles, seed=7).values()
    ]


def _catalog(rnd: random.Random, size: int = 300) -> list[dict[str, Any]]:
    return [
        {
            "id": f"sku-{10_000 + i}",
            "name": f"{rnd.choice(PRODUCT_NAMES)} {rnd.randint(1, 9)}",
            "price": rnd.choice([15.0, 24.5, 59.0, 89.0, 99.0, 129.0, 179.0]),
            "category": rnd.choice(CATEGORIES),
        }
        for i in range(size)
    ]


class Filler:
    """Writes visitors into a store as the edge would, one request at a time."""

    def __init__(self, store: MemoryStore, seed: int = 11) -> None:
        self.store = store
        self.rnd = random.Random(seed)
        self.arrivals = _arrivals()
        self.pool = _decision_pool()
        self.catalog = _catalog(self.rnd)
        self.engine = Engine.from_file(DEMO_CAMPAIGNS)
        self.writes = 0

    async def visitor(self) -> str:
        """One visitor's whole history; returns its id."""
        rnd = self.rnd
        visitor_id = base64.urlsafe_b64encode(rnd.randbytes(12)).decode("ascii")
        roll = rnd.random()
        state = _Visitor(self, visitor_id)
        if roll < 0.6:
            start = NOW - rnd.uniform(0, 30 * DAY)
            await state.session(start, rnd.randint(1, 3))
        else:
            sessions = rnd.randint(2, 6)
            starts = sorted(NOW - rnd.uniform(0, 30 * DAY) for _ in range(sessions))
            for i, start in enumerate(starts):
                pages = rnd.randint(1, 6)
                end = await state.session(start, pages)
                if rnd.random() < 0.2:
                    await state.event(rnd.choice(SITE_EVENTS), end + 20)
                if roll >= 0.9 and i == len(starts) - 1:
                    await state.shop(end + 30)
        return visitor_id

    async def fill(self, visitors: int) -> None:
        for _ in range(visitors):
            await self.visitor()


class _Visitor:
    __slots__ = ("filler", "record", "token", "visitor_id")

    def __init__(self, filler: Filler, visitor_id: str) -> None:
        self.filler = filler
        self.visitor_id = visitor_id
        self.record: Record = {}
        self.token: bytes | None = None

    async def save(self) -> None:
        written = await self.filler.store.store_if(self.visitor_id, self.record, TTL, self.token)
        if written is None:
            raise RuntimeError("the store refused a write nobody raced")
        self.token = written
        self.filler.writes += 1

    async def session(self, start: float, pages: int) -> float:
        """A session of `pages` page views from `start`; returns when it ended."""
        rnd = self.filler.rnd
        query, referrer, utm = rnd.choice(self.filler.arrivals)
        now = start
        for n in range(pages):
            await self.page_view(now, query if n == 0 else "", referrer, utm)
            now += rnd.uniform(15, 180)
        return now

    async def page_view(
        self, now: float, query: str, referrer: Mapping[str, Any], utm: Mapping[str, Any]
    ) -> None:
        filler, rnd, record = self.filler, self.filler.rnd, self.record
        kind = rnd.random()
        product: dict[str, Any] | None = None
        if kind < 0.2:
            path, category = "/", None
        elif kind < 0.5:
            category = rnd.choice(CATEGORIES)
            path = f"/c/{category}"
        else:
            product = dict(rnd.choice(filler.catalog))
            path = f"/p/{product['id']}"
            product["url"] = path
            category = product["category"]
        url = f"{SITE}{path}?{query}" if query else f"{SITE}{path}"
        # Visit._count_page_view
        record, new_session = record_pageview(
            record, now=now, page_url=url, page_path=path, utm_campaign=utm.get("campaign")
        )
        if new_session:
            record["session"]["referrer"] = dict(referrer)
            record["session"]["utm"] = dict(utm)
        apply_event(
            record,
            "page_view",
            None,
            None,
            now=now,
            session_id=None,
            half_life_days=HALF_LIFE_DAYS,
        )
        session_id = record["session"]["id"]
        if product is not None:
            apply_event(
                record,
                "product_view",
                None,
                product,
                now=now,
                session_id=session_id,
                half_life_days=HALF_LIFE_DAYS,
                note_category=False,
            )
        if category is not None:
            note_interest(record, category, now, HALF_LIFE_DAYS)
        decisions = rnd.choice(filler.pool)
        note_decisions(record, decisions, path=path, tier="full", now=now)
        self.record = record
        await self.save()
        # The snippet reports an impression for each campaign shown, a request of its own.
        for decision in decisions.values():
            if decision.campaign is not None:
                kind_of = "click" if rnd.random() < 0.05 else "impression"
                _record_response(
                    record, filler.engine, kind_of, decision.campaign, decision.variant
                )
                await self.save()

    async def event(self, name: str, now: float) -> None:
        session = self.record.get("session")
        session_id = session.get("id") if isinstance(session, dict) else None
        apply_event(
            self.record,
            name,
            None,
            None,
            now=now,
            session_id=session_id,
            half_life_days=HALF_LIFE_DAYS,
        )
        await self.save()

    async def shop(self, now: float) -> None:
        """Fill a cart, usually buy it (now and then start a new one), and log in."""
        rnd, record = self.filler.rnd, self.record
        session_id = record["session"]["id"]
        for _ in range(rnd.randint(1, 4)):
            product = {**rnd.choice(self.filler.catalog), "quantity": rnd.randint(1, 2)}
            product["url"] = f"/p/{product['id']}"
            apply_event(
                record,
                "add_to_cart",
                None,
                product,
                now=now,
                session_id=session_id,
                half_life_days=HALF_LIFE_DAYS,
            )
            await self.save()
            now += rnd.uniform(20, 120)
        # Visit.identify
        record["customer"] = {"id": f"C-{rnd.randint(100_000, 999_999)}"}
        await self.save()
        if rnd.random() < 0.7:
            apply_event(
                record,
                "purchase",
                {},
                None,
                now=now,
                session_id=session_id,
                half_life_days=HALF_LIFE_DAYS,
            )
            await self.save()
            if rnd.random() < 0.3:
                product = {**rnd.choice(self.filler.catalog), "quantity": 1}
                apply_event(
                    record,
                    "add_to_cart",
                    None,
                    product,
                    now=now + 600,
                    session_id=session_id,
                    half_life_days=HALF_LIFE_DAYS,
                )
                await self.save()


def _rss_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _encoded_shares(store: MemoryStore) -> dict[str, Any]:
    """Mean encoded bytes per record, per kind of visitor and per top-level field."""
    dump = store.dump()
    per_field: dict[str, int] = {}
    kinds: dict[str, list[int]] = {"one visit": [], "returning": [], "shopper": []}
    total = 0
    for data in dump.values():
        total += len(data)
        record = decode_record(data) or {}
        for key, value in record.items():
            # The field's share: its key, its value, and its comma.
            per_field[key] = per_field.get(key, 0) + len(encode_record({key: value})) - 1
        if "orders" in record or "cart" in record:
            kinds["shopper"].append(len(data))
        elif isinstance(record.get("visits"), int) and record["visits"] > 1:
            kinds["returning"].append(len(data))
        else:
            kinds["one visit"].append(len(data))
    count = max(1, len(dump))
    return {
        "encoded_mean": total / count,
        "encoded_by_kind": {k: (sum(v) / len(v) if v else 0.0) for k, v in kinds.items()},
        "visitors_by_kind": {k: len(v) for k, v in kinds.items()},
        "encoded_by_field": {
            k: v / count for k, v in sorted(per_field.items(), key=lambda kv: -kv[1])
        },
    }


def child_rss(visitors: int) -> dict[str, Any]:
    """In a fresh process: RSS before and after filling the store, then the encoded sizes."""
    # The packed profiles alone: the hot tier's JSON is bounded and counted apart (hot_tier).
    store = MemoryStore(max_profiles=max(100_000, visitors), max_hot=0)
    filler = Filler(store)
    asyncio.run(filler.fill(min(visitors, 50)))  # warm every code path and lazy cache
    asyncio.run(store.close())
    gc.collect()
    before = _rss_bytes()
    asyncio.run(filler.fill(visitors))
    gc.collect()
    after = _rss_bytes()
    stored = len(store)
    return {
        "stored": stored,
        "writes": filler.writes,
        "rss_before": before,
        "rss_after": after,
        "rss_per_profile": (after - before) / max(1, stored),
        **_encoded_shares(store),
    }


def _place(frame_file: str, line: int) -> str:
    path = Path(frame_file)
    parts = path.parts
    for anchor in ("opmaat", "opmaat_edge", "cachetools", "bench"):
        if anchor in parts:
            return f"{'/'.join(parts[parts.index(anchor) :])}:{line}"
    return f"{path.name}:{line}"


def _encode_lines() -> tuple[str, range]:
    """Where the memory store packs a record: its file and lines (the stored bytes are
    allocated there)."""
    code = store_module._pack.__code__
    last = max((line for _, _, line in code.co_lines() if line is not None), default=0)
    return code.co_filename, range(code.co_firstlineno, last + 1)


def child_tracemalloc(visitors: int) -> dict[str, Any]:
    """In a fresh process: bytes tracemalloc traces before and after filling the store, the
    lines that allocated what stays, and how much of it holds the encoded records."""
    store = MemoryStore(max_profiles=max(100_000, visitors), max_hot=0)
    filler = Filler(store)
    asyncio.run(filler.fill(min(visitors, 50)))
    asyncio.run(store.close())
    gc.collect()
    tracemalloc.start()
    before_snapshot = tracemalloc.take_snapshot()
    before = tracemalloc.get_traced_memory()[0]
    asyncio.run(filler.fill(visitors))
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    after_snapshot = tracemalloc.take_snapshot()
    tracemalloc.stop()
    stored = len(store)
    per = max(1, stored)
    lines: dict[str, float] = {}
    encode_file, encode_lines = _encode_lines()
    encoded_allocated = 0
    for stat in after_snapshot.compare_to(before_snapshot, "lineno"):
        if stat.size_diff <= 0:
            continue
        frame = stat.traceback[0]
        place = _place(frame.filename, frame.lineno)
        lines[place] = lines.get(place, 0.0) + stat.size_diff / per
        if frame.filename == encode_file and frame.lineno in encode_lines:
            encoded_allocated += stat.size_diff
    top = dict(sorted(lines.items(), key=lambda kv: -kv[1])[:8])
    # What the store keeps: the record's JSON packed with zlib.
    encoded = sum(len(packed) for packed, _ in store._data.values())
    # What a record kept decoded (MemoryStore.adopt) takes: the dicts of up to 1,000 of them.
    sample = [store_module._unpack(packed) for packed, _ in list(store._data.values())[:1000]]
    gc.collect()
    tracemalloc.start()
    decoded = [decode_record(data) for data in sample]
    decoded_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del decoded
    return {
        "traced_visitors": stored,
        "traced_per_profile": (after - before) / per,
        "traced_by_line": top,
        # What the stored bytes objects take (their allocations), against their length.
        "encoded_allocated_per_profile": encoded_allocated / per,
        "encoded_length_per_profile": encoded / per,
        "decoded_per_record": decoded_bytes / max(1, len(sample)),
    }


def _child(mode: str, visitors: int) -> subprocess.Popen[str]:
    root = Path(__file__).resolve().parent.parent
    return subprocess.Popen(
        [sys.executable, "-m", "bench.memory", "--child", mode, str(visitors)],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )


def run(visitors: int = 100_000, traced_visitors: int = TRACED_VISITORS) -> dict[str, Any]:
    """Bytes per stored profile: resident (RSS) and traced (tracemalloc, on at most
    `traced_visitors`: tracing makes the fill 7 times slower), each measured in a fresh process
    (both run at once), beside the mean encoded record and where its bytes go."""
    children = {
        "rss": _child("rss", visitors),
        "tracemalloc": _child("tracemalloc", min(visitors, traced_visitors)),
    }
    results: dict[str, dict[str, Any]] = {}
    for mode, child in children.items():
        out, _ = child.communicate()
        if child.returncode != 0:
            raise RuntimeError(f"the memory benchmark's {mode} process failed")
        results[mode] = json.loads(out)
    rss, traced = results["rss"], results["tracemalloc"]
    return {
        **rss,
        **traced,
        # The memory store's hot tier: at most HOT_RECORDS records as plain JSON, on top of
        # their packed copies' share above.
        "hot_tier": HOT_RECORDS * (rss["encoded_mean"] - traced["encoded_length_per_profile"]),
        # And at most DECODED_RECORDS of those also as the dicts a request handed back.
        "decoded_tier": DECODED_RECORDS * traced["decoded_per_record"],
        # Besides the stored bytes objects: keys, tuples, the TLRUCache's bookkeeping.
        "overhead_per_profile": traced["traced_per_profile"]
        - traced["encoded_allocated_per_profile"],
        "budget": BUDGET,
    }


def _print(result: dict[str, Any]) -> None:
    print(
        f"memory store, {result['stored']} stored profiles ({result['writes']} writes): "
        f"{result['rss_per_profile']:.0f} bytes resident per profile (budget {BUDGET})"
    )
    print(
        f"memory store, hot tier: at most {HOT_RECORDS:,} records as plain JSON, "
        f"{result['hot_tier'] / 2**20:.1f} MiB beyond their packed copies (bounded, apart from "
        "the per-profile figures)"
    )
    print(
        f"memory store, decoded records: at most {DECODED_RECORDS:,} kept as dicts, "
        f"{result['decoded_tier'] / 2**20:.1f} MiB ({result['decoded_per_record']:,.0f} B each; "
        "bounded, apart from the per-profile figures)"
    )
    print(
        f"memory store, tracemalloc over {result['traced_visitors']} profiles: "
        f"{result['traced_per_profile']:.0f} bytes per profile"
    )
    print(
        f"memory store, encoded record: mean {result['encoded_mean']:.0f} bytes; its bytes "
        f"objects take {result['encoded_allocated_per_profile']:.0f} bytes per profile for "
        f"{result['encoded_length_per_profile']:.0f} bytes of packed JSON; keys, tuples and the "
        f"cache's bookkeeping {result['overhead_per_profile']:.0f}"
    )
    by_kind = result["encoded_by_kind"]
    counts = result["visitors_by_kind"]
    print(
        "memory store, encoded record by visitor: "
        + ", ".join(f"{k} {by_kind[k]:.0f} bytes ({counts[k]})" for k in by_kind)
    )
    fields = result["encoded_by_field"]
    print(
        "memory store, encoded bytes per profile by field: "
        + ", ".join(f"{k} {v:.0f}" for k, v in list(fields.items())[:8])
    )
    print(
        "memory store, traced bytes per profile by line: "
        + ", ".join(f"{k} {v:.0f}" for k, v in result["traced_by_line"].items())
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        measure = child_rss if sys.argv[2] == "rss" else child_tracemalloc
        print(json.dumps(measure(int(sys.argv[3]))))
    else:
        _print(run(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
