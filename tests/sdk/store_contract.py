"""What every ProfileStore does, as scenarios any store can be put through: the memory and
SQLite stores here (tests/sdk/test_store_contract.py), Redis and Redis Cluster in
tests/redis/test_redis_contract.py. ``brief`` is the shortest time a store keeps something
(Redis counts whole seconds)."""

from __future__ import annotations

import asyncio

from opmaat.store import (
    HELD_BACK,
    MAX_SCOPE_VISITORS,
    TALLY_FIELDS,
    ProfileStore,
    SharedConfig,
    tally_day,
)
from tests.sdk.test_concurrent_saves import two_at_once
from tests.sdk.test_store_expiring import expiring_values

ZERO = dict.fromkeys(TALLY_FIELDS, 0)


async def round_trip(store: ProfileStore, brief: float) -> None:
    assert await store.get("v1") is None
    record = {"visits": 2, "interests": {"running": [1.0, 5]}, "name": "Zoë 🏃"}
    assert await store.store_if("v1", record, 60, None) is not None
    record["visits"] = 99  # the caller's dict is not the stored one
    got = await store.get("v1")
    assert got == {"visits": 2, "interests": {"running": [1.0, 5]}, "name": "Zoë 🏃"}
    assert got is not None
    got["visits"] = 5
    assert (await store.get("v1")) == {**got, "visits": 2}
    assert await store.delete("v1")
    assert await store.get("v1") is None
    assert not await store.delete("v1")


async def compare_and_set(store: ProfileStore, brief: float) -> None:
    assert await store.store_if("v", {"a": 1}, 60, None) is not None
    assert await store.store_if("v", {"a": 2}, 60, None) is None  # someone wrote first
    record, token = await store.load("v")
    assert record == {"a": 1}
    assert await store.store_if("v", {"a": 3}, 60, token) is not None
    assert await store.store_if("v", {"a": 4}, 60, token) is None  # the token is stale now
    assert await store.get("v") == {"a": 3}
    assert await store.load("absent") == (None, None)
    assert await store.store_if("absent", {"a": 1}, 60, b"something") is None
    # Two requests of one visitor at once keep both page views (replayed on conflict).
    record = await two_at_once(store)
    assert record["session"]["pageviews"] == 3  # type: ignore[index]
    assert set(record["interests"]) == {"running", "cycling"}  # type: ignore[arg-type]


async def expiry(store: ProfileStore, brief: float) -> None:
    await store.store_if("short", {"a": 1}, brief, None)
    await store.store_if("long", {"b": 2}, 60, None)
    await asyncio.sleep(brief + 0.15)
    assert await store.get("short") is None
    assert await store.load("short") == (None, None)
    assert await store.get("long") == {"b": 2}
    assert "short" not in {visitor async for visitor, _, _ in store.profiles()}
    assert not await store.delete("short")
    # Gone is absent: a new profile may start under the id.
    assert await store.store_if("short", {"a": 2}, 60, None) is not None
    assert await store.get("short") == {"a": 2}


async def tallies(store: ProfileStore, brief: float) -> None:
    for _ in range(3):
        await store.tally("hero-a", "b", "impressions")
    await store.tally("hero-a", "b", "clicks")
    await store.tally("hero-a", None, "conversions")
    await store.tally("other", "a", "visitors")
    for channel in ("email", "email", "app"):
        await store.tally(HELD_BACK, channel, "held_back")
    found = await store.tallies(["hero-a", "never-shown", HELD_BACK])
    assert found == {
        "hero-a": {"b": {**ZERO, "impressions": 3, "clicks": 1}, "-": {**ZERO, "conversions": 1}},
        "never-shown": {},
        HELD_BACK: {"email": {**ZERO, "held_back": 2}, "app": {**ZERO, "held_back": 1}},
    }
    daily = await store.daily_tallies(["hero-a", "never-shown"], days=3)
    assert daily == {"hero-a": {tally_day(): found["hero-a"]}, "never-shown": {}}


async def shared_config(store: ProfileStore, brief: float) -> None:
    """Only for stores that several processes share (the memory store shares nothing)."""
    assert await store.shared_config() is None
    await store.share_config(SharedConfig("abc123", "campaigns: []\n", 1700000000.5))
    assert await store.shared_config() == SharedConfig("abc123", "campaigns: []\n", 1700000000.5)
    await store.share_config(SharedConfig("def456", "slots: {}\n", 1700000001.0))
    assert await store.shared_config() == SharedConfig("def456", "slots: {}\n", 1700000001.0)


async def pauses(store: ProfileStore, brief: float) -> None:
    assert await store.paused() == set()
    await store.set_paused("sale", True)
    await store.set_paused("promo", True)
    await store.set_paused("sale", True)
    await store.set_paused("sale", False)
    await store.set_paused("never-paused", False)
    assert await store.paused() == {"promo"}


async def scopes(store: ProfileStore, brief: float) -> None:
    assert await store.note_visitor("purl:a", "v1", 60) == 1
    assert await store.note_visitor("purl:a", "v2", 60) == 2
    assert await store.note_visitor("purl:a", "v1", 60) == 2
    assert await store.note_visitor("purl:b", "v1", 60) == 1
    await store.forget_visitor("purl:a", "v1")
    await store.forget_visitor("purl:a", "never-there")
    assert await store.note_visitor("purl:a", "v3", 60) == 2
    await store.note_visitor("purl:brief", "v1", brief)
    await asyncio.sleep(brief + 0.15)
    assert await store.note_visitor("purl:brief", "v2", 60) == 1  # the old list expired
    for n in range(MAX_SCOPE_VISITORS + 5):
        count = await store.note_visitor("purl:big", f"v{n}", 60)
    assert count == MAX_SCOPE_VISITORS


async def expiring(store: ProfileStore, brief: float) -> None:
    await expiring_values(store, brief)


async def counters(store: ProfileStore, brief: float) -> None:
    assert [await store.bump("new:198.51.100.7", 60) for _ in range(3)] == [1, 2, 3]
    assert await store.bump("new:2001:db8::/64", 60) == 1
    assert await store.bump("brief", brief) == 1
    assert await store.bump("brief", brief) == 2  # the time counts from the first
    await asyncio.sleep(brief + 0.15)
    assert await store.bump("brief", brief) == 1
    assert await store.bump("new:198.51.100.7", 60) == 4
    assert await store.get("new:198.51.100.7") is None  # apart from visitor records


async def listing(store: ProfileStore, brief: float) -> None:
    """``profiles()`` yields every live profile once (more than one page of them)."""
    assert [p async for p in store.profiles()] == []
    for n in range(1234):
        await store.store_if(f"visitor-{n:04}", {"n": n}, 3600 if n % 2 else 60, None)
    await store.store_if("gone", {"n": -1}, 60, None)
    await store.delete("gone")
    seen = {visitor: (record, ttl) async for visitor, record, ttl in store.profiles()}
    assert set(seen) == {f"visitor-{n:04}" for n in range(1234)}
    for n in (0, 1, 1233):
        record, ttl = seen[f"visitor-{n:04}"]
        assert record == {"n": n}
        # The time it has left (SQLite rounds a profile's expiry up, by a sixteenth at most).
        assert (3500 if n % 2 else 50) < ttl <= (3600 if n % 2 else 60) * 17 / 16


GENERIC = (
    round_trip,
    compare_and_set,
    expiry,
    tallies,
    pauses,
    scopes,
    expiring,
    counters,
    listing,
)
SHARED = (*GENERIC, shared_config)
