"""The edge's guard is one layer (host allow-list, CORS, request id, security headers) that
answers as the four layers it replaced did, header for header and in their order; request ids
cost no system call and differ between forked workers; a route reads the request's headers
from one plain dict made once a request."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from pathlib import Path
from typing import Any

import pytest
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from opmaat_edge import http, logs
from opmaat_edge.http import NO_STORE, JSONAnswer, app_state, decoded_headers, header_dict
from tests.edge.conftest import MakeClient

SHOP = "https://www.shop.example"
SITE = """site:
  hosts: [shop.example]
  allowed_origins: [https://www.shop.example]
slots:
  hero: {default: "<p>default</p>"}
campaigns:
  - id: everyone
    slot: hero
    variants:
      - {key: a, html: "<p>hi</p>"}
"""
ID = re.compile(r"[0-9a-f]{16}")


@pytest.fixture
def shop(make_client: MakeClient, tmp_path: Path) -> TestClient:
    config = tmp_path / "campaigns.yaml"
    config.write_text(SITE, encoding="utf-8")
    return make_client(config, demo=False)


def names(headers: list[tuple[bytes, bytes]]) -> list[bytes]:
    return [key for key, _ in headers]


def test_an_api_answer_gets_nosniff_once_then_its_id_then_cors(shop: TestClient) -> None:
    r = shop.post("/v1/decide", content=b'{"slots": ["hero"]}', headers={"Origin": SHOP})
    assert r.status_code == 200
    raw = r.headers.raw
    assert names(raw).count(b"x-content-type-options") == 1
    assert raw[-4:] == [
        (b"x-request-id", r.headers["x-request-id"].encode()),
        (b"vary", b"Origin"),
        (b"access-control-allow-origin", SHOP.encode()),
        (b"access-control-allow-credentials", b"true"),
    ]
    assert ID.fullmatch(r.headers["x-request-id"])


def test_an_html_page_gets_nosniff_its_policy_then_its_id_and_no_cors(
    make_client: MakeClient,
) -> None:
    r = make_client().get("/", headers={"Origin": SHOP})  # the demo shop: no policy of its own
    assert r.status_code == 200
    assert names(r.headers.raw)[-4:] == [
        b"x-content-type-options",
        b"content-security-policy",
        b"referrer-policy",
        b"x-request-id",
    ]
    assert "'nonce-" in r.headers["content-security-policy"]


def test_preflights_and_other_hosts_are_answered_before_any_request_id(
    make_client: MakeClient, shop: TestClient
) -> None:
    asked = {"Origin": SHOP, "Access-Control-Request-Method": "POST"}
    allowed = shop.options("/v1/events", headers=asked)
    refused = shop.options("/v1/events", headers={**asked, "Origin": "https://evil.example"})
    assert (allowed.status_code, refused.status_code) == (204, 403)
    assert refused.json() == {"error": "this origin may not call the API"}
    elsewhere = make_client(allowed_hosts=("shop.example",))
    misdirected = elsewhere.get("/healthz", headers={"Host": "evil.example"})
    assert misdirected.status_code == 421
    for r in (allowed, refused, misdirected):
        assert "x-request-id" not in r.headers
        assert names(r.headers.raw).count(b"x-content-type-options") == 1
    assert elsewhere.get("/healthz", headers={"Host": "shop.example:8443"}).status_code == 200


def test_a_websocket_to_another_host_is_closed_as_a_policy_violation(
    make_client: MakeClient,
) -> None:
    client = make_client(allowed_hosts=("shop.example",))
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect("/", headers={"Host": "evil.example"}),
    ):
        pass
    assert refused.value.code == 1008
    with (
        pytest.raises(WebSocketDisconnect) as unrouted,
        client.websocket_connect("/", headers={"Host": "shop.example"}),
    ):
        pass
    assert unrouted.value.code != 1008


def test_an_unhandled_error_keeps_its_id_and_cors_for_the_sites_origin(
    shop: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opmaat_edge import server_api

    async def broken(request: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(server_api, "request_body", broken)
    quiet = TestClient(shop.app, raise_server_exceptions=False)
    r = quiet.post("/v1/decide", content=b"{}", headers={"Origin": SHOP, "X-Request-Id": "r-1"})
    assert r.status_code == 500
    assert r.json() == {"error": "internal error"}
    assert r.headers.raw[-4:] == [
        (b"x-request-id", b"r-1"),
        (b"vary", b"Origin"),
        (b"access-control-allow-origin", SHOP.encode()),
        (b"access-control-allow-credentials", b"true"),
    ]
    assert names(r.headers.raw).count(b"x-content-type-options") == 1


def test_the_guard_is_the_outermost_layer_and_a_bug_in_it_is_still_a_500(
    shop: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Starlette's error layer is left out (EdgeApp): the guard answers the routes' errors.
    assert type(shop.app.build_middleware_stack()).__name__ == "Guard"  # type: ignore[attr-defined]

    def broken(incoming: bytes | None) -> str:
        raise RuntimeError("a bug in the guard")

    monkeypatch.setattr(logs, "new_request_id", broken)
    quiet = TestClient(shop.app, raise_server_exceptions=False)
    r = quiet.post("/v1/decide", content=b"{}")
    assert r.status_code == 500
    assert "a bug" not in r.text
    assert "Traceback" not in r.text


def test_request_ids_are_made_without_a_system_call(
    shop: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_system_call(*args: object) -> bytes:
        raise AssertionError("a request id drew from the system's randomness")

    monkeypatch.setattr(os, "urandom", no_system_call)
    monkeypatch.setattr(secrets, "token_bytes", no_system_call)
    ids = {shop.get("/healthz").headers["x-request-id"] for _ in range(20)}
    assert len(ids) == 20
    assert all(ID.fullmatch(rid) for rid in ids)


def test_a_forked_worker_makes_other_request_ids_than_its_parent() -> None:
    logs.new_request_id(None)
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child only writes and leaves
        os.write(writing, " ".join(logs.new_request_id(None) for _ in range(5)).encode())
        os._exit(0)
    os.close(writing)
    with os.fdopen(reading) as pipe:
        theirs = set(pipe.read().split())
    os.waitpid(child, 0)
    ours = {logs.new_request_id(None) for _ in range(5)}
    assert len(theirs) == 5
    assert not ours & theirs


def test_a_sane_incoming_id_carries_through_and_another_is_replaced() -> None:
    assert logs.new_request_id(b"lb-42.a_b") == "lb-42.a_b"
    for bad in (b"", b"<script>", b"a" * 65, "\u00e9".encode("latin-1")):
        assert ID.fullmatch(logs.new_request_id(bad))


def test_the_header_dict_is_made_once_a_request_with_the_first_of_repeated_headers() -> None:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/decide",
        "headers": [
            (b"user-agent", b"first"),
            (b"content-length", b"2"),
            (b"user-agent", b"second"),
        ],
    }
    headers = header_dict(Request(scope))
    assert headers == {"user-agent": "first", "content-length": "2"}
    # Starlette makes more than one Request of a request: they share it.
    assert header_dict(Request(scope)) is headers
    assert Request(scope).headers.get("user-agent") == headers["user-agent"]


@pytest.mark.parametrize(
    "raw",
    [
        [],
        [(b"host", b"shop.example")],
        [(b"x-a", b""), (b"x-b", b""), (b"x-a", b"second")],
        # Bytes a lenient server might let through are decoded as they are.
        [(b"x-a", b"one\ntwo"), (b"x-b", b"three")],
        [(b"x-a\n", b"one"), (b"x-b", b"\n\n")],
        [(b"x-a", b"one\r\ntwo"), (b"cookie", b"\xe9t\xe9=\xff")],
    ],
)
def test_the_header_dict_decodes_every_header_as_latin_1_whatever_the_bytes(
    raw: list[tuple[bytes, bytes]],
) -> None:
    expected: dict[str, str] = {}
    for name, value in raw:
        expected.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    assert decoded_headers(raw) == expected


def test_remembered_header_texts_stay_few_and_short() -> None:
    long_value = b"x" * (http.MAX_HEADER_TEXT_BYTES + 1)
    assert decoded_headers([(b"cookie", long_value)]) == {"cookie": long_value.decode()}
    assert long_value not in http._HEADER_TEXTS
    # Made-up values, many more than the memo keeps: it starts again rather than grow.
    for n in range(http.MAX_HEADER_TEXTS * 2 + 10):
        value = b"v%d" % n
        assert decoded_headers([(b"x-made-up", value)]) == {"x-made-up": value.decode()}
        assert len(http._HEADER_TEXTS) <= http.MAX_HEADER_TEXTS
    # Cookies, credentials and addresses are decoded, never remembered.
    for name in http.PERSONAL_HEADERS:
        secret = b"s3cret-" + name.encode()
        assert decoded_headers([(name.encode(), secret)]) == {name: secret.decode()}
        assert secret not in http._HEADER_TEXTS
    # A remembered text is the one decoded, whichever request sent the bytes.
    assert decoded_headers([(b"user-agent", b"\xe9t\xe9")]) == {"user-agent": "\u00e9t\u00e9"}
    assert decoded_headers([(b"user-agent", b"\xe9t\xe9")]) == {"user-agent": "\u00e9t\u00e9"}


def test_the_app_state_is_read_from_the_app_or_is_empty() -> None:
    from starlette.applications import Starlette

    app = Starlette()
    app.state.edge = "edge"
    assert app_state(app) == {"edge": "edge"}
    for other in (None, object(), "app", {"state": {"edge": 1}}):
        assert app_state(other) == {}


def test_no_access_line_is_made_when_the_access_log_would_drop_it(
    shop: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[int] = []
    monkeypatch.setattr(logs, "log_access", lambda scope, status, started: made.append(status))
    monkeypatch.setattr(logs.access_log, "disabled", False)
    monkeypatch.setattr(logs.access_log, "level", 30)  # WARNING: an access line is INFO
    monkeypatch.setattr(logs.access_log, "_cache", {})
    shop.post("/v1/decide", content=b'{"slots": ["hero"]}')
    assert made == []
    monkeypatch.setattr(logs.access_log, "level", 20)
    monkeypatch.setattr(logs.access_log, "_cache", {})
    shop.post("/v1/decide", content=b'{"slots": ["hero"]}')
    assert made == [200]


@pytest.mark.parametrize("headers", [None, {"X-A": "1"}, NO_STORE])
def test_a_json_answer_sends_what_starlettes_json_response_sends(
    headers: dict[str, str] | None,
) -> None:
    async def sent(response: Any) -> list[Any]:
        messages: list[Any] = []

        async def send(message: Any) -> None:
            messages.append(message)

        await response({"type": "http"}, None, send)
        return messages

    content = {"a": 1, "b": [1, "é"], "c": None}
    ours = asyncio.run(sent(JSONAnswer(content, status_code=201, headers=headers)))
    theirs = asyncio.run(sent(JSONResponse(content, status_code=201, headers=headers)))
    assert ours[0]["status"] == theirs[0]["status"] == 201
    assert sorted(ours[0]["headers"]) == sorted(theirs[0]["headers"])
    assert ours[1] == theirs[1]


def test_a_json_answer_with_a_background_task_runs_it() -> None:
    ran: list[int] = []

    async def send(message: Any) -> None:
        pass

    answer = JSONAnswer({"ok": True}, background=BackgroundTask(lambda: ran.append(1)))
    asyncio.run(answer({"type": "http"}, None, send))
    assert ran == [1]
