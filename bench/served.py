"""Benchmark: a decide request as the edge's HTTP server serves it, without sockets.

    .venv/bin/python -m bench.served

`bench.request` hands the edge app an ASGI scope; wrk (`bench.http`) goes through the kernel's
TCP stack, and on this 2-core machine shares the CPUs with the server, so its figures move by
a tenth between runs. Here the bytes of wrk's request (`bench.http`'s browser headers, a
returning visitor's cookie and address, the decide body) are fed to the protocol a worker of
`opmaat serve` runs (`server_limits.LimitedHttpProtocol` over uvicorn's httptools parser,
with `opmaat serve`'s uvicorn settings, on uvloop) on a kept-alive connection, and its
answer is taken from a transport that keeps what is written to it: the parser, the ASGI
cycle, the edge's guard, the decide and the answer's send, everything but the system calls.

Bare Starlette answering "ok" is served the same way (uvicorn's own protocol, as
`bench.http`'s bare app runs), with the same headers on a GET, so the ratio of the two is the
in-process counterpart of wrk's edge/bare. `bench.instructions served` and `served-bare`
count the instructions of the same requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from bench import request
from bench.http import HEADERS
from opmaat_edge.cli import SERVER_SETTINGS
from opmaat_edge.server_limits import LimitedHttpProtocol
from opmaat_edge.settings import ServerLimits

One = Callable[[int], Awaitable[bytes]]


def new_loop() -> asyncio.AbstractEventLoop:
    """The event loop a worker runs: uvloop's when it is installed (uvicorn's "auto")."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class MemoryTransport(asyncio.Transport):
    """A connection's transport that keeps what is written to it, each write apart."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closing = False
        self.protocol: Any = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def get_protocol(self) -> Any:
        return self.protocol


def raw_request(
    method: str, path: str, body: bytes, cookie: bytes | None, address: bytes | None
) -> bytes:
    """The bytes wrk sends (`bench.http.wrk_script`): the browser's headers, the visitor's
    Cookie and X-Forwarded-For, and the body."""
    headers = {"Host": "127.0.0.1:8000", **HEADERS}
    if not body:
        headers.pop("Content-Type", None)
    lines = [f"{method} {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
    if cookie is not None:
        lines.append("Cookie: " + cookie.decode("latin-1"))
    if address is not None:
        lines.append("X-Forwarded-For: " + address.decode("latin-1"))
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def connection(app: Any, protocol: type[HttpToolsProtocol]) -> tuple[Any, MemoryTransport]:
    """A kept-alive connection to ``app`` served by ``protocol`` under `opmaat serve`'s
    uvicorn settings."""
    settings = {k: v for k, v in SERVER_SETTINGS.items() if k != "factory"}
    config = Config(app=app, lifespan="off", ws="none", **settings)
    config.load()
    loop = asyncio.get_running_loop()
    if protocol is LimitedHttpProtocol:
        served: Any = LimitedHttpProtocol(config, ServerState(), {}, loop, limits=ServerLimits())
    else:
        served = protocol(config, ServerState(), {}, loop)
    transport = MemoryTransport()
    transport.set_protocol(served)
    served.connection_made(transport)
    return served, transport


async def answer(served: Any, transport: MemoryTransport, data: bytes) -> bytes:
    """Feed ``data`` (one request) and wait until its answer is complete; the answer."""
    transport.writes.clear()
    served.data_received(data)
    cycle = served.cycle
    while not cycle.response_complete:
        await asyncio.sleep(0)
    return b"".join(transport.writes)


@contextlib.asynccontextmanager
async def edge(visitors: int) -> AsyncIterator[One]:
    """Decide requests of `bench.request`'s returning visitors, served by the edge's protocol."""
    async with request.edge_app(visitors) as (app, people):
        served, transport = connection(app, LimitedHttpProtocol)
        requests = [
            raw_request("POST", "/v1/decide", request.BODY, cookie, address)
            for cookie, address in people
        ]

        async def one(i: int) -> bytes:
            return await answer(served, transport, requests[i % len(requests)])

        yield one


@contextlib.asynccontextmanager
async def bare(visitors: int) -> AsyncIterator[One]:
    """Bare Starlette's "ok" (bench/bare_app.py) served by uvicorn's protocol, the same
    headers on a GET."""
    from bench import bare_app

    served, transport = connection(bare_app.create_app(), HttpToolsProtocol)
    data = raw_request("GET", "/", b"", b"opmaat=x", b"203.0.113.7")

    async def one(i: int) -> bytes:
        return await answer(served, transport, data)

    yield one


async def _timed(factory: Callable[[int], Any], runs: int, rounds: int) -> float:
    async with factory(300) as one:
        for i in range(300):  # warm up, and check that it answers
            sent = await one(i)
            if not sent.startswith(b"HTTP/1.1 200 OK\r\n"):
                raise RuntimeError(f"not answered: {sent[:200]!r}")
        means = []
        for _ in range(rounds):
            started = time.perf_counter()
            for i in range(runs):
                await one(i)
            means.append((time.perf_counter() - started) / runs * 1e6)
        return statistics.median(means)


def run(runs: int = 2000, rounds: int = 5) -> dict[str, float]:
    """Median µs per served request of the edge's decide and of bare Starlette (the median of
    ``rounds`` means), and their ratio."""
    with asyncio.Runner(loop_factory=new_loop) as runner:
        bare_us = runner.run(_timed(bare, runs * 4, rounds))
    with asyncio.Runner(loop_factory=new_loop) as runner:
        edge_us = runner.run(_timed(edge, runs, rounds))
    return {"edge_us": edge_us, "bare_us": bare_us, "bare_over_edge": bare_us / edge_us}


if __name__ == "__main__":
    result = run()
    print(
        f"served in-process: edge decide {result['edge_us']:.0f} µs, bare Starlette "
        f"{result['bare_us']:.1f} µs; bare/edge {result['bare_over_edge']:.3f}"
    )
