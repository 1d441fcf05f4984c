"""Redis and Redis Cluster keep the promises of every store (tests/sdk/store_contract.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from opmaat.redis_store import RedisStore
from opmaat.store import ProfileStore
from tests.redis.conftest import RedisServer
from tests.sdk import store_contract

Scenario = Callable[[ProfileStore, float], Awaitable[None]]


def run(url: str, scenario: Scenario) -> None:
    async def go() -> None:
        store = RedisStore.from_url(url + "?timeout_ms=1000")
        try:
            await store.client.flushall()
            await scenario(store, 1.0)  # Redis keeps things whole seconds
            assert store.errors == 0
        finally:
            await store.close()

    asyncio.run(go())


@pytest.mark.parametrize("scenario", store_contract.SHARED, ids=lambda s: s.__name__)
def test_single_server(scenario: Scenario, redis_server: RedisServer) -> None:
    run(redis_server.url, scenario)


@pytest.mark.parametrize(
    "scenario",
    [store_contract.listing, store_contract.counters],
    ids=lambda s: s.__name__,
)
def test_cluster(scenario: Scenario, redis_cluster: str) -> None:
    run(redis_cluster, scenario)
