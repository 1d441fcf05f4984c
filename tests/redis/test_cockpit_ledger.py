"""The cockpit's ledger on Redis (a server and a cluster) keeps every ledger's promises
(tests/edge/ledger_contract.py): one history, one audit log and one set of users for every
node."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from opmaat.redis_store import RedisStore
from opmaat_edge.cockpit import ledger_redis
from opmaat_edge.cockpit.ledger import Ledger, open_ledger
from tests.edge import ledger_contract
from tests.edge.ledger_contract import Scenario
from tests.redis.conftest import RedisServer


def run(url: str, work: Callable[[Ledger, Ledger], Awaitable[None]]) -> None:
    async def go() -> None:
        one = RedisStore.from_url(url + "?timeout_ms=1000")
        two = RedisStore.from_url(url + "?timeout_ms=1000")
        try:
            await one.client.flushall()
            config = Path("campaigns.yaml")  # not read: Redis keeps it all
            await work(open_ledger(one, config), open_ledger(two, config))
        finally:
            await one.close()
            await two.close()

    asyncio.run(go())


@pytest.mark.parametrize("scenario", ledger_contract.SCENARIOS, ids=lambda s: s.__name__)
def test_a_redis_server(scenario: Scenario, redis_server: RedisServer) -> None:
    run(redis_server.url, lambda ledger, _: scenario(ledger))


@pytest.mark.parametrize("scenario", ledger_contract.SCENARIOS, ids=lambda s: s.__name__)
def test_a_redis_cluster(scenario: Scenario, redis_cluster: str) -> None:
    run(redis_cluster, lambda ledger, _: scenario(ledger))


def test_what_one_node_keeps_the_other_reads(redis_server: RedisServer) -> None:
    async def work(one: Ledger, two: Ledger) -> None:
        await ledger_contract.the_audit_log_numbers_pages_and_lists_every_entry(one)
        assert [e.id for e in await two.audit_entries(None, 2)] == [7, 6]

    run(redis_server.url, work)


def test_a_publish_on_one_node_makes_the_other_wait(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger_redis, "LOCK_WAIT_SECONDS", 0.3)
    run(redis_server.url, ledger_contract.a_held_publish_lock_times_out)
