"""A pause in one node's cockpit reaches every node on the same Redis, and outlives restarts."""

from __future__ import annotations

import re
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from tests.redis.conftest import RedisServer
from tests.redis.test_nodes import CONFIG, Browser, Node

PASSWORD = "a cockpit password for the nodes"


class Marketer:
    """One cockpit user: a cookie jar, logged in on one node."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def get(self, path: str) -> str:
        with self.opener.open(self.node.url + path, timeout=5) as r:
            return str(r.read().decode())

    def post(self, path: str, form: dict[str, str]) -> int:
        data = urllib.parse.urlencode(form).encode()
        with self.opener.open(self.node.url + path, data=data, timeout=5) as r:
            return int(r.status)

    def login(self) -> None:
        page = self.get("/cockpit/login")
        token = re.search(r'name="token" value="([^"]+)"', page)
        assert token is not None
        self.post("/cockpit/login", {"token": token.group(1), "password": PASSWORD})

    @classmethod
    def logged_in(cls, node: Node) -> Marketer:
        marketer = cls(node)
        marketer.login()
        return marketer

    def set_paused(self, campaign: str, paused: bool) -> None:
        found = re.search(r'name="csrf" value="([^"]+)"', self.get("/cockpit"))
        assert found is not None
        verb = "pause" if paused else "resume"
        assert self.post(f"/cockpit/campaigns/{campaign}/{verb}", {"csrf": found.group(1)}) == 200


@pytest.fixture
def two(redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[Node, Node, Path]]:
    config = tmp_path / "campaigns.yaml"
    config.write_text(CONFIG.format(hero="<h2>Found us?</h2>"))
    env = {"OPMAAT_COCKPIT_PASSWORD": PASSWORD}
    a = Node(config, redis_server.url, env=env)
    b = Node(config, redis_server.url, env=env)
    yield a, b, config
    a.stop()
    b.stop()


def hero(visitor: Browser, node: Node) -> str | None:
    campaign: str | None = visitor.decide(node)["hero"]["campaign"]
    return campaign


def wait_for(check: object, seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the other node did not follow in time"
        time.sleep(0.05)


def test_a_cockpit_pause_reaches_every_node_and_survives_restarts(
    two: tuple[Node, Node, Path], redis_server: RedisServer
) -> None:
    a, b, config = two
    visitor = Browser()
    assert hero(visitor, a) == hero(visitor, b) == "search-hero"
    marketer = Marketer(a)
    marketer.login()
    marketer.set_paused("search-hero", True)
    assert hero(visitor, a) is None  # at once on the node that paused it
    wait_for(lambda: hero(visitor, b) is None)  # within the other's reload interval
    # Both restart: the pause is in Redis.
    a.stop()
    b.stop()
    again = Node(config, redis_server.url, env={"OPMAAT_COCKPIT_PASSWORD": PASSWORD})
    try:
        wait_for(lambda: hero(visitor, again) is None)
        assert 'data-status="paused"' in Marketer.logged_in(again).get("/cockpit")
        Marketer.logged_in(again).set_paused("search-hero", False)
        assert hero(visitor, again) == "search-hero"
    finally:
        again.stop()
    # The fixture stops a and b again: harmless.
    a.proc.wait()
    b.proc.wait()
