"""Redis bounds profiles by its own memory limit: the edge says at start when it does not."""

from __future__ import annotations

import asyncio
import logging

import pytest
from starlette.testclient import TestClient

from opmaat.redis_store import RedisStore
from opmaat_edge.app import create_app
from opmaat_edge.resources import DEMO_CAMPAIGNS
from opmaat_edge.settings import EdgeSettings
from tests.redis.conftest import RedisServer


def warning_for(url: str, **config: str) -> str | None:
    async def check() -> str | None:
        store = RedisStore.from_url(url)
        try:
            for name, value in config.items():
                await store.client.config_set(name.replace("_", "-"), value)
            return await store.memory_warning()
        finally:
            await store.close()

    return asyncio.run(check())


def test_an_unbounded_redis_is_named(redis_server: RedisServer) -> None:
    found = warning_for(redis_server.url)
    assert found is not None
    assert "no maxmemory" in found


@pytest.mark.parametrize(
    ("policy", "words"),
    [("allkeys-lru", "may evict campaign tallies"), ("noeviction", "nothing new is kept")],
)
def test_a_policy_that_evicts_tallies_or_nothing_is_named(
    redis_server: RedisServer, policy: str, words: str
) -> None:
    found = warning_for(redis_server.url, maxmemory="64mb", maxmemory_policy=policy)
    assert found is not None
    assert words in found


def test_volatile_lru_with_a_limit_is_what_the_docs_ask_for(redis_server: RedisServer) -> None:
    assert warning_for(redis_server.url, maxmemory="64mb", maxmemory_policy="volatile-lru") is None


def test_the_edge_logs_it_at_start(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = EdgeSettings(
        config=str(DEMO_CAMPAIGNS), secret_keys=("k" * 32,), store=redis_server.url, dev=True
    )
    with caplog.at_level(logging.WARNING, logger="opmaat.edge"), TestClient(create_app(settings)):
        pass
    assert any("no maxmemory" in r.getMessage() for r in caplog.records)
