"""Benchmark: what the ASGI middleware adds to a 50 KB HTML page with three slots
(target: median ≤ 1 ms). The same page is served by the bare app and through the middleware,
in-process, for a returning visitor (cookie, stored profile, a campaign filling the hero)."""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

from starlette.types import Message, Receive, Scope, Send

from opmaat.middleware import OpmaatMiddleware
from opmaat_edge.resources import DEMO_CAMPAIGNS

PARAGRAPH = (
    '<p class="copy">Trail shoes, rain jackets and <a href="/c/outdoor?ref=home&amp;x=1">tents'
    "</a> for a weekend away; free returns for sixty days on everything you order here.</p>\n"
)
SLOTS = (
    '<div class="hero" data-opmaat-slot="hero"><h2>Welcome</h2><p>Gear for outdoors.</p></div>',
    '<aside data-opmaat-slot="sidebar"><p>Free shipping on orders over 50.</p></aside>',
    '<div data-opmaat-slot="cart_banner"><p>Checkout is one click away.</p></div>',
)


def fifty_kb_page() -> bytes:
    head = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>'
        '<meta name="opmaat:category" content="running"><script>var slots = '
        "'<div data-opmaat-slot=\"fake\">';</script><style>.hero{min-height:160px}</style>"
        "</head><body>"
    )
    parts = [head]
    for slot in SLOTS:
        parts += [PARAGRAPH * 96, slot]
    parts.append("</body></html>")
    return "".join(parts).encode()


PAGE = fifty_kb_page()


async def page_app(scope: Scope, receive: Receive, send: Send) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(PAGE)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": PAGE})


def scope_for(cookie: str | None) -> Scope:
    headers = [
        (b"host", b"shop.example"),
        (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36"),
        (b"referer", b"https://www.google.com/search?q=trail+shoes"),
    ]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("198.51.100.4", 50000),
        "server": ("shop.example", 443),
    }


async def serve(app: Any, scope: Scope) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def median_seconds(app: Any, scope: Scope, runs: int) -> float:
    for _ in range(30):
        await serve(app, scope)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await serve(app, scope)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


async def measure(runs: int) -> dict[str, float]:
    wrapped = OpmaatMiddleware(
        page_app, config=DEMO_CAMPAIGNS, secret_keys=["bench-signing-key-0123456789"]
    )
    first = await serve(wrapped, scope_for(None))
    cookie = next(v for k, v in first[0]["headers"] if k == b"set-cookie").decode()
    scope = scope_for(cookie.split(";")[0])
    body = (await serve(wrapped, scope))[1]["body"]
    assert body.count(b'data-opmaat-filled="server"') == 3, "all three slots must be filled"
    assert b"Found us on Google?" in body, "the benchmark must exercise a campaign"
    bare = await median_seconds(page_app, scope, runs)
    through = await median_seconds(wrapped, scope, runs)
    return {"bare": bare * 1e3, "middleware": through * 1e3, "added": (through - bare) * 1e3}


def run(runs: int = 2000) -> dict[str, float]:
    """Median ms per request: the bare app, through the middleware, and the difference."""
    return asyncio.run(measure(runs))


if __name__ == "__main__":
    ms = run()
    print(
        f"middleware on a {len(PAGE) / 1024:.0f} KB page with 3 slots: added median "
        f"{ms['added']:.3f} ms (bare app {ms['bare']:.3f} ms, through it {ms['middleware']:.3f} ms;"
        " target ≤ 1 ms)"
    )
