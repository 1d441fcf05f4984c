"""RedisStore against a real redis-server and a real three-master cluster."""

from __future__ import annotations

import asyncio
import time

import pytest

from opmaat.redis_store import CircuitBreaker, RedisStore, StoreUnavailable
from opmaat.store import DAILY_DAYS, TALLY_FIELDS, SharedConfig, open_store, tally_day
from tests.redis.conftest import RedisServer

ZERO = dict.fromkeys(TALLY_FIELDS, 0)


def exercise(url: str) -> None:
    async def scenario() -> None:
        store = RedisStore.from_url(url)
        try:
            assert await store.get("v1") is None
            await store.store_if("v1", {"visits": 2, "interests": {"running": [1.0, 5]}}, 60, None)
            assert await store.get("v1") == {"visits": 2, "interests": {"running": [1.0, 5]}}
            assert await store.delete("v1")
            assert await store.get("v1") is None
            assert not await store.delete("v1")
            for _ in range(3):
                await store.tally("hero-a", "b", "impressions")
            await store.tally("hero-a", "b", "clicks")
            await store.tally("hero-a", None, "conversions")
            tallies = await store.tallies(["hero-a", "never-shown"])
            assert tallies == {
                "hero-a": {
                    "b": {**ZERO, "impressions": 3, "clicks": 1},
                    "-": {**ZERO, "conversions": 1},
                },
                "never-shown": {},
            }
            # The same counts for today, in their own hash that expires.
            daily = await store.daily_tallies(["hero-a", "never-shown"], days=3)
            assert daily == {
                "hero-a": {tally_day(): tallies["hero-a"]},
                "never-shown": {},
            }
            day_key = f"opmaat:stats:{{hero-a}}:day:{tally_day()}"
            assert 0 < await store.client.ttl(day_key) <= DAILY_DAYS * 86400
            await store.append_event({"type": "click", "campaign": "hero-a", "visitor": "v1"})
            assert await store.shared_config() is None
            await store.share_config(SharedConfig("abc123", "campaigns: []\n", 1700000000.5))
            assert await store.shared_config() == SharedConfig(
                "abc123", "campaigns: []\n", 1700000000.5
            )
            await store.client.set("opmaat:{config}:shared", b"{not json")
            assert await store.shared_config() is None  # unreadable: as if none
            assert store.state == "ok"
        finally:
            await store.close()

    asyncio.run(scenario())


def test_single_server(redis_server: RedisServer) -> None:
    exercise(redis_server.url)


def test_cluster_of_three_masters(redis_cluster: str) -> None:
    exercise(redis_cluster)
    # One visitor's keys share a hash slot; campaigns spread over the cluster.
    store = RedisStore.from_url(redis_cluster)
    assert store._profile("visitor-1").count("{visitor-1}") == 1


def test_profiles_expire(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        store = RedisStore.from_url(redis_server.url)
        await store.store_if("short", {"a": 1}, 1, None)
        await store.store_if("long", {"a": 2}, 60, None)
        ttl = await store.client.ttl("opmaat:{long}:profile")
        assert 55 <= ttl <= 60
        await asyncio.sleep(1.2)
        assert await store.get("short") is None
        assert await store.get("long") == {"a": 2}
        await store.close()

    asyncio.run(scenario())


def test_the_event_stream_is_capped(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        store = RedisStore.from_url(redis_server.url + "?stream_maxlen=100")
        for i in range(2000):
            await store.append_event({"type": "impression", "n": str(i)})
        length = await store.client.xlen("opmaat:events")
        assert 100 <= length < 2000  # trimmed approximately, as XADD MAXLEN ~ does
        last = await store.client.xrevrange("opmaat:events", count=1)
        assert last[0][1] == {b"type": b"impression", b"n": b"1999"}
        await store.close()

    asyncio.run(scenario())


def test_a_dead_redis_opens_the_breaker_and_recovery_closes_it(
    redis_server: RedisServer,
) -> None:
    async def scenario() -> None:
        store = RedisStore(
            RedisStore.from_url(redis_server.url + "?timeout_ms=100").client,
            timeout=0.1,
            breaker=CircuitBreaker(failures=2, cooldown=0.5),
        )
        await store.store_if("v", {"a": 1}, 60, None)
        redis_server.stop()
        for _ in range(2):
            with pytest.raises(StoreUnavailable):
                await store.get("v")
        assert store.state == "degraded"
        started = time.monotonic()
        for _ in range(50):
            with pytest.raises(StoreUnavailable):
                await store.get("v")
        assert time.monotonic() - started < 0.05  # the open breaker answers at once
        redis_server.start()
        await asyncio.sleep(0.6)
        assert await store.get("v") is None  # a fresh server: the data did not survive
        assert store.state == "ok"
        await store.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://127.0.0.1:1/0?timeout_ms=abc", "must be numbers"),
        ("redis://127.0.0.1:1/0?colour=red", "unknown option"),
        ("redis://127.0.0.1:1/0?timeout_ms=0", "out of range"),
        ("postgres://x", "unknown store"),
        ("mongodb://x", "unknown store"),
    ],
)
def test_bad_store_urls_say_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_store(url)


def test_forgetting_a_visitor_removes_their_events_too(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        store = RedisStore.from_url(redis_server.url)
        await store.store_if("gone", {"visits": 1}, 60, None)
        for i in range(2500):  # more than one page of the purge
            who = "gone" if i % 3 == 0 else "stays"
            await store.append_event({"type": "impression", "visitor": who, "n": str(i)})
        assert await store.delete("gone")
        left = await store.client.xrange("opmaat:events")
        visitors = {fields[b"visitor"] for _, fields in left}
        assert visitors == {b"stays"}
        assert len(left) == 2500 - 834
        await store.close()

    asyncio.run(scenario())


def test_concurrent_requests_of_one_visitor_lose_nothing_on_redis(
    redis_server: RedisServer,
) -> None:
    from tests.sdk.test_concurrent_saves import two_at_once

    async def scenario() -> None:
        store = RedisStore.from_url(redis_server.url)
        record = await two_at_once(store)
        assert record["session"]["pageviews"] == 3  # type: ignore[index]
        assert set(record["interests"]) == {"running", "cycling"}  # type: ignore[arg-type]
        assert await store.store_if("x", {"a": 1}, 60, None) is not None
        assert await store.store_if("x", {"a": 2}, 60, None) is None
        _, token = await store.load("x")
        assert await store.store_if("x", {"a": 3}, 60, token) is not None
        assert await store.get("x") == {"a": 3}
        await store.close()

    asyncio.run(scenario())
