"""Cockpit sessions on Redis: one logout ends a session on every node at once and for good;
expiring values on a single server and on a cluster."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from opmaat.redis_store import RedisStore
from opmaat_edge.app import create_app
from opmaat_edge.resources import DEMO_CAMPAIGNS
from opmaat_edge.settings import EdgeSettings
from tests.edge.test_cockpit import PASSWORD, csrf, login
from tests.redis.conftest import RedisServer
from tests.sdk.test_store_expiring import expiring_values

COOKIE = "opmaat_cockpit"


def test_expiring_values_on_one_server(redis_server: RedisServer) -> None:
    async def scenario() -> None:
        store = RedisStore.from_url(redis_server.url)
        try:
            await expiring_values(store, 1)
            await store.put_expiring("s", "live", 3600)
            assert 3590 < await store.client.ttl("opmaat:expiring:{s}") <= 3600
        finally:
            await store.close()

    asyncio.run(scenario())


def test_expiring_values_on_a_cluster(redis_cluster: str) -> None:
    async def scenario() -> None:
        # The first call finds the cluster's slots: more than the default 100 ms on a busy host.
        store = RedisStore.from_url(redis_cluster + "?timeout_ms=2000")
        try:
            await expiring_values(store, 1)
            names = [f"cockpit-session:{n}" for n in range(20)]  # spread over the masters
            for name in names:
                await store.put_expiring(name, "live", 60)
            assert [await store.get_expiring(name) for name in names] == ["live"] * 20
        finally:
            await store.close()

    asyncio.run(scenario())


class Nodes:
    """Edge nodes on one Redis, started and stopped like processes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.running: list[TestClient] = []

    def start(self) -> TestClient:
        settings = EdgeSettings(
            config=str(DEMO_CAMPAIGNS),
            secret_keys=("cockpit-nodes-key-0123456789",),
            dev=True,
            # Back as soon as Redis is; a cockpit page reads 14 days of tallies at once, which
            # on a loaded machine can take longer than the default 100 ms a call.
            store=self.url + "?breaker_cooldown_s=0&timeout_ms=2000",
            cockpit_password=PASSWORD,
        )
        node = TestClient(create_app(settings), base_url="http://127.0.0.1")
        node.__enter__()
        self.running.append(node)
        return node

    def stop(self, node: TestClient) -> None:
        self.running.remove(node)
        node.__exit__(None, None, None)


@pytest.fixture
def nodes(redis_server: RedisServer) -> Iterator[Nodes]:
    started = Nodes(redis_server.url)
    yield started
    for node in list(started.running):
        started.stop(node)


def logged_in(node: TestClient, cookie: str) -> bool:
    node.cookies.set(COOKIE, cookie, path="/cockpit")
    return node.get("/cockpit", follow_redirects=False).status_code == 200


def test_a_logout_on_one_node_ends_the_session_on_every_node_and_after_restarts(
    nodes: Nodes,
) -> None:
    a, b = nodes.start(), nodes.start()
    assert login(a) == 303
    cookie = a.cookies.get(COOKIE)
    assert cookie
    assert logged_in(b, cookie)  # one session, every node
    # Sessions outlive a restart of every node.
    nodes.stop(b)
    b = nodes.start()
    assert logged_in(b, cookie)
    assert a.post("/cockpit/logout", data={"csrf": csrf(a)}).status_code == 200
    assert not logged_in(b, cookie)  # at once, on the other node too
    nodes.stop(a)
    nodes.stop(b)
    assert not logged_in(nodes.start(), cookie)  # and nothing brings it back


def test_with_redis_down_the_cockpit_answers_503_and_lets_nobody_in(
    nodes: Nodes, redis_server: RedisServer
) -> None:
    node = nodes.start()
    login(node)
    cookie = node.cookies.get(COOKIE)
    assert cookie
    redis_server.stop()
    for path in ("/cockpit", "/cockpit/preview", "/cockpit/login"):
        answer = node.get(path, follow_redirects=False)
        assert answer.status_code == (200 if path == "/cockpit/login" else 503)
        assert "cannot reach its store" in answer.text or path == "/cockpit/login"
    assert login(node) == 503  # the password is right, but the session cannot be kept
    fresh = nodes.start()
    fresh.cookies.set(COOKIE, cookie, path="/cockpit")
    assert fresh.get("/cockpit", follow_redirects=False).status_code == 503
    redis_server.start()  # empty: it kept nothing on disk, so the session is gone
    assert fresh.get("/cockpit", follow_redirects=False).status_code == 303
