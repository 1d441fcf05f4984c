"""The ASGI middleware: Starlette, FastAPI, Django's ASGI handler, anything ASGI 3."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Sequence

from starlette.datastructures import URL
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opmaat.middleware.page import BodyRewriter, PagePersonalization, html_charset
from opmaat.middleware.settings import build_personalizer, personalized_headers
from opmaat.personalizer import Personalizer
from opmaat.store import ProfileStore

log = logging.getLogger("opmaat")


class OpmaatMiddleware:
    """Personalizes a web app's HTML: ``request.state.opmaat`` for handlers, and every
    ``data-opmaat-slot`` element of a ``text/html`` answer filled before it leaves.

    Pass ``config`` (the campaign file) and ``secret_keys`` (the edge's, to share its cookie;
    default ``OPMAAT_SECRET_KEYS``), or a ready ``personalizer``. ``cdn_key`` adds the
    ``X-Opmaat-Key`` header and cookie for CDNs that cache per decision (docs/middleware.md).
    """

    def __init__(
        self,
        app: ASGIApp,
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
        # A personalizer handed in is someone else's to maintain (the edge's, in the demo).
        self.maintained = personalizer is None
        self.personalizer = personalizer or build_personalizer(
            config, secret_keys, store, secure_cookies
        )
        self.cdn_key = cdn_key
        self.reload_interval = reload_interval

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and self.maintained:
            await self._lifespan(scope, receive, send)
            return
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        client = scope.get("client")
        try:
            visit = await self.personalizer.open(
                peer=client[0] if client else None,
                headers=headers,
                cookies=cookie_parser(headers.get("cookie", "")),
            )
        except Exception:
            # The store or the campaigns failing must not take the site down with them.
            log.exception("opmaat: could not open the visit; passing the request through")
            await self.app(scope, receive, send)
            return
        page = PagePersonalization(
            visit, url=str(URL(scope=scope)), referrer=headers.get("referer")
        )
        scope.setdefault("state", {})["opmaat"] = page
        await self.app(scope, receive, _Responder(page, send, self.cdn_key).send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        # While the app runs: reload the campaign file when it changes, follow pauses and the
        # campaign file other nodes share through the store.
        task: asyncio.Task[None] | None = None

        async def watch_receive() -> Message:
            nonlocal task
            message = await receive()
            if message["type"] == "lifespan.startup" and task is None:
                task = asyncio.create_task(self.personalizer.maintain(self.reload_interval))
            elif message["type"] == "lifespan.shutdown" and task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            return message

        await self.app(scope, watch_receive, send)


class _Responder:
    # One response on its way out: passed through, or held and rewritten.

    def __init__(self, page: PagePersonalization, send: Send, cdn_key: bool) -> None:
        self.page = page
        self.downstream = send
        self.cdn_key = cdn_key
        self.start: Message | None = None
        self.rewriter: BodyRewriter | None = None
        self.passing = False
        self.streaming = False

    async def send(self, message: Message) -> None:
        if self.passing:
            await self.downstream(message)
        elif message["type"] == "http.response.start":
            await self._start(message)
        elif message["type"] == "http.response.body":
            await self._body(message)
        elif message["type"] == "http.response.debug":
            # Test clients' template info (Starlette sends it before the start): not a body.
            await self.downstream(message)
        else:
            # Another way to send the body (http.response.pathsend, zerocopysend): let the
            # held start go first, unchanged but for the cookies, and step aside.
            if self.start is not None and not self.streaming:
                headers = _header_list(self.start)
                if self.page.touched:
                    headers = self._personalized(headers)
                await self.downstream({**self.start, "headers": headers})
            self.passing = True
            await self.downstream(message)

    async def _start(self, message: Message) -> None:
        headers = _header_list(message)
        charset = html_charset(_get(headers, "content-type") or "")
        encoding = (_get(headers, "content-encoding") or "identity").strip().lower()
        if message["status"] != 200 or charset is None or encoding != "identity":
            self.passing = True
            if self.page.touched:
                message = {**message, "headers": self._personalized(headers)}
            await self.downstream(message)
            return
        self.start = message
        self.rewriter = BodyRewriter(self.page, charset, shared=self.cdn_key)

    async def _body(self, message: Message) -> None:
        assert self.start is not None
        assert self.rewriter is not None
        body: bytes = message.get("body", b"")
        more = bool(message.get("more_body", False))
        if not self.streaming and not more:
            await self._whole(body)
            return
        if not self.streaming:
            # A streamed page: count the page view now, so its cookie can go with the headers.
            self.streaming = True
            await self.page.decide([])
            headers = [h for h in _header_list(self.start) if h[0].lower() != b"content-length"]
            await self.downstream({**self.start, "headers": self._personalized(headers)})
        out = await self.rewriter.feed(body, final=not more)
        await self.downstream({"type": "http.response.body", "body": out, "more_body": more})

    async def _whole(self, body: bytes) -> None:
        assert self.start is not None
        assert self.rewriter is not None
        headers = _header_list(self.start)
        out = await self.rewriter.feed(body, final=True)
        if not self.page.touched:
            out = body  # no slots: not one byte changed
        else:
            headers = [h for h in headers if h[0].lower() != b"content-length"]
            headers = [*self._personalized(headers), (b"content-length", str(len(out)).encode())]
        await self.downstream({**self.start, "headers": headers})
        await self.downstream({"type": "http.response.body", "body": out, "more_body": False})

    def _personalized(self, headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        text = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
        return [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in personalized_headers(text, self.page, self.cdn_key)
        ]


def _header_list(message: Message) -> list[tuple[bytes, bytes]]:
    return [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]


def _get(headers: list[tuple[bytes, bytes]], name: str) -> str | None:
    key = name.encode("latin-1")
    for k, v in headers:
        if k.lower() == key:
            return v.decode("latin-1")
    return None
