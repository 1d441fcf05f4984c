"""Two real edge processes on one real redis-server: a product view learned on node A is
recommended to a visitor of node B (the nodes share what they learn)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis.conftest import RedisServer
from tests.redis.test_nodes import Browser, Node

FEED = "id,name,url,category\ntent,Dome tent,/p/tent,outdoor\nmat,Sleeping mat,/p/mat,outdoor\n"
CONFIG = """\
site: {name: Nodes, consent_default: full}
recommendations:
  feed: feed.csv
  serendipity: 0
slots:
  related: {default: ""}
campaigns:
  - id: related
    slot: related
    variants:
      - key: a
        html: "{% for i in recommendations('viewed-together') %}{{ i.name }}: {{ i.reason }}\\
          {% endfor %}"
"""


@pytest.fixture
def two(redis_server: RedisServer, tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    nodes = []
    for name in ("a", "b"):  # each node its own folder, as on two machines
        folder = tmp_path / name
        folder.mkdir()
        (folder / "feed.csv").write_text(FEED, encoding="utf-8")
        config = folder / "campaigns.yaml"
        config.write_text(CONFIG, encoding="utf-8")
        nodes.append(Node(config, redis_server.url))
    yield nodes[0], nodes[1]
    for node in nodes:
        node.stop()


def person() -> Browser:
    visitor = Browser()  # a browser's User-Agent: urllib's own is taken for a crawler's
    visitor.opener.addheaders = [("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0")]
    return visitor


def related(visitor: Browser, node: Node, product: str) -> str:
    body = {"slots": ["related"], "url": f"http://shop.example/p/{product}"}
    status, payload = visitor.request(node, "/v1/decide", {**body, "page": {"product": product}})
    assert status == 200
    html: str = payload["slots"]["related"]["html"]
    return html


def test_a_view_learned_on_one_node_is_recommended_on_the_other(two: tuple[Node, Node]) -> None:
    a, b = two
    viewer = person()
    assert related(viewer, a, "tent") == ""
    related(viewer, a, "mat")  # node A learns: tent and mat, viewed together
    other = person()
    deadline = time.monotonic() + 5
    while (html := related(other, b, "tent")) == "":
        assert time.monotonic() < deadline, "node B never saw what node A learned"
        time.sleep(0.1)
    assert html == "Sleeping mat: people who viewed Dome tent also viewed this"
