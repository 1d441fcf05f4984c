"""Recommendations on a real Redis: two nodes share what they learn, with the same decay and
bounds as the memory store."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from opmaat.recommend import ModelSettings, Recommender, RedisModelStore, Visitor
from opmaat.recommend.model import Update
from opmaat.recommend.store import MemoryModelStore
from tests.redis.conftest import RedisServer, free_port
from tests.sdk.recommend.shop import DAY, FEED, NOW, ids, order, view


def node(url: str, now: list[float], settings: ModelSettings | None = None) -> Recommender:
    store = RedisModelStore(Redis.from_url(url), settings, prefix="t", timeout=2.0)
    return Recommender(FEED, store, clock=lambda: now[0])


def test_two_nodes_learn_from_each_other(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        now = [NOW]
        a, b = node(redis_server.url, now), node(redis_server.url, now)
        try:
            assert await a.learn(view("road", "trail", city="Utrecht"))
            assert await b.refresh()
            items = b.recommend("viewed-together", Visitor(viewed=("trail",)), 2)
            assert ids(items)[0] == "road"
            assert items[0].reason == "people who viewed Trail Runner 3 also viewed this"
            near = b.recommend("popular", Visitor(city="Utrecht"), 1)
            assert ids(near) == ["road"]

            assert await b.learn(order("trail", "socks", viewed=("road",)))
            now[0] += 5
            assert await a.refresh()  # only what changed since its last read
            assert a.snapshot.cursor is not None
            bought = a.recommend("bought-together", Visitor(), 2, ["trail"])
            assert ids(bought)[0] == "socks"
            assert ids(a.recommend("viewed-then-bought", Visitor(viewed=("road",)), 2)) == [
                "trail",
                "socks",
            ]
        finally:
            await a.store.close()
            await b.store.close()

    asyncio.run(scenario())


def test_redis_decays_and_cuts_lists_as_the_memory_store_does(redis_server: RedisServer) -> None:
    settings = ModelSettings(keep=3, show=3, relation_half_life_days=10)
    updates = [
        (NOW, [Update("viewed", "x", f"m{i}", float(i + 1)) for i in range(4)]),
        (NOW + 20 * DAY, [Update("viewed", "x", "m9", 2.0)]),
        (NOW + 21 * DAY, [Update("viewed", "x", "m0", 0.25), Update("popular", "all", "m0", 1)]),
    ]

    async def scenario() -> None:
        redis = RedisModelStore(Redis.from_url(redis_server.url), settings, prefix="t")
        memory = MemoryModelStore(settings)
        try:
            for at, batch in updates:
                await redis.add(batch, at)
                await memory.add(batch, at)
            later = NOW + 25 * DAY
            shared, local = await redis.read(None, later), await memory.read(None, later)
            assert set(shared.lists) == set(local.lists)
            for key, ranked in local.lists.items():
                assert [m for m, _ in shared.lists[key]] == [m for m, _ in ranked]
                for (_, got), (_, want) in zip(shared.lists[key], ranked, strict=True):
                    assert got == pytest.approx(want, rel=1e-9)
            assert await redis.client.zcard("t:rec:{viewed:x}") <= settings.cut_at("viewed", "x")
            assert 0 < await redis.client.ttl("t:rec:{viewed:x}") <= 100 * 86400
        finally:
            await redis.close()

    asyncio.run(scenario())


def test_an_unreachable_redis_costs_the_lesson_not_the_request() -> None:
    async def scenario() -> None:
        rec = node(f"redis://127.0.0.1:{free_port()}/0", [NOW])
        try:
            assert not await rec.learn(view("road", "trail"))
            assert not await rec.refresh()
            assert rec.recommend("popular", Visitor(), 4) == []
            assert rec.failures == 2
        finally:
            await rec.store.close()

    asyncio.run(scenario())


def test_nodes_share_through_a_redis_cluster(redis_cluster: str) -> None:
    async def scenario() -> None:
        url = redis_cluster.replace("redis-cluster://", "redis://")
        a, b = (
            Recommender(FEED, RedisModelStore(RedisCluster.from_url(url), prefix="t", timeout=2.0))
            for _ in range(2)
        )
        try:
            assert await a.learn(view("road", "trail"))
            assert await a.learn(order("trail", "socks"))
            assert await b.refresh()
            assert ids(b.recommend("viewed-together", Visitor(viewed=("trail",)), 1)) == ["road"]
            assert ids(b.recommend("bought-together", Visitor(), 1, ["trail"])) == ["socks"]
        finally:
            await a.store.close()
            await b.store.close()

    asyncio.run(scenario())


def test_a_long_popular_list_is_read_whole_page_by_page(redis_server: RedisServer) -> None:
    settings = ModelSettings(max_items=12_000)
    batch = [Update("popular", "all", f"p{i}", 1.0 + i) for i in range(11_000)]

    async def scenario() -> None:
        redis = RedisModelStore(Redis.from_url(redis_server.url), settings, timeout=5.0)
        try:
            await redis.add(batch, NOW)
            ranked = (await redis.read(None, NOW)).lists[("popular", "all")]
            assert len(ranked) == 11_000
            assert ranked[0][0] == "p10999"
            assert ranked[-1] == ("p0", 1.0)
        finally:
            await redis.close()

    asyncio.run(scenario())
