"""Benchmark: the profile of `bench.visitor`'s returning visitor, as a decide request builds it:
the request's context (client address, geo, device, referrer, UTM, local time, page) joined with
the stored record and its derived sections, warm caches (target: median ≤ 50 µs)."""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench.visitor import Returning, returning_visitor


def build_once(visitor: Returning) -> dict[str, Any]:
    visit = visitor.visit
    context = visit.runtime.context.build(visitor.facts)
    # As a decision builds it: the sections the campaign file reads.
    return visit.profile(context, visitor.facts.now.timestamp(), visit.runtime.reads)


def run(runs: int = 20_000) -> float:
    """Median µs to build the returning visitor's profile."""
    visitor = returning_visitor()
    for _ in range(100):
        build_once(visitor)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        build_once(visitor)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


if __name__ == "__main__":
    print(f"profile build, returning visitor, warm caches: median {run():.1f} µs")
