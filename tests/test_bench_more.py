"""The evaluator, memory and snippet benchmarks run at tiny sizes and measure what they say."""

from __future__ import annotations

import asyncio
import gzip
import tracemalloc
from collections.abc import Coroutine
from typing import Any

import brotli  # type: ignore[import-untyped]
import pytest
from bench import evaluator, memory, snippet
from growthbook.core import evalCondition

from opmaat.conditions import compile_condition
from opmaat.history import recent_decisions
from opmaat.store import MemoryStore, decode_record
from opmaat_edge.snippet import GZIP_BUDGET, Snippet


def _done(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """The result of a coroutine that never waits (the memory store's methods)."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("the coroutine waited")


# Snippet -------------------------------------------------------------------------------------


def test_snippet_sizes_are_those_of_the_served_bytes() -> None:
    sizes = snippet.run()
    served = Snippet.load()
    assert sizes["raw"] == len(served.raw)
    assert sizes["gzip"] == len(served.gzipped)
    assert gzip.decompress(served.gzipped) == served.raw
    assert sizes["brotli"] == len(brotli.compress(served.raw, quality=11))
    assert 0 < sizes["brotli"] < sizes["gzip"] < sizes["raw"]
    assert sizes["budget"] == GZIP_BUDGET


# Condition evaluator -------------------------------------------------------------------------


def test_every_benchmark_condition_is_valid_and_tells_profiles_apart() -> None:
    profiles = evaluator.make_profiles()
    assert len(evaluator.CONDITIONS) >= 40
    assert len(profiles) == 20
    for name, condition in evaluator.CONDITIONS.items():
        check = compile_condition(condition, strict=True)  # raises on a typo or bad operand
        matching = sum(check(profile) for profile in profiles.values())
        assert 0 < matching < len(profiles), name


def test_profiles_are_seeded() -> None:
    assert evaluator.make_profiles(5) == evaluator.make_profiles(5)
    assert evaluator.make_profiles(5, seed=1) != evaluator.make_profiles(5, seed=2)


def test_disagreements_are_listed_and_left_out_of_the_timing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conditions = {
        "dutch": {"geo.country": "NL"},
        "mobile": {"device.type": "mobile"},
    }
    profiles = {
        "amsterdam phone": {"geo": {"country": "NL"}, "device": {"type": "mobile"}},
        "berlin desktop": {"geo": {"country": "DE"}, "device": {"type": "desktop"}},
    }

    def contrary_on_mobile(attributes: dict[str, Any], condition: dict[str, Any]) -> bool:
        answer = evalCondition(attributes, condition)
        return not answer if "device.type" in condition else answer

    monkeypatch.setattr(evaluator, "evalCondition", contrary_on_mobile)
    result = evaluator.run(rounds=1, number=2, conditions=conditions, profiles=profiles)
    assert result["cases"] == 2
    assert result["matching"] == 1  # "dutch" on the phone
    assert len(result["disagreements"]) == 2
    assert sorted(result["disagreements"]) == [
        ("mobile", "amsterdam phone", True, False),
        ("mobile", "berlin desktop", False, True),
    ]
    assert set(result["per_condition_ratio"]) == {"dutch"}


def test_evaluator_benchmark_runs_on_every_condition() -> None:
    profiles = evaluator.make_profiles(4)
    result = evaluator.run(rounds=1, number=2, profiles=profiles)
    total = len(evaluator.CONDITIONS) * len(profiles)
    assert result["cases"] + len(result["disagreements"]) == total
    assert result["ours_us"] > 0
    assert result["growthbook_us"] > 0
    assert result["ratio"] > 0
    assert result["lowest_ratio_condition"] in evaluator.CONDITIONS


# Memory --------------------------------------------------------------------------------------


def test_filler_writes_realistic_visitors_through_store_if() -> None:
    store = MemoryStore()
    filler = memory.Filler(store, seed=3)
    ids = [asyncio.run(filler.visitor()) for _ in range(200)]
    assert len(store) == len(set(ids)) == 200
    assert filler.writes > 3 * len(ids)  # a write per request, as the edge does
    records = [decode_record(data) or {} for data in store.dump().values()]
    one_visit = [r for r in records if r["visits"] == 1 and "cart" not in r]
    shoppers = [r for r in records if "cart" in r]
    assert 0.45 < len(one_visit) / len(records) < 0.75
    assert 0.03 < len(shoppers) / len(records) < 0.2
    for record in one_visit:
        assert 1 <= record["session"]["pageviews"] <= 3
    for record in shoppers:
        assert record["visits"] >= 2
        assert record["customer"]["id"].startswith("C-")
        assert record["events"]["add_to_cart"]
    returning = [r for r in records if r["visits"] > 1]
    assert all(len(recent_decisions(r)) <= 10 for r in records)
    assert sum(1 for r in returning if r.get("response")) > len(returning) / 2
    for record in returning:
        for entry in record.get("response", {}).values():
            assert entry["impressions"] + entry["clicks"] >= 1
            assert len(entry.get("seen", [])) <= entry["impressions"]


def test_memory_children_measure_what_they_filled() -> None:
    rss = memory.child_rss(30)
    assert rss["stored"] == 30
    assert rss["rss_after"] >= rss["rss_before"] > 0
    assert sum(rss["visitors_by_kind"].values()) == 30
    assert rss["encoded_mean"] == pytest.approx(sum(rss["encoded_by_field"].values()) + 1, abs=1)
    traced = memory.child_tracemalloc(30)
    assert traced["traced_visitors"] == 30
    assert traced["encoded_allocated_per_profile"] >= traced["encoded_length_per_profile"] > 0
    assert traced["traced_per_profile"] > traced["encoded_allocated_per_profile"]


def test_memory_benchmark_runs_in_fresh_processes() -> None:
    result = memory.run(visitors=20, traced_visitors=10)
    assert result["stored"] == 20
    assert result["traced_visitors"] == 10
    assert result["budget"] == 2048
    assert result["overhead_per_profile"] > 0


def test_the_memory_store_keeps_no_more_than_the_record_it_stores() -> None:
    """A stored record should cost about its encoded length plus a few hundred bytes of
    bookkeeping. Fails since 96aab5a: orjson.dumps returns a bytes object whose allocation is
    its whole output buffer (at least 4 KB, then powers of two), and MemoryStore.store_if
    keeps that object, so every profile holds about twice its JSON (store.py, encode_record)."""
    store = MemoryStore()
    for n in range(12):  # past the first resizes of the cache's dicts
        _done(store.store_if(f"warm-{n}", {"visits": n}, 60.0, None))
    record = {"visits": 2, "session": {"id": "abc123", "pageviews": 1, "pages": ["/"]}}
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        data = _done(store.store_if("visitor-1", record, 60.0, None))
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert data is not None
    assert len(data) < 100
    assert kept < len(data) + 1024, f"{kept} bytes kept for a {len(data)}-byte record"
