"""OpmaatWSGIMiddleware around plain WSGI callables, driven the way a WSGI server drives them."""

from __future__ import annotations

import asyncio
import gc
import gzip
import sys
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from wsgiref.util import setup_testing_defaults
from wsgiref.validate import validator

import pytest
from selectolax.lexbor import LexborHTMLParser, LexborNode

from opmaat.engine import Decision
from opmaat.identity import COOKIE_NAME, CookieCodec
from opmaat.middleware import OpmaatWSGIMiddleware, SyncPage
from opmaat.store import MemoryStore, Record
from opmaat_edge.resources import DEMO_CAMPAIGNS

KEY = "x" * 20
GOOGLE = {"Referer": "https://www.google.com/search?q=trail+shoes"}
PAGE = (
    "<!doctype html><html><head><title>Shop</title>"
    '<meta name="opmaat:category" content="running"></head><body>'
    '<div data-opmaat-slot="hero">Default hero</div>'
    "<p>Caf\u00e9 content</p>"
    '<aside data-opmaat-slot="sidebar">Default side</aside>'
    "</body></html>"
).encode()
NO_SLOTS = "<!doctype html><html><body><h1>Plain</h1><p>Caf\u00e9</p></body></html>".encode()
HTML = ("Content-Type", "text/html; charset=utf-8")

StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class Boom(Exception):
    pass


@dataclass
class Answer:
    status: str
    headers: list[tuple[str, str]]
    body: bytes
    chunks: list[bytes] = field(default_factory=list)
    exc_info: Any = None

    def header(self, name: str) -> str | None:
        values = self.all(name)
        assert len(values) <= 1, values
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def cookie(self) -> str | None:
        for value in self.all("set-cookie"):
            name, _, rest = value.partition("=")
            if name == COOKIE_NAME:
                return rest.split(";")[0]
        return None

    def slot(self, name: str) -> LexborNode:
        node = LexborHTMLParser(self.body.decode()).css_first(f'[data-opmaat-slot="{name}"]')
        assert node is not None
        return node


def call(
    app: WSGIApp,
    path: str = "/",
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    validate: bool = True,
) -> Answer:
    """Drive ``app`` as a server would: start_response must come before the first bytes,
    and the result is closed."""
    environ: dict[str, Any] = {"QUERY_STRING": "", "REMOTE_ADDR": "127.0.0.1"}
    setup_testing_defaults(environ)
    environ["REQUEST_METHOD"] = method
    environ["PATH_INFO"] = path
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    started: list[tuple[str, list[tuple[str, str]], Any]] = []
    written: list[bytes] = []

    def start_response(
        status: str, response_headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        started.append((status, response_headers, exc_info))
        return written.append

    wrapped = validator(app) if validate else app
    result = wrapped(environ, start_response)
    chunks: list[bytes] = []
    try:
        for chunk in result:
            assert started, "body bytes before start_response"
            chunks.append(chunk)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    assert len(started) == 1
    status, response_headers, exc_info = started[0]
    return Answer(status, list(response_headers), b"".join(written + chunks), chunks, exc_info)


def personalized(app: WSGIApp, **options: Any) -> OpmaatWSGIMiddleware:
    return OpmaatWSGIMiddleware(
        app, config=str(DEMO_CAMPAIGNS), secret_keys=[KEY], secure_cookies=False, **options
    )


def html_app(
    body: bytes, *, status: str = "200 OK", headers: list[tuple[str, str]] | None = None
) -> WSGIApp:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        start_response(status, [*(headers or [HTML]), ("Content-Length", str(len(body)))])
        return [body]

    return app


def stored(middleware: OpmaatWSGIMiddleware, cookie: str | None) -> Record:
    ident = CookieCodec([KEY]).loads(cookie)
    assert not ident.fresh
    record = asyncio.run(middleware.personalizer.store.get(ident.visitor_id))
    assert record is not None
    return record


# Filling


def test_slots_are_filled_with_content_length_cookie_and_private_cache() -> None:
    headers = [HTML, ("Cache-Control", "public, max-age=60, s-maxage=600")]
    answer = call(personalized(html_app(PAGE, headers=headers)), headers=GOOGLE)
    assert answer.status == "200 OK"
    hero = answer.slot("hero")
    assert hero.attributes["data-opmaat-filled"] == "server"
    assert hero.attributes["data-opmaat-campaign"] == "search-hero"
    assert hero.attributes["data-opmaat-variant"] == "a"
    assert "Found us on Google?" in (hero.inner_html or "")
    assert answer.slot("sidebar").attributes["data-opmaat-campaign"] == "interest-sidebar"
    assert answer.header("content-length") == str(len(answer.body))
    assert answer.header("cache-control") == "private, max-age=60"
    assert answer.cookie
    assert "Caf\u00e9 content" in answer.body.decode()


def test_a_page_without_slots_is_untouched() -> None:
    headers = [HTML, ("Cache-Control", "public, max-age=60"), ("X-App", "1")]
    app = html_app(NO_SLOTS, headers=headers)
    plain = call(app)
    answer = call(personalized(app), headers=GOOGLE)
    assert answer.body == NO_SLOTS
    assert answer.headers == plain.headers
    assert answer.all("set-cookie") == []


def test_no_store_is_kept() -> None:
    headers = [HTML, ("Cache-Control", "no-store")]
    answer = call(personalized(html_app(PAGE, headers=headers)))
    assert answer.all("cache-control") == ["no-store"]


# Passing through


def test_json_is_passed_through() -> None:
    body = b'{"html": "<div data-opmaat-slot=\\"hero\\">x</div>"}'
    headers = [("Content-Type", "application/json")]
    answer = call(personalized(html_app(body, headers=headers)), headers=GOOGLE)
    assert answer.body == body
    assert answer.all("set-cookie") == []
    assert answer.all("cache-control") == []


@pytest.mark.parametrize("method", ["POST", "HEAD", "PUT"])
def test_other_methods_are_passed_through(method: str) -> None:
    calls: list[str] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        calls.append(environ["REQUEST_METHOD"])
        assert "opmaat" not in environ
        start_response("200 OK", [HTML])
        return [PAGE]

    answer = call(personalized(app), method=method, headers=GOOGLE, validate=False)
    assert calls == [method]
    assert answer.body == PAGE
    assert answer.all("set-cookie") == []


@pytest.mark.parametrize("status", ["404 Not Found", "500 Internal Server Error", "201 Created"])
def test_html_that_is_not_a_200_is_passed_through(status: str) -> None:
    answer = call(personalized(html_app(PAGE, status=status)), headers=GOOGLE)
    assert answer.status == status
    assert answer.body == PAGE
    assert answer.all("set-cookie") == []


def test_gzipped_html_is_passed_through() -> None:
    body = gzip.compress(PAGE)
    headers = [HTML, ("Content-Encoding", "gzip")]
    answer = call(personalized(html_app(body, headers=headers)), headers=GOOGLE)
    assert answer.body == body
    assert answer.all("set-cookie") == []


def test_html_that_is_not_utf8_passes_unchanged() -> None:
    body = b'<div data-opmaat-slot="hero">caf\xe9 \xff</div>'
    answer = call(personalized(html_app(body)), headers=GOOGLE)
    assert answer.status == "200 OK"
    assert answer.body == body
    assert answer.header("content-length") == str(len(body))


def test_malformed_html_is_served() -> None:
    body = b"<div><p>open <b>x <div data-opmaat-slot=hero>never closed < stray"
    answer = call(personalized(html_app(body)), headers=GOOGLE)
    assert answer.status == "200 OK"
    assert answer.body == body


# Streaming


def generator_app(body: bytes, size: int, content_type: str = "text/html") -> WSGIApp:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        # start_response from inside the generator: only once the body is asked for.
        start_response("200 OK", [("Content-Type", content_type)])
        for i in range(0, len(body), size):
            yield body[i : i + size]

    return app


@pytest.mark.parametrize("size", [1, 3, 7, 64, 100_000])
def test_a_generator_app_is_filled_across_chunks(size: int) -> None:
    answer = call(personalized(generator_app(PAGE, size)), headers=GOOGLE)
    assert answer.status == "200 OK"
    assert answer.header("content-length") is None
    hero = answer.slot("hero")
    assert hero.attributes["data-opmaat-campaign"] == "search-hero"
    assert "Found us on Google?" in (hero.inner_html or "")
    assert answer.cookie
    assert answer.header("cache-control") == "private"
    if size < 64:
        assert len(answer.chunks) > 1  # streamed, not gathered


@pytest.mark.parametrize("size", [1, 5])
def test_a_generator_app_without_slots_keeps_its_bytes(size: int) -> None:
    answer = call(personalized(generator_app(NO_SLOTS, size)))
    assert answer.body == NO_SLOTS


def test_a_streamed_non_html_response_is_passed_through() -> None:
    body = b'{"a": "<div data-opmaat-slot=hero>x</div>"}'
    answer = call(personalized(generator_app(body, 4, "application/json")), headers=GOOGLE)
    assert answer.body == body
    assert answer.chunks == [body[i : i + 4] for i in range(0, len(body), 4)]
    assert answer.all("set-cookie") == []


def test_a_streamed_page_notes_its_category_like_a_whole_one() -> None:
    # Was a bug (wsgi.py _Response._stream): the page view is counted before any of the body is
    # read, so the page's <meta name="opmaat:category"> never becomes an interest.
    whole = call(personalized(html_app(PAGE)))
    assert whole.slot("sidebar").attributes.get("data-opmaat-campaign") == "interest-sidebar"
    streamed = call(personalized(generator_app(PAGE, 16)))
    assert streamed.slot("sidebar").attributes.get("data-opmaat-campaign") == "interest-sidebar"


def test_streamed_html_that_turns_out_not_utf8_keeps_every_byte() -> None:
    # Was a bug (wsgi.py _Response._stream, except UnicodeDecodeError): what the scanner and the
    # decoder hold back from earlier chunks (here the open slot) is dropped.
    parts = [b"<p>start</p>", b'<div data-opmaat-slot="hero">Hello ', b"\xff</div>", b"<p>end</p>"]

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [HTML])
        yield from parts

    answer = call(personalized(app), headers=GOOGLE)
    assert answer.status == "200 OK"
    assert answer.body == b"".join(parts)


# The result's close()


class Closing:
    """A result iterable that records whether the server closed it."""

    def __init__(self, parts: list[bytes]) -> None:
        self.parts = parts
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.parts)

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize(
    ("content_type", "parts"),
    [
        ("text/html", [PAGE]),  # filled
        ("text/html", [PAGE[:50], PAGE[50:]]),  # streamed
        ("text/html", []),  # empty
        ("application/json", [b"{}"]),  # passed through
    ],
)
def test_the_apps_close_is_called(content_type: str, parts: list[bytes]) -> None:
    results: list[Closing] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", content_type)])
        results.append(Closing(parts))
        return results[0]

    answer = call(personalized(app), headers=GOOGLE)
    assert results[0].closed
    if parts:
        assert answer.body.startswith(parts[0][:10])


def test_a_generator_is_closed_when_the_server_stops_early() -> None:
    finished: list[str] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [HTML])
        try:
            for i in range(100):
                yield b"<p>%d</p>" % i
        finally:
            finished.append("closed")

    environ: dict[str, Any] = {"QUERY_STRING": "", "REMOTE_ADDR": "127.0.0.1"}
    setup_testing_defaults(environ)
    result = personalized(app)(environ, lambda *a: lambda b: None)
    iterator = iter(result)
    next(iterator)
    getattr(result, "close")()  # noqa: B009  (the WSGI server's call)
    assert finished == ["closed"]


# Errors


def test_an_app_that_raises_propagates_the_exception() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        raise Boom("app failed")

    with pytest.raises(Boom, match="app failed"):
        call(personalized(app), headers=GOOGLE, validate=False)


def test_a_generator_that_raises_propagates_the_exception() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [HTML])
        yield b"<div data-opmaat-slot=hero>x</div>"
        raise Boom("half way")

    with pytest.raises(Boom, match="half way"):
        call(personalized(app), headers=GOOGLE, validate=False)


def test_exc_info_reaches_the_server() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            raise Boom("handled")
        except Boom:
            start_response("500 Internal Server Error", [HTML], sys.exc_info())
        return [b"<h1>error</h1>"]

    answer = call(personalized(app), validate=False)
    assert answer.status.startswith("500")
    assert answer.exc_info is not None
    assert answer.exc_info[0] is Boom
    assert answer.body == b"<h1>error</h1>"


class FailingStore:
    def __init__(self) -> None:
        self.gets = 0
        self.memory = MemoryStore()

    async def get(self, visitor_id: str) -> Record | None:
        self.gets += 1
        raise ConnectionError("store down")

    async def load(self, visitor_id: str) -> tuple[Record | None, bytes | None]:
        self.gets += 1
        raise ConnectionError("store down")

    async def store_if(
        self,
        visitor_id: str,
        record: Record,
        ttl_seconds: float,
        expected: bytes | None,
        encoded: bytes | None = None,
    ) -> bytes | None:
        return await self.memory.store_if(visitor_id, record, ttl_seconds, expected, encoded)

    async def delete(self, visitor_id: str) -> bool:
        return await self.memory.delete(visitor_id)

    async def close(self) -> None:
        await self.memory.close()


def test_a_store_that_fails_still_serves_the_page() -> None:
    store = FailingStore()
    seen: list[bool] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        seen.append("opmaat.page" in environ)
        start_response("200 OK", [HTML])
        return [PAGE]

    cookie = f"{COOKIE_NAME}={CookieCodec([KEY]).dumps('visitor-1', 's-1')}"
    answer = call(personalized(app, store=store), headers={**GOOGLE, "Cookie": cookie})
    assert store.gets == 1
    assert seen == [True]  # decisions from the request alone
    assert answer.status == "200 OK"
    assert b"Found us on Google?" in answer.body


# environ["opmaat.page"] and write()


def test_decide_in_the_app_is_synchronous_and_reused() -> None:
    decided: list[Decision] = []

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        page = environ["opmaat.page"]
        assert isinstance(page, SyncPage)
        assert page.consent == "full"
        assert page.profile["referrer"]["medium"] == "search"
        decisions = page.decide(["hero"])
        assert page.decide(["hero"]) == decisions
        decided.append(decisions["hero"])
        start_response("200 OK", [HTML])
        return [PAGE]

    middleware = personalized(app)
    answer = call(middleware, headers=GOOGLE)
    (decision,) = decided
    assert decision.campaign == "search-hero"
    assert answer.slot("hero").attributes["data-opmaat-campaign"] == "search-hero"
    record = stored(middleware, answer.cookie)
    assert record["session"]["pageviews"] == 1


def test_decide_on_a_json_answer_still_sets_the_cookie() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        campaign = environ["opmaat.page"].decide(["hero"])["hero"].campaign
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"campaign": "%s"}' % campaign.encode()]

    answer = call(personalized(app), headers=GOOGLE)
    assert answer.body == b'{"campaign": "search-hero"}'
    assert answer.cookie
    assert answer.header("cache-control") == "private"


def test_an_app_using_write() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        write = start_response("200 OK", [HTML])
        write(PAGE[:40])
        write(PAGE[40:])
        return []

    answer = call(personalized(app), headers=GOOGLE)
    assert answer.slot("hero").attributes["data-opmaat-campaign"] == "search-hero"
    assert answer.header("content-length") == str(len(answer.body))
    assert "Caf\u00e9 content" in answer.body.decode()


def test_an_app_using_write_and_a_generator() -> None:
    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterator[bytes]:
        write = start_response("200 OK", [HTML])
        write(PAGE[:40])
        yield PAGE[40:100]
        yield PAGE[100:]

    answer = call(personalized(app), headers=GOOGLE)
    assert answer.slot("hero").attributes["data-opmaat-campaign"] == "search-hero"
    assert "Caf\u00e9 content" in answer.body.decode()
    assert answer.body.endswith(b"</body></html>")


def test_cdn_key() -> None:
    headers = [HTML, ("Cache-Control", "public, s-maxage=600")]
    app = html_app(PAGE, headers=headers)
    a = call(personalized(app, cdn_key=True), headers=GOOGLE)
    b = call(personalized(app, cdn_key=True), headers=GOOGLE)
    c = call(personalized(app, cdn_key=True))
    assert a.header("cache-control") == "public, s-maxage=600"
    assert a.header("vary") == "X-Opmaat-Key"
    key = a.header("x-opmaat-key")
    assert key is not None
    assert len(key) == 16
    assert a.body == b.body
    assert b.header("x-opmaat-key") == key
    assert a.body != c.body
    assert c.header("x-opmaat-key") != key
    assert any(v.startswith(f"opmaat_key={key};") for v in a.all("set-cookie"))


def in_threads(count: int) -> tuple[list[Answer], list[warnings.WarningMessage]]:
    """Requests served from ``count`` server threads, each ended and collected afterwards;
    with the warnings that the threads' leftovers gave."""
    answers: list[Answer] = []
    middleware = personalized(html_app(PAGE))

    def worker() -> None:
        answers.append(call(middleware, headers=GOOGLE))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        threads = [threading.Thread(target=worker) for _ in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
        gc.collect()
    return answers, caught


def test_works_from_server_threads() -> None:
    answers, _ = in_threads(3)
    assert len(answers) == 3
    for answer in answers:
        assert answer.slot("hero").attributes["data-opmaat-campaign"] == "search-hero"


def test_server_threads_leave_no_event_loop_open() -> None:
    # Was a bug (wsgi.py run): each thread's asyncio.Runner is never closed, so every server thread
    # that ends leaves an open event loop (and its self-pipe sockets) to the garbage
    # collector: ResourceWarning "unclosed event loop".
    _, caught = in_threads(2)
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []
