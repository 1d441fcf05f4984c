"""Benchmark: one decide request through the whole edge app in-process (no sockets): the
demo campaigns plus 200 generated ones, 3 slots, returning visitors, realistic headers.

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
from typing import Any

from bench.http import campaign_folder
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


async def call(
    app: Any, cookie: bytes | None, *, method: str = "POST", path: str = "/v1/decide"
) -> list[dict[str, Any]]:
    """One request (a decide: ``BODY``, ``HEADERS``, ``cookie``) through ``app``; what it
    sent back."""
    headers = [*HEADERS, *([(b"cookie", cookie)] if cookie else [])]
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
async def edge_app(visitors: int) -> AsyncIterator[tuple[Any, list[bytes]]]:
    """The edge app on the benchmark's campaign file, and the cookies of ``visitors`` returning
    visitors (each made by a first decide)."""
    with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(io.StringIO()):
        config, _ = campaign_folder(Path(folder))
        app = create_app(EdgeSettings(config=str(config), secret_keys=(KEY,), dev=True))
        cookies = []
        for _ in range(visitors):
            start = (await call(app, None))[0]
            assert start["status"] == 200, start
            cookies += [v.split(b";")[0] for k, v in start["headers"] if k == b"set-cookie"]
        yield app, cookies


async def _measure(runs: int, visitors: int, rounds: int) -> float:
    async with edge_app(visitors) as (app, cookies):
        medians = []
        for _ in range(rounds):
            started = time.perf_counter()
            for i in range(runs):
                await call(app, cookies[i % len(cookies)])
            medians.append((time.perf_counter() - started) / runs * 1e6)
        return statistics.median(medians)


def run(runs: int = 2000, visitors: int = 300, rounds: int = 5) -> float:
    """Median µs per decide request through the app (the median of ``rounds`` means)."""
    return asyncio.run(_measure(runs, visitors, rounds))


if __name__ == "__main__":
    print(f"decide request through the edge app, in-process: {run():.0f} µs")
