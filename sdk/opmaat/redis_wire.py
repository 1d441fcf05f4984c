"""One lean connection to a Redis server for the commands every page view sends.

A decide on Redis reads the profile (GET), writes it back if nobody else did (EVALSHA) and
sometimes counts a tally (HINCRBY, HINCRBY, EXPIRE). Through redis-py's asyncio client each
command costs about 45 µs of the worker's CPU (measured on the benchmark machine: its pool,
retry and observability layers and asyncio streams around a 15 µs exchange), more than the rest
of the Redis-specific work of the request. Here the commands of all of a worker's requests
share one connection (an `asyncio.Protocol`, no streams, no pool): the commands called in one
turn of the event loop go out in one write at its end (a system call each cost more than the
rest of the exchange), and Redis answers in the order it was asked, so each reply goes to the
oldest caller still waiting. A caller that gave up (its timeout) still has its reply read and
dropped; any error on the connection fails every caller waiting on it, and the next call
connects again.

Only for a single server over plain TCP (``redis://``, with its user, password and database);
TLS (``rediss://``) and Cluster (``redis-cluster://``) keep redis-py for every command.
Everything but the per-request commands (the cockpit, the event stream, the tallies' reads)
goes through redis-py as before.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, cast

from redis.asyncio.connection import Connection
from redis.exceptions import ResponseError

# Redis's own limit for one bulk string (proto-max-bulk-len's default): a longer one is a
# broken or hostile peer, not data.
MAX_BULK = 512 * 1024 * 1024
MAX_DEPTH = 8  # replies nest arrays only as deep as a script's answer does
Word = bytes | str | int
_INCOMPLETE = object()


class WireError(ConnectionError):
    """The connection failed, closed, or the server sent what RESP does not allow."""


def encode_command(args: tuple[Word, ...]) -> bytes:
    """A command as RESP's array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int):
            data = b"%d" % arg
        else:
            data = arg
        out.append(b"$%d\r\n" % len(data))
        out.append(data)
        out.append(b"\r\n")
    return b"".join(out)


def parse_reply(buf: bytearray | bytes, at: int = 0, depth: int = 0) -> tuple[Any, int]:
    """One reply from ``buf`` at ``at``: (value, where the next one starts), or
    (``_INCOMPLETE``, at) when it has not all arrived. Bulk strings come back as bytes, nil as
    None, an error reply as a `ResponseError` (returned, not raised). WireError when the bytes
    are not RESP2."""
    end = buf.find(b"\r\n", at)
    if end < 0:
        if len(buf) - at > 64 * 1024:  # no header line is this long
            raise WireError("redis sent a line without an end")
        return _INCOMPLETE, at
    kind, head = buf[at : at + 1], bytes(buf[at + 1 : end])
    after = end + 2
    if kind == b"+":
        return head, after
    if kind == b"-":
        return ResponseError(head.decode("utf-8", "replace")), after
    size = _number(head)
    if kind == b":":
        return size, after
    if kind == b"$":
        if size < 0:
            return None, after
        if size > MAX_BULK:
            raise WireError("redis sent a bulk string over its own limit")
        if len(buf) < after + size + 2:
            return _INCOMPLETE, at
        if buf[after + size : after + size + 2] != b"\r\n":
            raise WireError("redis sent a bulk string without its end")
        return bytes(buf[after : after + size]), after + size + 2
    if kind == b"*":
        if size < 0:
            return None, after
        if depth >= MAX_DEPTH or size > 1_000_000:
            raise WireError("redis sent an array nested or sized past any reply of ours")
        items = []
        for _ in range(size):
            item, after = parse_reply(buf, after, depth + 1)
            if item is _INCOMPLETE:
                return _INCOMPLETE, at
            items.append(item)
        return items, after
    raise WireError(f"redis sent a reply of unknown type {kind!r}")


def _number(head: bytes) -> int:
    text = head[1:] if head[:1] == b"-" else head
    if not (text.isdigit() and len(text) <= 19):
        raise WireError("redis sent a malformed number")
    return int(head)


class _Replies(asyncio.Protocol):
    """The connection: callers' futures in the order their commands went out."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.buffer = bytearray()
        self.lost: Exception | None = None
        self.heard = time.monotonic()  # when the server last sent anything
        self.unsent: list[bytes] = []  # commands of this turn of the loop, sent at its end

    def silent_for(self) -> float:
        """Seconds since the server last sent anything while callers wait (0: none wait)."""
        return time.monotonic() - self.heard if self.waiting else 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not subclasses of asyncio's, only alike.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.heard = time.monotonic()
        self.buffer += data
        at = 0
        try:
            while at < len(self.buffer):
                value, after = parse_reply(self.buffer, at)
                if value is _INCOMPLETE:
                    break
                at = after
                if not self.waiting:
                    raise WireError("redis answered a command nobody sent")
                future = self.waiting.popleft()
                if not future.done():  # its caller may have given up: the reply is dropped
                    future.set_result(value)
        except WireError as exc:
            self.fail(exc)
            return
        del self.buffer[:at]

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(WireError("the connection to redis closed") if exc is None else exc)

    def fail(self, exc: Exception) -> None:
        """Every caller still waiting gets ``exc``; the connection is closed."""
        if self.lost is None:
            self.lost = exc if isinstance(exc, OSError) else WireError(str(exc))
        while self.waiting:
            future = self.waiting.popleft()
            if not future.done():
                future.set_exception(self.lost)
        self.buffer.clear()
        if self.transport is not None:
            self.transport.abort()

    def send(self, data: bytes, replies: int) -> list[asyncio.Future[Any]]:
        if self.lost is not None or self.transport is None or self.transport.is_closing():
            raise WireError("the connection to redis closed")
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in range(replies)]
        if not self.waiting:
            self.heard = time.monotonic()  # silence counts from the first caller waiting
        self.waiting.extend(futures)
        if not self.unsent:
            loop.call_soon(self.flush)
        self.unsent.append(data)
        return futures

    def flush(self) -> None:
        """The commands of a turn of the loop in one write (one system call, not one each)."""
        data, self.unsent = b"".join(self.unsent), []
        if self.lost is None and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


class RedisWire:
    """Commands to one Redis server over one shared connection, opened when first needed."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.host, self.port, self.db = host, port, db
        self.username, self.password = username, password
        self._replies: _Replies | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Future[_Replies] | None = None

    @classmethod
    def for_client(cls, client: Any) -> RedisWire | None:
        """The wire for what redis-py's ``client`` connects to, when it is a single server
        over plain TCP; None otherwise (TLS, a Unix socket, a Cluster)."""
        pool = getattr(client, "connection_pool", None)
        if pool is None or pool.connection_class is not Connection:
            return None  # TLS (SSLConnection), a Unix socket, or a pool of another kind
        kw = pool.connection_kwargs
        if not isinstance(kw.get("host"), str) or not isinstance(kw.get("port"), int):
            return None
        return cls(
            kw["host"],
            kw["port"],
            db=int(kw.get("db") or 0),
            username=kw.get("username"),
            password=kw.get("password"),
        )

    async def call(self, *args: Word) -> Any:
        """One command's reply; a `ResponseError` reply is raised."""
        (reply,) = await self.call_many(args)
        return reply

    async def call_many(self, *commands: tuple[Word, ...]) -> list[Any]:
        """Several commands written at once (a pipeline), their replies in order; the first
        error reply among them is raised after all have come back."""
        replies = await self._connection()
        data = b"".join(encode_command(c) for c in commands)
        futures = replies.send(data, len(commands))
        try:
            results = [await future for future in futures]
        except asyncio.CancelledError:
            # The caller gave up (a timeout): what it still waits for is dropped when it comes.
            for future in futures:
                future.cancel()
            raise
        for result in results:
            if isinstance(result, ResponseError):
                raise result
        return results

    async def _connection(self) -> _Replies:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (tests run several): start afresh
            self._replies, self._opening, self._loop = None, None, loop
        replies = self._replies
        if replies is not None and replies.lost is None:
            return replies
        if self._opening is None:
            self._opening = loop.create_future()
            opening = self._opening
            try:
                self._replies = await self._open(loop)
            except BaseException as exc:
                self._opening = None
                failure = exc if isinstance(exc, Exception) else WireError("cancelled")
                opening.set_exception(failure)
                opening.exception()  # retrieved: no "never retrieved" warning if none waits
                raise
            self._opening = None
            opening.set_result(self._replies)
            return self._replies
        return await asyncio.shield(self._opening)

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Replies:
        _, replies = await loop.create_connection(_Replies, self.host, self.port)
        hello: list[tuple[Word, ...]] = []
        if self.password is not None:
            user: tuple[Word, ...] = (self.username,) if self.username else ()
            hello.append((b"AUTH", *user, self.password))
        if self.db:
            hello.append((b"SELECT", self.db))
        try:
            futures = replies.send(b"".join(encode_command(c) for c in hello), len(hello))
            for future in futures:
                answer = await future
                if isinstance(answer, ResponseError):  # its text never holds the password
                    raise WireError(f"redis refused the connection: {answer}")
        except BaseException:
            replies.fail(WireError("the connection to redis could not be set up"))
            raise
        return replies

    def timed_out(self, seconds: float) -> None:
        """A caller gave up after ``seconds``. When the server sent nothing for that long
        while callers waited, the connection is taken for dead (a server gone without a word,
        a network that dropped it): its callers fail now and the next call connects again. A
        server that still answers, only late (a loaded machine), keeps its connection, and
        the callers behind the one that left keep their replies."""
        replies = self._replies
        if replies is not None and replies.silent_for() >= seconds * 0.9:  # timers fire early
            replies.fail(WireError("redis sent nothing in time; connecting again"))
            self._replies = None

    async def close(self) -> None:
        replies, self._replies = self._replies, None
        if replies is not None and replies.transport is not None:
            replies.transport.close()
