"""Benchmark: building a returning visitor's profile with warm caches (target: median ≤ 50 µs)."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime

from opmaat.consent import Consent
from opmaat.context import GeoReader
from opmaat.profile import ContextBuilder, RequestFacts, build_profile
from opmaat.visits import record_pageview
from opmaat_edge.resources import DEMO_GEO

HEADERS = {
    "user-agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "x-forwarded-for": "203.0.113.7",
    "accept-language": "nl-NL,nl;q=0.9",
}
URL = "https://shop.example/c/running?utm_source=news&utm_medium=email&utm_campaign=autumn"
REFERRER = "https://www.google.nl/search?q=trail+shoes"


def build_once(builder: ContextBuilder, record: dict[str, object], now: datetime) -> object:
    facts = RequestFacts(
        peer="127.0.0.1",
        headers=HEADERS,
        page_url=URL,
        referrer=REFERRER,
        page_meta={"category": "running"},
        now=now,
    )
    context = builder.build(facts)
    rec, _ = record_pageview(
        record,
        now=now.timestamp(),
        page_url=URL,
        page_path=context["page"]["path"],
        utm_campaign=context["utm"].get("campaign"),
    )
    return build_profile(context, rec, visitor_id="v-123", consent=Consent("full"))


def run(runs: int = 20_000) -> float:
    """Median µs to build one profile (context from the request joined with the record)."""
    builder = ContextBuilder(
        geo=GeoReader(DEMO_GEO), trusted_proxies=["127.0.0.1"], site_hosts=["shop.example"]
    )
    now = datetime.now(UTC)
    record: dict[str, object] = {}
    for _ in range(100):
        build_once(builder, record, now)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        build_once(builder, record, now)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


if __name__ == "__main__":
    print(f"profile build, returning visitor, warm caches: median {run():.1f} µs")
