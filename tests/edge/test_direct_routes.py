"""The page-view routes (decide, events) are answered without Starlette's router, as the router
answered them: status, headers in their order and error bodies alike; everything else still
goes through the router; a body comes whole however the server splits it."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from opmaat_edge import logs
from opmaat_edge.direct import DirectRoutes
from tests.edge.conftest import MakeClient
from tests.edge.test_one_guard import SITE  # the guard's site: its host and allowed origin

ORIGIN = {"Origin": "https://www.shop.example", "X-Request-Id": "same-id"}


@pytest.fixture
def shop(make_client: MakeClient, tmp_path: Path) -> TestClient:
    config = tmp_path / "campaigns.yaml"
    config.write_text(SITE, encoding="utf-8")
    return make_client(config, demo=False)


CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", "/v1/decide", {"content": b'{"slots": ["hero"]}'}),
    ("POST", "/v1/decide", {"content": b'{"slots": ["hero"], "consent": "none"}'}),
    ("GET", "/v1/decide", {"params": {"slots": "hero"}}),
    ("POST", "/v1/decide", {"content": b"not json"}),
    ("POST", "/v1/decide", {"content": b'{"slots": "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u"}'}),
    ("POST", "/v1/decide", {"content": b"[1]"}),
    ("POST", "/v1/decide", {"content": b"x" * 70_000}),
    ("POST", "/v1/events", {"content": b'{"type": "impression", "token": "forged"}'}),
    ("POST", "/v1/events", {"content": b"{"}),
    ("PUT", "/v1/decide", {"content": b"{}"}),
    ("HEAD", "/v1/decide", {}),
    ("GET", "/v1/events", {}),
]


def _answer(client: TestClient, method: str, path: str, extra: dict[str, Any]) -> Any:
    r = client.request(method, path, headers=ORIGIN, **extra)
    kept = [(k, v) for k, v in r.headers.raw if k not in (b"set-cookie", b"content-length")]
    body = r.json() if r.status_code >= 400 and r.content else None
    return r.status_code, kept, [k for k, _ in r.headers.raw], body


def test_the_page_view_routes_answer_as_the_router_did(
    shop: TestClient, make_client: MakeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    routed = make_client(tmp_path / "campaigns.yaml", demo=False)
    direct = [_answer(shop, *call) for call in CALLS]

    async def through(self: DirectRoutes, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    monkeypatch.setattr(DirectRoutes, "__call__", through)  # as before the direct routes
    by_router = [_answer(routed, *call) for call in CALLS]
    for call, one, other in zip(CALLS, direct, by_router, strict=True):
        assert one == other, call
    statuses = [status for status, *_ in direct]
    assert statuses == [200, 200, 200, 400, 400, 400, 413, 401, 400, 405, 200, 405]


def test_the_access_log_names_the_route_of_a_direct_answer(
    shop: TestClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs.access_log, "disabled", False)
    monkeypatch.setattr(logs.access_log, "propagate", True)
    with caplog.at_level(logging.INFO, logger="opmaat.access"):
        shop.post("/v1/decide", content=b'{"slots": ["hero"]}')
        shop.post("/v1/events", content=b"{")
    assert [(r.route, r.status) for r in caplog.records] == [  # type: ignore[attr-defined]
        ("/v1/decide", 200),
        ("/v1/events", 400),
    ]


def _call(app: Any, messages: list[dict[str, Any]], *, root_path: str = "") -> Any:
    """One POST straight to the ASGI app, its body in ``messages``; the answer's status and
    body."""
    sent: list[dict[str, Any]] = []
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": root_path + "/v1/decide",
        "raw_path": (root_path + "/v1/decide").encode(),
        "query_string": b"",
        "headers": [(b"host", b"shop.example")],
        "client": ("127.0.0.1", 5000),
        "server": ("shop.example", 80),
        "root_path": root_path,
    }
    asyncio.run(app(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body


def _chunks(body: bytes, size: int) -> list[dict[str, Any]]:
    parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    return [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]


def test_a_body_split_into_messages_is_read_whole(shop: TestClient) -> None:
    body = b'{"slots": ["hero"], "url": "https://shop.example/a"}'
    for size in (1, 7, len(body)):
        status, answer = _call(shop.app, _chunks(body, size))
        assert status == 200, size
        assert b'"hero"' in answer
    # An empty first message with more to come.
    status, _ = _call(
        shop.app, [{"type": "http.request", "body": b"", "more_body": True}, *_chunks(body, 5)]
    )
    assert status == 200


def test_a_body_over_the_limit_in_pieces_or_cut_short_is_a_4xx(shop: TestClient) -> None:
    status, answer = _call(shop.app, _chunks(b" " * 20_000, 4_096))
    assert status == 413
    assert b"larger than" in answer
    cut = [{"type": "http.request", "body": b'{"slots":', "more_body": True}]
    status, answer = _call(shop.app, cut)  # then the client goes away
    assert status == 400
    assert b"cut short" in answer


def test_a_request_under_a_root_path_goes_to_the_router(shop: TestClient) -> None:
    # The router takes root_path off the path; the direct routes leave such a request to it.
    status, answer = _call(shop.app, _chunks(b'{"slots": ["hero"]}', 64), root_path="/edge")
    assert status == 200
    assert b'"hero"' in answer
