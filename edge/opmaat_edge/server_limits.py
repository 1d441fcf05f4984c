"""The edge's HTTP/1.1 protocol: uvicorn's httptools protocol with limits on slow and huge
requests and on connections (settings.ServerLimits).

uvicorn by itself waits for a request's headers as long as the client likes, buffers them
whatever their size, and accepts connections until the process runs out of open files: 300
idle sockets stayed open for good, an 8 MB header was answered, and 1,100 idle sockets under
`ulimit -n 1024` made every new request fail. Here:

- a request's header block must be complete within ``header_timeout`` of the connection's
  start or of the previous answer's end, and its body within ``body_timeout`` of its headers,
  however steadily the bytes trickle in; past either the connection is closed;
- a header block longer than ``max_header_bytes`` is answered 431 and the connection closed,
  after reading no more than that;
- past ``max_connections`` open connections, a new one is closed before a byte of it is
  read (not answered: that would be a 5xx);
- `open_files_for` makes sure the process may open the files those connections need.

It also sends an answer's header block together with the first piece of its body: uvicorn
writes them one after the other, two sends and two TCP segments for every answer, and a
second wake-up of the client (a third of the system calls of a decide served over HTTP/1.1).
"""

from __future__ import annotations

import asyncio
import functools
import resource
from typing import Any

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from opmaat_edge.settings import ServerLimits

# A connection's socket, and a Redis connection while its request waits on the store
# (redis-py's pool opens one for each call in flight).
FILES_PER_CONNECTION = 2
# A worker's open files besides (14 for a demo edge: its log, event loop, pipes and socket).
SPARE_FILES = 64
# A timer may run this much before its time (the loop's clock resolution).
TIMER_SLACK = 0.001

_TOO_LARGE_BODY = b'{"error": "request header too large"}'
TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
    b"x-content-type-options: nosniff\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_TOO_LARGE_BODY), _TOO_LARGE_BODY)
)


@functools.cache
def _worker_limits() -> ServerLimits:
    # Read once per worker, from the environment `opmaat serve` checked before starting it.
    return ServerLimits.from_env()


class OneWrite:
    """The connection's transport as one request's cycle sees it: the answer's header block
    waits for the answer's first body write (or the end of the loop's turn, whichever comes
    first, so a streamed answer's headers never wait for its body) and goes out with it."""

    __slots__ = ("cycle", "held", "loop", "transport")

    def __init__(
        self,
        transport: asyncio.Transport,
        cycle: RequestResponseCycle,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.transport = transport
        self.cycle: RequestResponseCycle | None = cycle  # None once the header block came
        self.loop = loop
        self.held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self.held
        if held is not None:
            self.held = None
            self.transport.write(held + data)
        elif self.cycle is not None and self.cycle.response_started:
            # The header block: uvicorn marks the answer started just before writing it.
            self.cycle = None  # no longer needed (and no reference cycle left to collect)
            self.held = data
            self.loop.call_soon(self.flush)
        else:
            self.transport.write(data)  # "100 Continue" before the answer, or more body

    def flush(self) -> None:
        held = self.held
        if held is not None:
            self.held = None
            if not self.transport.is_closing():
                self.transport.write(held)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()


class LimitedHttpProtocol(HttpToolsProtocol):
    """One connection, as uvicorn's httptools protocol serves it, within the limits."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        limits: ServerLimits | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits or _worker_limits()
        # What the current request's header block may still take; None from its end to the
        # end of the request's body (the next byte after that begins the next request).
        self.header_room: int | None = self.limits.max_header_bytes
        # When the connection is closed unless the header block (or the body) is complete by
        # then: loop.time(); None while a request is being answered. One timer per connection
        # looks at it (a deadline moved later re-arms the timer when it fires), so a request
        # sets a number where it would start and cancel two timers.
        self.deadline: float | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections:
            self.transport = transport  # for connection_lost
            transport.close()
            return
        super().connection_made(transport)
        self.wait(self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # Fed to the parser no more than the header block's room at a time, so a header
        # block past the limit is refused after exactly that many bytes, while one that ends
        # within it (its body in the same read) is not. A request that begins in the same
        # piece as the one before it ends (pipelining) gets up to one piece more.
        room = self.header_room
        if 0 < len(data) <= (self.limits.max_header_bytes if room is None else room):
            if room is not None:  # one piece: nearly every read
                self.header_room = room - len(data)
            super().data_received(data)
        else:
            self._in_pieces(data)
        if self.header_room is None and self.deadline is None:
            self.wait(self.limits.body_timeout)

    def _in_pieces(self, data: bytes) -> None:
        rest = memoryview(data)
        while rest:
            room = self.header_room
            if room == 0:
                self.transport.write(TOO_LARGE)
                self.transport.close()
                return
            size = self.limits.max_header_bytes if room is None else room
            piece, rest = rest[:size], rest[size:]
            if room is not None:
                self.header_room = room - len(piece)
            super().data_received(piece)  # type: ignore[arg-type]  # the parser takes any buffer
            if self.transport.is_closing() or self.transport.get_protocol() is not self:
                return  # refused by the parser, or handed to the WebSocket protocol

    def on_headers_complete(self) -> None:
        self.header_room = None
        self.deadline = None
        super().on_headers_complete()
        cycle = self.cycle  # a new one, unless the request was handed to the WebSocket side
        if cycle is not None and cycle.transport is self.transport:
            cycle.transport = OneWrite(self.transport, cycle, self.loop)  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        self.header_room = self.limits.max_header_bytes
        self.deadline = None
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.timeout_keep_alive_task is not None:  # waiting for the next request
            self.wait(self.limits.header_timeout)

    def wait(self, seconds: float) -> None:
        """Close the connection ``seconds`` from now unless what it waits for comes first."""
        deadline = self.deadline = self.loop.time() + seconds
        timer = self.timer
        if timer is None or deadline < timer.when():
            if timer is not None:
                timer.cancel()
            self.timer = self.loop.call_at(deadline, self.check)

    def check(self) -> None:
        self.timer = None
        deadline = self.deadline
        if deadline is None:
            return  # answering a request: the next wait arms the timer again
        if deadline - self.loop.time() > TIMER_SLACK:
            self.timer = self.loop.call_at(deadline, self.check)
        else:
            self.time_out()

    def time_out(self) -> None:
        self.stop_timers()
        if self.transport.get_protocol() is self:  # not handed to the WebSocket side since
            self.transport.close()

    def stop_timers(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.deadline = None


def open_files_for(connections: int) -> int:
    """How many connections this process (and the workers it starts) may hold: raises the soft
    limit on open files to fit them when the hard limit allows (as Go does at start), else
    fewer."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections * FILES_PER_CONNECTION + SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < wanted:
        soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    if soft == resource.RLIM_INFINITY:
        return connections
    return max(1, min(connections, (soft - SPARE_FILES) // FILES_PER_CONNECTION))
