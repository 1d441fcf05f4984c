"""OpmaatMiddleware around small Starlette apps: slots filled, headers, and what passes through."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selectolax.lexbor import LexborHTMLParser, LexborNode
from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from opmaat.engine import Decision
from opmaat.identity import COOKIE_NAME, CookieCodec
from opmaat.middleware import OpmaatMiddleware, PagePersonalization
from opmaat.store import MemoryStore, Record
from opmaat_edge.app import create_app
from opmaat_edge.resources import DEMO_CAMPAIGNS
from opmaat_edge.settings import EdgeSettings

KEY = "x" * 20
GOOGLE = {"referer": "https://www.google.com/search?q=trail+shoes"}
PAGE = (
    "<!doctype html><html><head><title>Shop</title>"
    '<meta name="opmaat:category" content="running"></head><body>'
    '<div data-opmaat-slot="hero">Default hero</div>'
    "<p>Caf\u00e9 content</p>"
    '<aside data-opmaat-slot="sidebar">Default side</aside>'
    "</body></html>"
)
NO_SLOTS = "<!doctype html><html><body><h1>Plain</h1><p>Caf\u00e9 \u20ac5</p></body></html>"


class Boom(Exception):
    pass


def make(
    routes: list[BaseRoute], *, raise_exc: bool = True, **options: Any
) -> tuple[TestClient, OpmaatMiddleware]:
    app = Starlette(routes=routes)
    middleware = OpmaatMiddleware(
        app, config=str(DEMO_CAMPAIGNS), secret_keys=[KEY], secure_cookies=False, **options
    )
    client = TestClient(middleware, client=("127.0.0.1", 1), raise_server_exceptions=raise_exc)
    return client, middleware


def html_route(
    path: str, body: str | bytes, *, status: int = 200, headers: dict[str, str] | None = None
) -> Route:
    async def endpoint(request: Request) -> Response:
        return Response(body, status, headers=headers, media_type="text/html")

    return Route(path, endpoint, methods=["GET", "POST"])


def slot_node(html: str | bytes, name: str) -> LexborNode:
    text = html.decode() if isinstance(html, bytes) else html
    node = LexborHTMLParser(text).css_first(f'[data-opmaat-slot="{name}"]')
    assert node is not None
    return node


def inner(node: LexborNode) -> str:
    html = node.inner_html
    assert html is not None
    return html


def set_cookies(response: Any) -> list[str]:
    return [v for k, v in response.headers.multi_items() if k == "set-cookie"]


def visitor_id(response: Any) -> str:
    ident = CookieCodec([KEY]).loads(response.cookies[COOKIE_NAME])
    assert not ident.fresh
    return ident.visitor_id


def stored(middleware: OpmaatMiddleware, vid: str) -> Record:
    record = asyncio.run(middleware.personalizer.store.get(vid))
    assert record is not None
    return record


# Filling


def test_slots_are_filled_and_marked_for_a_google_visitor() -> None:
    client, _ = make([html_route("/", PAGE)])
    r = client.get("/", headers=GOOGLE)
    assert r.status_code == 200
    hero = slot_node(r.content, "hero")
    assert hero.attributes["data-opmaat-filled"] == "server"
    assert hero.attributes["data-opmaat-campaign"] == "search-hero"
    assert hero.attributes["data-opmaat-variant"] == "a"
    assert "Found us on Google?" in inner(hero)
    assert "trail shoes" in inner(hero)
    sidebar = slot_node(r.content, "sidebar")
    assert sidebar.attributes["data-opmaat-campaign"] == "interest-sidebar"
    assert 'href="/c/running"' in inner(sidebar)
    assert int(r.headers["content-length"]) == len(r.content)
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert "Caf\u00e9 content" in r.text
    (cookie,) = set_cookies(r)
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie
    assert "Secure" not in cookie
    assert r.headers["cache-control"] == "private"


def test_without_a_campaign_the_page_content_stays_and_is_marked() -> None:
    page = '<div data-opmaat-slot="hero">Own hero</div>'
    client, _ = make([html_route("/", page)])
    r = client.get("/")
    hero = slot_node(r.content, "hero")
    assert hero.attributes["data-opmaat-filled"] == "server"
    assert "data-opmaat-campaign" not in hero.attributes
    assert inner(hero) == "Own hero"
    assert int(r.headers["content-length"]) == len(r.content)
    assert set_cookies(r)


def test_unknown_slots_keep_their_content() -> None:
    page = '<div data-opmaat-slot="nosuchslot">Mine</div>'
    client, _ = make([html_route("/", page)])
    r = client.get("/", headers=GOOGLE)
    assert r.status_code == 200
    assert inner(slot_node(r.content, "nosuchslot")) == "Mine"


@pytest.mark.parametrize(
    ("app_value", "expected"),
    [
        (None, "private"),
        ("public, max-age=60, s-maxage=600", "private, max-age=60"),
        ("no-store", "no-store"),
        ("no-cache", "private, no-cache"),
        ("private, max-age=5", "private, max-age=5"),
    ],
)
def test_cache_control_is_made_private(app_value: str | None, expected: str) -> None:
    headers = {"cache-control": app_value} if app_value else {}
    client, _ = make([html_route("/", PAGE, headers=headers)])
    r = client.get("/", headers=GOOGLE)
    assert r.headers.get_list("cache-control") == [expected]


def test_a_page_without_slots_is_untouched() -> None:
    headers = {"cache-control": "public, max-age=60", "x-app": "1"}
    routes: list[BaseRoute] = [html_route("/", NO_SLOTS, headers=headers)]
    plain = TestClient(Starlette(routes=routes)).get("/")
    client, _ = make(routes)
    r = client.get("/", headers=GOOGLE)
    assert r.status_code == 200
    assert r.content == NO_SLOTS.encode()
    assert r.headers.multi_items() == plain.headers.multi_items()
    assert set_cookies(r) == []


def test_pages_of_one_visitor_share_the_cookie_and_the_record() -> None:
    client, middleware = make([html_route("/", PAGE)])
    first = client.get("/", headers=GOOGLE)
    vid = visitor_id(first)
    second = client.get("/")
    assert visitor_id(second) == vid
    record = stored(middleware, vid)
    assert record["visits"] == 1
    assert record["session"]["pageviews"] == 2
    # The session still came from Google, so the hero stays.
    assert slot_node(second.content, "hero").attributes["data-opmaat-campaign"] == "search-hero"


# Passing through


def test_json_is_passed_through() -> None:
    payload = {"html": '<div data-opmaat-slot="hero">x</div>'}

    async def api(request: Request) -> Response:
        return JSONResponse(payload, headers={"cache-control": "public"})

    client, _ = make([Route("/api", api)])
    r = client.get("/api", headers=GOOGLE)
    assert r.json() == payload
    assert r.headers["cache-control"] == "public"
    assert set_cookies(r) == []


@pytest.mark.parametrize("status", [201, 203, 404, 500])
def test_html_that_is_not_a_200_is_passed_through(status: int) -> None:
    client, _ = make([html_route("/", PAGE, status=status)], raise_exc=False)
    r = client.get("/", headers=GOOGLE)
    assert r.status_code == status
    assert r.content == PAGE.encode()
    assert set_cookies(r) == []
    assert "cache-control" not in r.headers


def test_gzipped_html_is_passed_through() -> None:
    big = PAGE.replace("<p>", "<p>" + "padding " * 200)
    app = Starlette(routes=[html_route("/", big)])
    app.add_middleware(GZipMiddleware, minimum_size=10)
    middleware = OpmaatMiddleware(
        app, config=str(DEMO_CAMPAIGNS), secret_keys=[KEY], secure_cookies=False
    )
    client = TestClient(middleware, client=("127.0.0.1", 1))
    r = client.get("/", headers={**GOOGLE, "accept-encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert r.content == big.encode()  # decompressed by the client: nothing was filled
    assert set_cookies(r) == []


def test_html_with_a_content_encoding_header_is_passed_through() -> None:
    compressed = gzip.compress(PAGE.encode())
    client, _ = make([html_route("/", compressed, headers={"content-encoding": "GZIP"})])
    r = client.get("/", headers=GOOGLE)
    assert r.content == PAGE.encode()
    assert set_cookies(r) == []


def test_head_is_passed_through() -> None:
    client, _ = make([html_route("/", PAGE)])
    r = client.head("/", headers=GOOGLE)
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["content-length"] == str(len(PAGE.encode()))
    assert set_cookies(r) == []


def test_post_is_passed_through() -> None:
    client, _ = make([html_route("/", PAGE)])
    r = client.post("/", headers=GOOGLE, content=b"a=1")
    assert r.content == PAGE.encode()
    assert set_cookies(r) == []


def test_websockets_pass_through() -> None:
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text(f"echo {text}")
        await websocket.close()

    client, _ = make([WebSocketRoute("/ws", echo)])
    with client.websocket_connect("/ws") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "echo hi"


def test_lifespan_events_run() -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
        events.append("startup")
        yield {"from_lifespan": "yes"}
        events.append("shutdown")

    async def home(request: Request) -> Response:
        return HTMLResponse(PAGE.replace("Default hero", request.state.from_lifespan))

    app = Starlette(routes=[Route("/", home)], lifespan=lifespan)
    middleware = OpmaatMiddleware(
        app, config=str(DEMO_CAMPAIGNS), secret_keys=[KEY], secure_cookies=False
    )
    with TestClient(middleware, client=("127.0.0.1", 1)) as client:
        assert events == ["startup"]
        r = client.get("/")
        assert inner(slot_node(r.content, "hero")) == "yes"
    assert events == ["startup", "shutdown"]


def chunked(text: str, size: int) -> Callable[[Request], Response]:
    def endpoint(request: Request) -> Response:
        async def parts() -> AsyncIterator[bytes]:
            data = text.encode()
            for i in range(0, len(data), size):
                yield data[i : i + size]

        return StreamingResponse(parts(), media_type="text/html")

    return endpoint


@pytest.mark.parametrize("size", [1, 3, 7, 64, 10_000])
def test_streamed_html_is_filled_across_chunks(size: int) -> None:
    client, _ = make([Route("/", chunked(PAGE, size))])
    r = client.get("/", headers=GOOGLE)
    assert r.status_code == 200
    assert "content-length" not in r.headers
    hero = slot_node(r.content, "hero")
    assert hero.attributes["data-opmaat-campaign"] == "search-hero"
    assert "Found us on Google?" in inner(hero)
    assert "Caf\u00e9 content" in r.text
    assert set_cookies(r)[0].startswith(f"{COOKIE_NAME}=")
    assert r.headers["cache-control"] == "private"


@pytest.mark.parametrize("size", [1, 5])
def test_streamed_html_without_slots_keeps_its_bytes(size: int) -> None:
    client, _ = make([Route("/", chunked(NO_SLOTS, size))])
    r = client.get("/")
    assert r.content == NO_SLOTS.encode()


def test_a_streamed_page_notes_its_category_like_a_whole_one() -> None:
    # Was a bug (asgi.py _Responder._body): a streamed page counts its page view before any of the
    # body is read, so the page's <meta name="opmaat:category"> never becomes an interest
    # and the interest sidebar that a whole response gets does not show.
    whole, _ = make([html_route("/", PAGE)])
    assert (
        slot_node(whole.get("/").content, "sidebar").attributes.get("data-opmaat-campaign")
        == "interest-sidebar"
    )
    streamed, _ = make([Route("/", chunked(PAGE, 16))])
    assert (
        slot_node(streamed.get("/").content, "sidebar").attributes.get("data-opmaat-campaign")
        == "interest-sidebar"
    )


def test_a_streamed_non_html_response_is_passed_through() -> None:
    async def endpoint(request: Request) -> Response:
        async def parts() -> AsyncIterator[bytes]:
            yield b'{"a": "<div data-opmaat-slot=hero>'
            yield b'x</div>"}'

        return StreamingResponse(parts(), media_type="application/json")

    client, _ = make([Route("/", endpoint)])
    r = client.get("/", headers=GOOGLE)
    assert r.content == b'{"a": "<div data-opmaat-slot=hero>x</div>"}'
    assert set_cookies(r) == []


def test_html_that_is_not_utf8_passes_unchanged() -> None:
    body = b'<div data-opmaat-slot="hero">caf\xe9 \xff</div>'
    client, _ = make([html_route("/", body)])
    r = client.get("/", headers=GOOGLE)
    assert r.status_code == 200
    assert r.content == body
    assert int(r.headers["content-length"]) == len(body)


def test_streamed_html_that_turns_out_not_utf8_keeps_every_byte() -> None:
    # Was a bug (asgi.py _Responder._body, except UnicodeDecodeError): what the scanner and the
    # decoder hold back from earlier chunks (here the open slot) is dropped.
    parts = [b'<p>start</p><div data-opmaat-slot="hero">Hello ', b"\xff world</div><p>end</p>"]

    async def endpoint(request: Request) -> Response:
        async def gen() -> AsyncIterator[bytes]:
            for part in parts:
                yield part

        return StreamingResponse(gen(), media_type="text/html")

    client, _ = make([Route("/", endpoint)])
    r = client.get("/", headers=GOOGLE)
    assert r.status_code == 200
    assert r.content == b"".join(parts)


def test_a_latin1_page_is_filled_in_latin1() -> None:
    # Was a bug (page.py BodyRewriter.feed): the filled HTML is encoded with errors="strict", and
    # the demo's search hero (curly quotes) and sidebar default (euro sign) have characters
    # ISO-8859-1 lacks: UnicodeEncodeError, a 500 instead of the page.
    body = PAGE.encode("latin-1")
    client, _ = make(
        [html_route("/", body, headers={"content-type": "text/html; charset=ISO-8859-1"})],
        raise_exc=False,
    )
    r = client.get("/", headers=GOOGLE)
    assert r.status_code == 200
    text = r.content.decode("latin-1")
    assert "Found us on Google?" in text
    assert "Caf\u00e9 content" in text


def test_a_latin1_page_without_slots_is_untouched() -> None:
    body = NO_SLOTS.replace("\u20ac", "EUR").encode("latin-1")
    client, _ = make(
        [html_route("/", body, headers={"content-type": "text/html; charset=latin-1"})]
    )
    r = client.get("/", headers=GOOGLE)
    assert r.content == body


@pytest.mark.parametrize(
    "page",
    [
        "<html><body><div><p>unclosed <b>tags",
        '<div data-opmaat-slot="hero">never closed <p>text</p></body></html>',
        "stray < and <<>> and </ and <!- and <!-- x",
        "<div data-opmaat-slot=hero <p>broken tag</p>",
        "<script>never closed <div data-opmaat-slot=hero>x</div>",
    ],
)
def test_malformed_html_is_served(page: str) -> None:
    client, _ = make([html_route("/", page)])
    r = client.get("/", headers=GOOGLE)
    assert r.status_code == 200
    assert r.text == page


def test_malformed_html_around_a_good_slot() -> None:
    page = "<div><p>open <b>bold <div data-opmaat-slot=hero>x</div> stray < here"
    client, _ = make([html_route("/", page)])
    r = client.get("/", headers=GOOGLE)
    assert r.status_code == 200
    assert r.text.startswith("<div><p>open <b>bold <div data-opmaat-slot=hero data-opmaat-filled")
    assert r.text.endswith("</div> stray < here")
    assert "Found us on Google?" in r.text


# Errors


def raising_app() -> Starlette:
    async def broken(request: Request) -> Response:
        raise Boom("handler failed")

    async def own_500(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("the app's own error page", status_code=500)

    return Starlette(routes=[Route("/", broken)], exception_handlers={Exception: own_500})


def test_an_exception_in_the_handler_reaches_the_caller() -> None:
    middleware = OpmaatMiddleware(
        raising_app(), config=str(DEMO_CAMPAIGNS), secret_keys=[KEY], secure_cookies=False
    )
    client = TestClient(middleware, client=("127.0.0.1", 1), raise_server_exceptions=True)
    with pytest.raises(Boom, match="handler failed"):
        client.get("/", headers=GOOGLE)


def test_an_exception_in_the_handler_gets_the_apps_own_500() -> None:
    middleware = OpmaatMiddleware(
        raising_app(), config=str(DEMO_CAMPAIGNS), secret_keys=[KEY], secure_cookies=False
    )
    client = TestClient(middleware, client=("127.0.0.1", 1), raise_server_exceptions=False)
    r = client.get("/", headers=GOOGLE)
    assert r.status_code == 500
    assert r.text == "the app's own error page"


def test_an_exception_after_the_start_of_an_html_response_reaches_the_caller() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": HTML_HEADERS})
        raise Boom("half way")

    middleware = OpmaatMiddleware(
        app, config=str(DEMO_CAMPAIGNS), secret_keys=[KEY], secure_cookies=False
    )
    with pytest.raises(Boom, match="half way"):
        TestClient(middleware, client=("127.0.0.1", 1)).get("/")


class FailingStore:
    """A store whose reads (or writes) fail, as a Redis that is down would."""

    def __init__(self, *, fail_get: bool = True, fail_put: bool = False) -> None:
        self.fail_get = fail_get
        self.fail_put = fail_put
        self.gets = 0
        self.memory = MemoryStore()

    async def get(self, visitor_id: str) -> Record | None:
        self.gets += 1
        if self.fail_get:
            raise ConnectionError("store down")
        return await self.memory.get(visitor_id)

    async def load(self, visitor_id: str) -> tuple[Record | None, bytes | None]:
        self.gets += 1
        if self.fail_get:
            raise ConnectionError("store down")
        return await self.memory.load(visitor_id)

    async def store_if(
        self,
        visitor_id: str,
        record: Record,
        ttl_seconds: float,
        expected: bytes | None,
        encoded: bytes | None = None,
    ) -> bytes | None:
        if self.fail_put:
            raise ConnectionError("store down")
        return await self.memory.store_if(visitor_id, record, ttl_seconds, expected, encoded)

    async def delete(self, visitor_id: str) -> bool:
        return await self.memory.delete(visitor_id)

    async def close(self) -> None:
        await self.memory.close()


def returning_visitor() -> dict[str, str]:
    return {**GOOGLE, "cookie": f"{COOKIE_NAME}={CookieCodec([KEY]).dumps('visitor-1', 's-1')}"}


def test_a_store_that_fails_to_read_still_decides_from_the_request() -> None:
    store = FailingStore()
    client, mw = make([html_route("/", PAGE)], store=store, raise_exc=False)
    r = client.get("/", headers=returning_visitor())
    assert store.gets == 1
    assert r.status_code == 200
    assert "Found us on Google?" in r.text  # the referrer alone still counts
    assert mw.personalizer.stats.store_errors >= 1


def test_a_store_that_fails_to_write_serves_the_page() -> None:
    # Was a bug: a failing store.put in the page view escaped and the app answered 500.
    store = FailingStore(fail_get=False, fail_put=True)
    client, _ = make([html_route("/", PAGE)], store=store, raise_exc=False)
    r = client.get("/", headers=returning_visitor())
    assert r.status_code == 200
    assert "Default hero" in r.text or "Found us on Google?" in r.text


# Decisions made by the handler


def test_the_handlers_decision_is_reused_and_the_page_counted_once() -> None:
    seen: list[Decision] = []

    async def home(request: Request) -> Response:
        page = request.state.opmaat
        assert isinstance(page, PagePersonalization)
        decisions = await page.decide(["hero"])
        again = await page.decide(["hero"])
        assert again == decisions
        seen.append(decisions["hero"])
        return HTMLResponse(PAGE)

    client, middleware = make([Route("/", home)])
    r = client.get("/", headers=GOOGLE)
    (decision,) = seen
    assert decision.slot == "hero"
    assert decision.campaign == "search-hero"
    hero = slot_node(r.content, "hero")
    assert hero.attributes["data-opmaat-campaign"] == decision.campaign
    assert decision.html is not None
    assert inner(hero) == inner(
        slot_node(f"<div data-opmaat-slot=hero>{decision.html}</div>", "hero")
    )
    assert slot_node(r.content, "sidebar").attributes["data-opmaat-filled"] == "server"
    record = stored(middleware, visitor_id(r))
    assert record["visits"] == 1
    assert record["session"]["pageviews"] == 1
    assert int(r.headers["content-length"]) == len(r.content)


def test_a_handler_decision_on_a_page_without_slots_still_sets_the_cookie() -> None:
    async def home(request: Request) -> Response:
        await request.state.opmaat.decide(["hero"])
        return HTMLResponse(NO_SLOTS)

    client, middleware = make([Route("/", home)])
    r = client.get("/", headers=GOOGLE)
    assert r.content == NO_SLOTS.encode()
    assert r.headers["cache-control"] == "private"
    assert stored(middleware, visitor_id(r))["session"]["pageviews"] == 1


def test_a_handler_decision_on_a_json_answer_still_sets_the_cookie() -> None:
    async def api(request: Request) -> Response:
        decisions = await request.state.opmaat.decide(["hero"])
        return JSONResponse({"campaign": decisions["hero"].campaign})

    client, _ = make([Route("/api", api)])
    r = client.get("/api", headers=GOOGLE)
    assert r.json() == {"campaign": "search-hero"}
    assert set_cookies(r)
    assert r.headers["cache-control"] == "private"


def test_the_handler_sees_consent_and_profile() -> None:
    async def home(request: Request) -> Response:
        page = request.state.opmaat
        profile = page.profile
        return JSONResponse({"consent": page.consent, "medium": profile["referrer"]["medium"]})

    client, _ = make([Route("/", home)])
    assert client.get("/", headers=GOOGLE).json() == {"consent": "full", "medium": "search"}


# cdn_key


def test_cdn_key_headers_and_cache_control() -> None:
    cache = "public, max-age=60, s-maxage=600"
    routes: list[BaseRoute] = [html_route("/", PAGE, headers={"cache-control": cache})]
    first, _ = make(routes, cdn_key=True)
    second, _ = make(routes, cdn_key=True)
    third, _ = make(routes, cdn_key=True)
    a = first.get("/", headers=GOOGLE)
    b = second.get("/", headers=GOOGLE)
    c = third.get("/")
    assert a.headers["cache-control"] == cache
    assert "X-Opmaat-Key" in a.headers.get_list("vary")
    key = a.headers["x-opmaat-key"]
    assert len(key) == 16
    assert a.content == b.content
    assert b.headers["x-opmaat-key"] == key
    assert c.content != a.content
    assert c.headers["x-opmaat-key"] != key
    assert f"opmaat_key={key}" in [s.split(";")[0] for s in set_cookies(a)]
    assert any(s.startswith(f"{COOKIE_NAME}=") for s in set_cookies(a))


def test_without_cdn_key_there_is_no_key() -> None:
    client, _ = make([html_route("/", PAGE)])
    r = client.get("/", headers=GOOGLE)
    assert "x-opmaat-key" not in r.headers
    assert "vary" not in r.headers
    assert not any(s.startswith("opmaat_key=") for s in set_cookies(r))


# Sharing the cookie with the edge


@pytest.fixture
def edge() -> Iterator[tuple[TestClient, Starlette]]:
    settings = EdgeSettings(config=str(DEMO_CAMPAIGNS), secret_keys=(KEY,), dev=True, demo=True)
    app = create_app(settings)
    with TestClient(app, client=("127.0.0.1", 50000), base_url="http://127.0.0.1") as client:
        yield client, app


def test_the_edge_accepts_the_middlewares_cookie(edge: tuple[TestClient, Starlette]) -> None:
    edge_client, edge_app = edge
    client, _ = make([html_route("/", PAGE)])
    r = client.get("/", headers=GOOGLE)
    vid = visitor_id(r)
    cookie = {"cookie": f"{COOKIE_NAME}={r.cookies[COOKIE_NAME]}"}
    me = edge_client.get("/v1/me", headers=cookie)
    assert me.status_code == 200
    assert me.json()["consent"]["tier"] == "full"
    body = {"slots": ["hero"], "url": "http://127.0.0.1/", "referrer": GOOGLE["referer"]}
    decided = edge_client.post("/v1/decide", content=json.dumps(body), headers=cookie)
    assert decided.json()["slots"]["hero"]["campaign"] == "search-hero"
    assert vid in edge_app.state.edge.personalizer.store.dump()
    counters = edge_client.get("/healthz").json()["counters"]
    assert counters["rejected_cookies"] == 0


def test_the_edge_rejects_a_cookie_signed_with_another_key(
    edge: tuple[TestClient, Starlette],
) -> None:
    edge_client, _ = edge
    other = CookieCodec(["y" * 20]).dumps("someone", "s")
    edge_client.get("/v1/me", headers={"cookie": f"{COOKIE_NAME}={other}"})
    assert edge_client.get("/healthz").json()["counters"]["rejected_cookies"] == 1


# Raw ASGI


HTML_HEADERS = [(b"content-type", b"text/html; charset=utf-8")]


def call(middleware: OpmaatMiddleware, extensions: dict[str, Any] | None = None) -> list[Message]:
    sent: list[Message] = []
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"shop.test"), (b"referer", GOOGLE["referer"].encode())],
        "client": ("127.0.0.1", 1),
        "server": ("shop.test", 80),
        "extensions": extensions or {},
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(middleware(scope, receive, send))
    return sent


def test_raw_asgi_body_messages_in_order() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": HTML_HEADERS})
        await send({"type": "http.response.body", "body": b"<div data-opm", "more_body": True})
        await send({"type": "http.response.body", "body": b"aat-slot=hero>x</d", "more_body": True})
        await send({"type": "http.response.body", "body": b"iv>", "more_body": False})

    middleware = OpmaatMiddleware(
        app, config=str(DEMO_CAMPAIGNS), secret_keys=[KEY], secure_cookies=False
    )
    sent = call(middleware)
    assert [m["type"] for m in sent] == ["http.response.start"] + ["http.response.body"] * 3
    assert [m["more_body"] for m in sent[1:]] == [True, True, False]
    body = b"".join(m["body"] for m in sent[1:])
    assert slot_node(body, "hero").attributes["data-opmaat-campaign"] == "search-hero"


def test_an_html_file_sent_with_pathsend_keeps_its_start_message(tmp_path: Path) -> None:
    # Was a bug (asgi.py _Responder.send): the start of a 200 text/html response is held for
    # rewriting, and a following http.response.pathsend (Starlette's FileResponse on servers
    # with that extension) is forwarded without it: the server gets no response start.
    page = tmp_path / "page.html"
    page.write_text(PAGE)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await FileResponse(page, media_type="text/html")(scope, receive, send)

    middleware = OpmaatMiddleware(
        app, config=str(DEMO_CAMPAIGNS), secret_keys=[KEY], secure_cookies=False
    )
    sent = call(middleware, {"http.response.pathsend": {}})
    assert sent[0]["type"] == "http.response.start"
