"""The WSGI middleware: Flask, Django's WSGI handler, anything WSGI."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar
from wsgiref.util import request_uri

from starlette.requests import cookie_parser

from opmaat.engine import Decision
from opmaat.middleware.page import BodyRewriter, PagePersonalization, html_charset
from opmaat.middleware.settings import build_personalizer, personalized_headers
from opmaat.personalizer import Personalizer
from opmaat.store import ProfileStore

log = logging.getLogger("opmaat")
ENVIRON_KEY = "opmaat.page"
MAX_WHOLE_BODY = 8 * 1024 * 1024
T = TypeVar("T")
ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | None
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _loop_lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="opmaat-loop", daemon=True).start()
            _loop = loop
        return _loop


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` from synchronous code. The store's async calls all run on one event loop
    in a background thread, shared by every WSGI worker thread of the process, so clients
    bound to a loop (Redis) keep working."""
    return asyncio.run_coroutine_threadsafe(coro, _background_loop()).result()


def maintain_in_background(personalizer: Personalizer, interval: float) -> None:
    """Reload the campaign file and follow other nodes (Personalizer.maintain) on the
    background loop, for as long as the process runs."""
    asyncio.run_coroutine_threadsafe(personalizer.maintain(interval), _background_loop())


class SyncPage:
    """``environ["opmaat.page"]``: the page's personalization, with a synchronous ``decide``."""

    def __init__(self, page: PagePersonalization) -> None:
        self.page = page

    @property
    def profile(self) -> dict[str, Any]:
        return self.page.profile

    @property
    def consent(self) -> str:
        return self.page.consent

    def decide(self, slots: Sequence[str]) -> dict[str, Decision]:
        return run(self.page.decide(slots))

    def track(self, name: str, props: Mapping[str, Any] | None = None) -> None:
        run(self.page.track(name, props))

    def identify(self, customer_id: str) -> bool:
        return run(self.page.identify(customer_id))


class OpmaatWSGIMiddleware:
    """The WSGI twin of OpmaatMiddleware: ``app.wsgi_app = OpmaatWSGIMiddleware(app.wsgi_app,
    config=..., secret_keys=...)``. Same options, same decisions, same cookie."""

    def __init__(
        self,
        app: WSGIApp,
        *,
        config: str | os.PathLike[str] | None = None,
        secret_keys: Sequence[str] | None = None,
        store: ProfileStore | None = None,
        personalizer: Personalizer | None = None,
        secure_cookies: bool = True,
        cdn_key: bool = False,
        reload_interval: float = 1.0,
    ) -> None:
        self.app = app
        self.personalizer = personalizer or build_personalizer(
            config, secret_keys, store, secure_cookies
        )
        if personalizer is None:
            maintain_in_background(self.personalizer, reload_interval)
        self.cdn_key = cdn_key

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "GET":
            return self.app(environ, start_response)
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_") and isinstance(value, str)
        }
        try:
            visit = run(
                self.personalizer.open(
                    peer=environ.get("REMOTE_ADDR"),
                    headers=headers,
                    cookies=cookie_parser(headers.get("cookie", "")),
                )
            )
        except Exception:
            log.exception("opmaat: could not open the visit; passing the request through")
            return self.app(environ, start_response)
        page = PagePersonalization(visit, url=request_uri(environ), referrer=headers.get("referer"))
        environ[ENVIRON_KEY] = SyncPage(page)
        return _Response(self.app, environ, start_response, page, self.cdn_key)


class _Response:
    # The app's answer on its way out: its start_response is held until the first bytes are
    # ready, so the headers can still change.

    def __init__(
        self,
        app: WSGIApp,
        environ: dict[str, Any],
        start_response: StartResponse,
        page: PagePersonalization,
        cdn_key: bool,
    ) -> None:
        self.start_response = start_response
        self.page = page
        self.cdn_key = cdn_key
        self.status = ""
        self.headers: list[tuple[str, str]] = []
        self.exc_info: ExcInfo = None
        self.written: list[bytes] = []
        self.result = app(environ, self._capture)

    def _capture(
        self, status: str, headers: list[tuple[str, str]], exc_info: ExcInfo = None
    ) -> Callable[[bytes], object]:
        self.status, self.headers, self.exc_info = status, list(headers), exc_info
        return self.written.append

    def close(self) -> None:
        close = getattr(self.result, "close", None)
        if close is not None:
            close()

    def __iter__(self) -> Iterator[bytes]:
        chunks = iter(self.result)
        first = next(chunks, None)
        content_type = _get(self.headers, "content-type") or ""
        charset = html_charset(content_type)
        encoding = (_get(self.headers, "content-encoding") or "identity").strip().lower()
        if not self.status.startswith("200") or charset is None or encoding != "identity":
            yield from self._pass(first, chunks)
            return
        rewriter = BodyRewriter(self.page, charset, shared=self.cdn_key)
        # A body of known length (a list, or a declared Content-Length) is rewritten whole;
        # anything else is a stream and is filled as it goes.
        length = _get(self.headers, "content-length") or ""
        fixed = isinstance(self.result, list | tuple) or (
            length.isdigit() and int(length) <= MAX_WHOLE_BODY
        )
        if fixed or first is None:
            body = b"".join(self.written) + b"".join([first or b"", *chunks])
            yield from self._whole(rewriter, body)
            return
        yield from self._stream(rewriter, first, chunks)

    def _pass(self, first: bytes | None, chunks: Iterator[bytes]) -> Iterator[bytes]:
        headers = self.headers
        if self.page.touched:
            headers = personalized_headers(headers, self.page, self.cdn_key)
        self.start_response(self.status, headers, self.exc_info)
        yield from self.written
        if first is not None:
            yield first
        yield from chunks

    def _whole(self, rewriter: BodyRewriter, body: bytes) -> Iterator[bytes]:
        out = run(rewriter.feed(body, final=True))
        headers = self.headers
        if self.page.touched:
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers = personalized_headers(headers, self.page, self.cdn_key)
            headers.append(("Content-Length", str(len(out))))
        else:
            out = body
        self.start_response(self.status, headers, self.exc_info)
        yield out

    def _stream(
        self, rewriter: BodyRewriter, first: bytes, chunks: Iterator[bytes]
    ) -> Iterator[bytes]:
        run(self.page.decide([]))  # the page view, so its cookie goes with the headers
        headers = [(k, v) for k, v in self.headers if k.lower() != "content-length"]
        self.start_response(
            self.status, personalized_headers(headers, self.page, self.cdn_key), self.exc_info
        )
        for chunk in [*self.written, first]:
            yield run(rewriter.feed(chunk, final=False))
        for chunk in chunks:
            yield run(rewriter.feed(chunk, final=False))
        yield run(rewriter.feed(b"", final=True))


def _get(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None
