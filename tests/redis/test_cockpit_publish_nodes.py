"""Two real edge processes on one real Redis, each with its own copy of the campaign file: a
draft saved on one node is published from the other, every node serves it within the reload
interval, both see one history and one audit log, a restore goes back everywhere, and
visitors get no 5xx meanwhile."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.cookiejar import CookieJar
from pathlib import Path

import pytest

from opmaat_edge import user_cli
from opmaat_edge.cockpit.preview import AGENTS
from tests.edge.cockpit_helpers import PASSWORD, form_fields, replaced
from tests.redis.conftest import RedisServer
from tests.redis.test_nodes import CONFIG, Node

NEW_HERO = "<h2>Hallo {{ geo.city or 'there' }}!</h2>"


class Person:
    """A cockpit user's browser on one node (a cookie jar)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def open(self, path: str, form: list[tuple[str, str]] | None = None) -> tuple[int, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(self.node.url + path, data=data, timeout=10) as r:
                return int(r.status), r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def login(self, user: str) -> None:
        _, page = self.open("/cockpit/login")
        token = re.search(r'name="token" value="([^"]+)"', page)
        assert token is not None
        status, _ = self.open(
            "/cockpit/login", [("token", token.group(1)), ("user", user), ("password", PASSWORD)]
        )
        assert status == 200  # the redirect to the campaign list, followed


def hero(node: Node) -> str:
    body = json.dumps(
        {"slots": ["hero"], "url": "http://shop.example/", "referrer": "https://www.google.com/"}
    ).encode()
    request = urllib.request.Request(
        node.url + "/v1/decide",
        data=body,
        headers={"user-agent": AGENTS["desktop"], "content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as r:
        html: str = json.loads(r.read())["slots"]["hero"]["html"]
        return html


def until(node: Node, wanted: str, seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while hero(node) != wanted:
        assert time.monotonic() < deadline, f"{node.url} did not serve {wanted!r} in time"
        time.sleep(0.05)


@pytest.fixture
def two(redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[Node, Node, Path, Path]]:
    configs = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        config = folder / "campaigns.yaml"
        config.write_text(CONFIG.format(hero="<h2>Found us?</h2>"))
        configs.append(config)
    for role in ("editor", "publisher"):
        assert user_cli.add(str(configs[0]), redis_server.url, role, role, PASSWORD) == 0
    store = redis_server.url + "?timeout_ms=1000"  # a busy machine is no test of timeouts
    a, b = Node(configs[0], store), Node(configs[1], store)
    yield a, b, configs[0], configs[1]
    a.stop()
    b.stop()


def test_published_on_one_node_served_by_every_node_and_restored_everywhere(
    two: tuple[Node, Node, Path, Path],
) -> None:
    a, b, config_a, config_b = two
    assert hero(a) == hero(b) == "<h2>Found us?</h2>"
    statuses: list[int] = []
    stop = threading.Event()

    def visitors() -> None:
        while not stop.is_set():
            for node in (a, b):
                try:
                    hero(node)
                    statuses.append(200)
                except urllib.error.HTTPError as exc:
                    statuses.append(exc.code)

    traffic = threading.Thread(target=visitors)
    traffic.start()
    try:
        editor = Person(a)
        editor.login("editor")
        path = "/cockpit/campaigns/search-hero/edit"
        _, page = editor.open(path)
        form = replaced(form_fields(page, "form#editor"), variant__0__html=NEW_HERO)
        status, _ = editor.open(path, [*form, ("act", "save")])
        assert status == 200  # the draft's page, after the redirect

        publisher = Person(b)  # another node sees the same draft
        publisher.login("publisher")
        _, draft = publisher.open("/cockpit/drafts/search-hero")
        form = form_fields(draft, 'form[action="/cockpit/drafts/search-hero/publish"]')
        status, done = publisher.open("/cockpit/drafts/search-hero/publish", form)
        assert status == 200
        assert "Published as version 2" in done
        assert hero(b) == "<h2>Hallo there!</h2>"  # at once on the node that published
        until(a, "<h2>Hallo there!</h2>")  # within the other's reload interval
        assert NEW_HERO in config_b.read_text()

        _, versions = editor.open("/cockpit/versions")  # one history on every node
        assert re.search(r'data-version="2".*?publisher', versions, re.S)
        _, audit = editor.open("/cockpit/audit")
        assert 'data-action="publish"' in audit

        publisher_on_a = Person(a)
        publisher_on_a.login("publisher")
        _, one = publisher_on_a.open("/cockpit/versions/1")
        form = form_fields(one, 'form[action="/cockpit/versions/1/restore"]')
        status, _ = publisher_on_a.open("/cockpit/versions/1/restore", form)
        assert status == 200
        until(a, "<h2>Found us?</h2>")
        until(b, "<h2>Found us?</h2>")
        assert config_a.read_text() == CONFIG.format(hero="<h2>Found us?</h2>")
    finally:
        stop.set()
        traffic.join()
    assert statuses
    assert [s for s in statuses if s >= 500] == []
