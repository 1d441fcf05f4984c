"""Benchmark: one decide request through the whole edge app in-process (no sockets): the
demo campaigns plus 200 generated ones, 3 slots, returning visitors, realistic headers. Each
visitor comes from an address of its own (`bench.http.forwarded_for`, as wrk's visitors do):
from one address, the edge's new-visitor limit would leave 60 of them, all in one place.

What the edge does per request, without the HTTP server around it; `bench.http` measures the
same over the network with wrk.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NamedTuple

from bench.http import campaign_folder, forwarded_for
from opmaat_edge.app import create_app
from opmaat_edge.settings import EdgeSettings

KEY = "bench-signing-key-0123456789"
BODY = json.dumps(
    {
        "slots": ["hero", "sidebar", "offer"],
        "url": "https://shop.example/c/running",
        "referrer": "https://www.google.com/search?q=trail+shoes",
        "page": {"category": "running"},
    }
).encode()
HEADERS = [
    (b"host", b"shop.example"),
    (
        b"user-agent",
        b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        b"Chrome/120.0.0.0 Safari/537.36",
    ),
    (b"accept", b"*/*"),
    (b"accept-language", b"nl-NL,nl;q=0.9,en;q=0.8"),
    (b"content-type", b"text/plain;charset=UTF-8"),
    (b"x-forwarded-for", b"203.0.113.7"),
]


class Visitor(NamedTuple):
    """A returning visitor: its Cookie header and its address (X-Forwarded-For)."""

    cookie: bytes
    address: bytes


async def call(
    app: Any,
    cookie: bytes | None,
    *,
    method: str = "POST",
    path: str = "/v1/decide",
    address: bytes | None = None,
) -> list[dict[str, Any]]:
    """One request (a decide: ``BODY``, ``HEADERS``, ``cookie``; ``address`` in place of the
    headers' X-Forwarded-For) through ``app``; what it sent back."""
    headers = [h for h in HEADERS if address is None or h[0] != b"x-forwarded-for"]
    headers += [(b"x-forwarded-for", address)] if address is not None else []
    headers += [(b"cookie", cookie)] if cookie else []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
        "root_path": "",
    }
    sent: list[dict[str, Any]] = []
    given = False

    async def receive() -> dict[str, Any]:
        nonlocal given
        if not given:
            given = True
            body = BODY if method == "POST" else b""
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


@contextlib.asynccontextmanager
async def edge_app(visitors: int) -> AsyncIterator[tuple[Any, list[Visitor]]]:
    """The edge app on the benchmark's campaign file, and ``visitors`` returning visitors (each
    made by a first decide from its own address)."""
    with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(io.StringIO()):
        config, _ = campaign_folder(Path(folder))
        app = create_app(EdgeSettings(config=str(config), secret_keys=(KEY,), dev=True))
        made = []
        for i in range(visitors):
            address = forwarded_for(i).encode()
            start = (await call(app, None, address=address))[0]
            assert start["status"] == 200, start
            cookies = [v.split(b";")[0] for k, v in start["headers"] if k == b"set-cookie"]
            assert cookies, f"visitor {i} got no cookie"
            made.append(Visitor(cookies[0], address))
        yield app, made


async def _measure(runs: int, visitors: int, rounds: int) -> float:
    async with edge_app(visitors) as (app, people):
        medians = []
        for _ in range(rounds):
            started = time.perf_counter()
            for i in range(runs):
                cookie, address = people[i % len(people)]
                await call(app, cookie, address=address)
            medians.append((time.perf_counter() - started) / runs * 1e6)
        return statistics.median(medians)


def run(runs: int = 2000, visitors: int = 300, rounds: int = 5) -> float:
    """Median µs per decide request through the app (the median of ``rounds`` means)."""
    return asyncio.run(_measure(runs, visitors, rounds))


if __name__ == "__main__":
    print(f"decide request through the edge app, in-process: {run():.0f} µs")
