"""Two real edge processes sharing one real redis-server: one visitor, one profile, summed
tallies, campaigns shared, and Redis killed and restarted under traffic with no 5xx."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import pytest

from tests.redis.conftest import RedisServer, free_port

KEY = "nodes-test-signing-key-0123456789"
CONFIG = """\
site: {{name: Nodes, consent_default: full}}
slots:
  hero: {{default: "<h2>Welcome</h2>"}}
  sidebar: {{default: "<p>Free shipping</p>"}}
campaigns:
  - id: search-hero
    slot: hero
    audience: {{referrer.medium: search}}
    variants: [{{key: a, html: "{hero}"}}]
  - id: counter
    slot: sidebar
    variants:
      - {{key: a, html: "page {{{{ session.pageviews }}}} of visit {{{{ visitor.visits }}}}"}}
"""
GOOGLE = "https://www.google.com/search?q=tents"


class Node:
    def __init__(
        self,
        config: Path,
        store: str,
        *extra: str,
        env: dict[str, str] | None = None,
        log: Path | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "OPMAAT_SECRET_KEYS": KEY,
            "OPMAAT_RELOAD_INTERVAL": "0.25",
            **(env or {}),
        }
        self.log = log.open("wb") if log is not None else None
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "opmaat_edge.cli",
                "serve",
                "--config",
                str(config),
                "--store",
                store,
                "--port",
                str(self.port),
                "--dev",
                *extra,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log or subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the edge did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        if self.log is not None:
            self.log.close()


BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36"}


class Browser:
    """One visitor: a cookie jar shared by whatever node it talks to; counts every status."""

    def __init__(self) -> None:
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.statuses: list[int] = []

    def request(self, node: Node, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        # A browser's User-Agent: urllib's own ("Python-urllib") is a crawler's, which gets
        # the standard content and leaves nothing behind.
        req = urllib.request.Request(
            node.url + path, data=data, method="POST" if data else "GET", headers=BROWSER
        )
        try:
            with self.opener.open(req, timeout=5) as r:
                status, payload = r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as exc:
            status, payload = exc.code, None
        self.statuses.append(status)
        return status, payload

    def decide(self, node: Node) -> dict[str, Any]:
        body = {"slots": ["hero", "sidebar"], "url": "http://shop.example/", "referrer": GOOGLE}
        status, payload = self.request(node, "/v1/decide", body)
        assert status == 200
        slots: dict[str, Any] = payload["slots"]
        return slots


@pytest.fixture
def nodes(redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[Node, Node, Path]]:
    configs = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        config = folder / "campaigns.yaml"
        config.write_text(CONFIG.format(hero="<h2>Found us?</h2>"))
        configs.append(config)
    store = redis_server.url + "?timeout_ms=100&breaker_failures=2&breaker_cooldown_s=0.5"
    a = Node(configs[0], store)
    b = Node(configs[1], store)
    yield a, b, configs[0]
    a.stop()
    b.stop()


def test_two_nodes_share_one_visitor_tallies_and_campaigns(
    nodes: tuple[Node, Node, Path], redis_server: RedisServer
) -> None:
    a, b, config_a = nodes
    visitor = Browser()
    # One visitor alternating between the nodes keeps one profile.
    seen = [visitor.decide(node)["sidebar"]["html"] for node in (a, b, a, b, a, b)]
    assert seen == [f"page {n} of visit 1" for n in range(1, 7)]

    # Tallies from both nodes add up in one place; a token made on one node counts on another.
    shown = []
    for maker, node in ((a, a), (a, b), (b, b)):
        hero = visitor.decide(maker)["hero"]
        shown.append({k: hero[k] for k in ("slot", "campaign", "variant", "token")})
        status, _ = visitor.request(node, "/v1/events", {"type": "impression", **shown[-1]})
        assert status == 200
    # Clicked where its impression counted (each node remembers the tokens it counted).
    visitor.request(a, "/v1/events", {"type": "click", **shown[0]})
    stats = ["stats", "--config", str(config_a), "--store", redis_server.url]
    out = subprocess.run(
        [sys.executable, "-m", "opmaat_edge.cli", *stats],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(out)["search-hero"] == {
        "a": {
            "impressions": 3,
            "clicks": 1,
            "conversions": 1,
            "visitors": 1,
            "converted": 1,
            "held_back": 0,
        }
    }

    # A campaign file changed on node A only reaches node B within two seconds.
    config_a.write_text(CONFIG.format(hero="<h2>Spring sale</h2>"))
    started = time.monotonic()
    while visitor.decide(b)["hero"]["html"] != "<h2>Spring sale</h2>":
        assert time.monotonic() - started < 2.0, "node B did not take the new campaigns"
        time.sleep(0.05)
    assert visitor.decide(a)["hero"]["html"] == "<h2>Spring sale</h2>"

    # Pausing a campaign reaches both nodes within two seconds, and so does resuming it.
    for verb, wanted in (("pause", None), ("resume", "search-hero")):
        cli = [verb, "search-hero", "--config", str(config_a), "--store", redis_server.url]
        subprocess.run([sys.executable, "-m", "opmaat_edge.cli", *cli], check=True)
        started = time.monotonic()
        while {visitor.decide(n)["hero"]["campaign"] for n in (a, b)} != {wanted}:
            assert time.monotonic() - started < 2.0, f"{verb} did not reach both nodes"
            time.sleep(0.05)
    assert 500 not in visitor.statuses


def test_redis_killed_and_restarted_under_traffic(
    nodes: tuple[Node, Node, Path], redis_server: RedisServer
) -> None:
    a, b, _ = nodes
    visitor = Browser()
    visitor.decide(a)
    redis_server.stop()
    # Redis is gone: every answer is still a 200, decided from the request alone.
    started = time.monotonic()
    for i in range(40):
        slots = visitor.decide(a if i % 2 else b)
        assert slots["hero"]["campaign"] == "search-hero"
    per_request = (time.monotonic() - started) / 40
    assert per_request < 0.1  # the breaker spares most requests the timeout
    health = json.loads(urllib.request.urlopen(a.url + "/healthz", timeout=2).read())
    assert health["status"] == "degraded"
    assert health["store"]["state"] == "degraded"
    redis_server.start()
    deadline = time.monotonic() + 10
    while True:
        visitor.decide(a)
        health = json.loads(urllib.request.urlopen(a.url + "/healthz", timeout=2).read())
        if health["status"] == "ok":
            break
        assert time.monotonic() < deadline, "node A did not recover"
        time.sleep(0.2)
    # Recovered: the profile is kept again across nodes (a new one: the old Redis had no disk).
    before = visitor.decide(b)["sidebar"]["html"]
    after = visitor.decide(a)["sidebar"]["html"]
    assert int(after.split()[1]) == int(before.split()[1]) + 1
    assert [s for s in visitor.statuses if s >= 500] == []
