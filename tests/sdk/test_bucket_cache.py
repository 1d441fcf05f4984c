"""Bucket draws are kept per (seed, visitor), bounded, and stay GrowthBook's."""

from __future__ import annotations

from opmaat import bucketing
from opmaat.bucketing import bucket, choose_variant
from tests.sdk.test_bucketing import GROWTHBOOK_V2


def test_a_visitors_draw_is_hashed_once_and_the_cache_is_bounded() -> None:
    bucket.cache_clear()
    first = bucket("campaign-1", "visitor-1")
    assert bucket("campaign-1", "visitor-1") == first
    assert choose_variant("campaign-1", "visitor-1", [1, 1]) == (0 if first < 0.5 else 1)
    info = bucket.cache_info()
    assert (info.hits, info.misses) == (2, 1)
    for n in range(bucketing.BUCKET_CACHE + 10):
        bucket("campaign-1", f"visitor-{n}")
    assert bucket.cache_info().currsize == bucketing.BUCKET_CACHE


def test_kept_draws_are_growthbooks() -> None:
    bucket.cache_clear()
    for _ in range(2):  # drawn, then kept
        for seed, value, expected in GROWTHBOOK_V2:
            assert bucket(seed, value) == expected
