"""Profiles, campaign tallies, the event stream and the shared campaign file on Redis.

For several edge nodes (and middleware processes) behind one load balancer. Every call has a
short timeout; after a few failures in a row a circuit breaker (opmaat.breaker) stops calling
Redis for a while.

Keys (``PREFIX`` is ``opmaat``; braces are Redis Cluster hash tags):

- ``opmaat:{VISITOR}:profile``: the visitor's record, compact JSON, with the record's TTL;
- ``opmaat:stats:{CAMPAIGN}``: a hash, field ``VARIANT:impressions|clicks|conversions``;
- ``opmaat:events``: a stream, capped (approximately) at ``stream_maxlen`` entries;
- ``opmaat:{config}:version`` and ``opmaat:{config}:text``: the campaign file nodes share;
- ``opmaat:expiring:{NAME}``: a short-lived value (a cockpit session), with its TTL;
- ``opmaat:count:{NAME}``: a counter (new profiles per address and minute), with its TTL.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import RedisClusterException, RedisError, ResponseError

from opmaat.breaker import CircuitBreaker as CircuitBreaker
from opmaat.breaker import StoreUnavailable as StoreUnavailable
from opmaat.redis_wire import RedisWire, Word
from opmaat.store import (
    DAILY_DAYS,
    MAX_SCOPE_VISITORS,
    TALLY_FIELDS,
    Daily,
    Record,
    SharedConfig,
    StoredProfile,
    Tallies,
    decode_record,
    encode_record,
    tally_day,
)

T = TypeVar("T")
log = logging.getLogger("opmaat.store")
PREFIX = "opmaat"


class RedisStore:
    """A ProfileStore on Redis (a single server or a Cluster), with tallies and events."""

    def __init__(
        self,
        client: Redis | RedisCluster,
        *,
        timeout: float = 0.1,
        breaker: CircuitBreaker | None = None,
        stream_maxlen: int = 100_000,
        prefix: str = PREFIX,
    ) -> None:
        self.client = client
        self.timeout = timeout
        self.breaker = breaker or CircuitBreaker()
        self.stream_maxlen = stream_maxlen
        self.prefix = prefix
        self.errors = 0
        self._store_if = client.register_script(_STORE_IF)
        self._bump = client.register_script(_BUMP)
        # The commands of every page view (the profile's read and write, tallies, the
        # new-visitor count) over one lean connection where it can be (opmaat/redis_wire.py).
        self.wire = RedisWire.for_client(client)

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        """``redis://host:port/db`` or ``redis-cluster://host:port`` (any node), with optional
        ``?timeout_ms=100&breaker_failures=3&breaker_cooldown_s=5&stream_maxlen=100000``."""
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if parts.password:
            url = url.replace(parts.password, "***")  # error messages never show it
        try:
            timeout = int(query.pop("timeout_ms", "100")) / 1000
            failures = int(query.pop("breaker_failures", "3"))
            cooldown = float(query.pop("breaker_cooldown_s", "5"))
            maxlen = int(query.pop("stream_maxlen", "100000"))
        except ValueError:
            raise ValueError(f"store URL {url!r}: options must be numbers") from None
        if query:
            raise ValueError(f"store URL {url!r}: unknown option {sorted(query)[0]!r}")
        if not (0 < timeout <= 10 and failures >= 1 and cooldown >= 0 and maxlen >= 1):
            raise ValueError(f"store URL {url!r}: an option is out of range")
        plain = parts._replace(query="")
        options: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
        }
        client: Redis | RedisCluster
        if parts.scheme == "redis-cluster":
            client = RedisCluster.from_url(plain._replace(scheme="redis").geturl(), **options)
        elif parts.scheme in ("redis", "rediss"):
            client = Redis.from_url(plain.geturl(), **options)
        else:
            raise ValueError(f"store URL {url!r}: use redis://, rediss:// or redis-cluster://")
        return cls(
            client,
            timeout=timeout,
            breaker=CircuitBreaker(failures, cooldown),
            stream_maxlen=maxlen,
        )

    @property
    def state(self) -> str:
        return self.breaker.state

    async def memory_warning(self) -> str | None:
        """What is wrong with how this Redis bounds its memory (docs/security.md), or None.
        Profiles carry a TTL, tallies and the campaign file do not: ``maxmemory`` with
        ``volatile-lru`` (or another ``volatile-`` policy) lets a flood of visitors push out old
        profiles and nothing else. A server that hides CONFIG (a managed Redis) gets None."""
        try:
            found = await self.client.config_get("maxmemory*")
        except Exception:
            return None
        if not isinstance(found, dict) or "maxmemory" not in found:
            return None  # a cluster answers per node: not checked here
        limit = _text(found["maxmemory"])
        policy = _text(found.get("maxmemory-policy", ""))
        advice = "set maxmemory and maxmemory-policy volatile-lru (docs/security.md)"
        if limit == "0":
            return f"redis has no maxmemory: visitors can fill it without bound; {advice}"
        if policy.startswith("allkeys"):
            return f"redis maxmemory-policy {policy} may evict campaign tallies; {advice}"
        if policy == "noeviction":
            return f"redis maxmemory-policy noeviction: when full, nothing new is kept; {advice}"
        return None

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        if not self.breaker.allow():
            raise StoreUnavailable("redis: circuit open after repeated failures")
        try:
            async with asyncio.timeout(self.timeout):  # no task per call, unlike wait_for
                result = await make()
        except (RedisError, RedisClusterException, OSError, TimeoutError) as exc:
            if isinstance(exc, TimeoutError) and self.wire is not None:
                self.wire.timed_out(self.timeout)  # a dead connection is dropped
            self.errors += 1
            self.breaker.failure()
            raise StoreUnavailable(f"redis: {type(exc).__name__}") from None
        except BaseException:
            self.breaker.trying = False  # cancelled: let the next call try
            raise
        self.breaker.success()
        return result

    def _profile(self, visitor_id: str) -> str:
        return f"{self.prefix}:{{{visitor_id}}}:profile"

    async def get(self, visitor_id: str) -> Record | None:
        data = await self._call(lambda: self.client.get(self._profile(visitor_id)))
        return decode_record(data)

    async def load(self, visitor_id: str) -> tuple[Record | None, bytes | None]:
        key = self._profile(visitor_id)
        wire = self.wire
        if wire is not None:
            data = await self._call(lambda: wire.call(b"GET", key))
        else:
            data = await self._call(lambda: self.client.get(key))
        raw = data.encode() if isinstance(data, str) else data
        return decode_record(raw), raw

    async def store_if(
        self,
        visitor_id: str,
        record: Record,
        ttl_seconds: float,
        expected: bytes | None,
        encoded: bytes | None = None,
    ) -> bytes | None:
        data = encode_record(record) if encoded is None else encoded
        args = [expected or b"", b"absent" if expected is None else b"present", data]
        keys = [self._profile(visitor_id)]
        values: list[Word] = [*args, max(1, int(ttl_seconds))]
        if self.wire is not None:
            written = await self._call(lambda: self._script(self._store_if, keys, values))
        else:
            written = await self._call(lambda: self._store_if(keys=keys, args=values))
        return data if written == 1 else None

    async def _script(self, script: AsyncScript, keys: Sequence[Word], args: Sequence[Word]) -> Any:
        """A script registered with redis-py, over the wire by its SHA-1; sent whole when the
        server has not cached it (NOSCRIPT: a restart, SCRIPT FLUSH), which caches it again."""
        assert self.wire is not None
        try:
            return await self.wire.call(b"EVALSHA", script.sha, len(keys), *keys, *args)
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        body = script.script  # typed as any encodable value by redis-py: ours are str
        text = body if isinstance(body, str | bytes) else bytes(body)
        return await self.wire.call(b"EVAL", text, len(keys), *keys, *args)

    async def delete(self, visitor_id: str) -> bool:
        """Forget the visitor: their profile, and their entries in the event stream."""
        removed = await self._call(lambda: self.client.delete(self._profile(visitor_id)))
        await self._purge_events(visitor_id)
        return bool(removed)

    async def _purge_events(self, visitor_id: str, batch: int = 1000) -> None:
        key, start = f"{self.prefix}:events", "-"
        wanted = visitor_id.encode()
        client = self.client

        async def page(start: str) -> list[Any]:
            return list(await client.xrange(key, min=start, max="+", count=batch) or [])

        async def drop(ids: list[Any]) -> int:
            return int(await client.xdel(key, *ids))

        while True:
            entries = await self._call(functools.partial(page, start))
            mine = [eid for eid, fields in entries if (fields or {}).get(b"visitor") == wanted]
            if mine:
                await self._call(functools.partial(drop, mine))
            if len(entries) < batch:
                return
            start = "(" + _text(entries[-1][0])

    async def close(self) -> None:
        if self.wire is not None:
            await self.wire.close()
        await self.client.aclose()

    async def tally(self, campaign: str, variant: str | None, field: str) -> None:
        key = f"{self.prefix}:stats:{{{campaign}}}"
        name = f"{variant or '-'}:{field}"
        # The totals and a hash per UTC day beside them (same hash tag: one cluster slot),
        # expiring DAILY_DAYS after its last count: one round trip.
        day_key = f"{key}:day:{tally_day()}"

        async def count() -> None:
            pipe = self.client.pipeline(transaction=False)
            pipe.hincrby(key, name, 1)
            pipe.hincrby(day_key, name, 1)
            pipe.expire(day_key, DAILY_DAYS * 86400)
            await pipe.execute()

        wire = self.wire
        if wire is None:
            await self._call(count)
            return
        await self._call(
            lambda: wire.call_many(
                (b"HINCRBY", key, name, 1),
                (b"HINCRBY", day_key, name, 1),
                (b"EXPIRE", day_key, DAILY_DAYS * 86400),
            )
        )

    async def daily_tallies(self, campaigns: Iterable[str], days: int = DAILY_DAYS) -> Daily:
        out: Daily = {}
        now = time.time()
        wanted = [tally_day(now - back * 86400) for back in range(min(days, DAILY_DAYS))]
        for campaign in campaigns:
            key = f"{self.prefix}:stats:{{{campaign}}}:day:"
            # The days at once (the cockpit asks for every campaign every few seconds).
            raw = await asyncio.gather(*(self._hgetall(key + day) for day in wanted))
            tables = {day: _tally_table(found) for day, found in zip(wanted, raw, strict=True)}
            out[campaign] = {day: table for day, table in tables.items() if table}
        return out

    async def tallies(self, campaigns: Iterable[str]) -> Tallies:
        out: Tallies = {}
        for campaign in campaigns:
            out[campaign] = _tally_table(await self._hgetall(f"{self.prefix}:stats:{{{campaign}}}"))
        return out

    async def _hgetall(self, key: str) -> Mapping[Any, Any]:
        async def call() -> Mapping[Any, Any]:
            result: Mapping[Any, Any] = await self.client.hgetall(key)
            return result

        return await self._call(call)

    async def append_event(self, event: Mapping[str, str]) -> None:
        key = f"{self.prefix}:events"
        fields: dict[Any, Any] = dict(event)
        await self._call(
            lambda: self.client.xadd(key, fields, maxlen=self.stream_maxlen, approximate=True)
        )

    async def shared_config(self) -> SharedConfig | None:
        """The campaign file the nodes share, or None when none is (or it is unreadable)."""
        raw = await self._call(lambda: self.client.get(f"{self.prefix}:{{config}}:shared"))
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            config = SharedConfig(str(data["version"]), str(data["text"]), float(data["at"]))
        except (ValueError, KeyError, TypeError):
            return None
        return config

    async def paused(self) -> set[str]:
        """Campaigns paused on every node (the cockpit, or ``opmaat pause``)."""
        key = f"{self.prefix}:{{config}}:paused"

        async def members() -> set[str]:
            return {_text(m) for m in await self.client.smembers(key)}

        return await self._call(members)

    async def set_paused(self, campaign: str, paused: bool) -> None:
        key = f"{self.prefix}:{{config}}:paused"
        if paused:
            await self._call(lambda: self.client.sadd(key, campaign))
        else:
            await self._call(lambda: self.client.srem(key, campaign))

    async def note_visitor(self, scope: str, visitor_id: str, ttl_seconds: float) -> int:
        key = f"{self.prefix}:{{{scope}}}:visitors"

        async def note() -> int:
            # A PURL landing is rare next to page views: plain commands, no transaction (a
            # cluster pipeline could not hold one anyway).
            if await self.client.scard(key) < MAX_SCOPE_VISITORS:
                await self.client.sadd(key, visitor_id)
            await self.client.expire(key, max(1, int(ttl_seconds)))
            return int(await self.client.scard(key))

        return await self._call(note)

    async def forget_visitor(self, scope: str, visitor_id: str) -> None:
        key = f"{self.prefix}:{{{scope}}}:visitors"
        await self._call(lambda: self.client.srem(key, visitor_id))

    def _expiring(self, name: str) -> str:
        return f"{self.prefix}:expiring:{{{name}}}"

    async def put_expiring(self, name: str, value: str, ttl_seconds: float) -> None:
        key, seconds = self._expiring(name), max(1, int(ttl_seconds))
        await self._call(lambda: self.client.set(key, value, ex=seconds))

    async def get_expiring(self, name: str) -> str | None:
        value = await self._call(lambda: self.client.get(self._expiring(name)))
        return None if value is None else _text(value)

    async def delete_expiring(self, name: str) -> bool:
        return bool(await self._call(lambda: self.client.delete(self._expiring(name))))

    async def bump(self, name: str, ttl_seconds: float) -> int:
        key, seconds = f"{self.prefix}:count:{{{name}}}", max(1, int(ttl_seconds))
        if self.wire is not None:
            return int(await self._call(lambda: self._script(self._bump, [key], [seconds])))
        return int(await self._call(lambda: self._bump(keys=[key], args=[seconds])))

    async def profiles(self) -> AsyncIterator[StoredProfile]:
        """Every live profile, found with SCAN (on each master of a cluster in turn)."""
        head, tail = len(f"{self.prefix}:{{"), len("}:profile")
        nodes = self.client.get_primaries() if isinstance(self.client, RedisCluster) else [None]
        for node in nodes:
            cursor = 0
            while True:
                cursor, rows = await self._call(functools.partial(self._profile_page, node, cursor))
                for key, data, pttl in rows:
                    record = decode_record(data)
                    if record is not None and pttl > 0:
                        yield key[head:-tail], record, pttl / 1000
                if not cursor:
                    break

    async def _profile_page(self, node: Any, cursor: int) -> tuple[int, list[tuple[str, Any, int]]]:
        pattern, client = f"{self.prefix}:{{*}}:profile", self.client
        if node is None:
            cursor, keys = await client.scan(cursor, match=pattern, count=500)
        else:  # a cluster answers per node
            found: Any = await client.scan(cursor, match=pattern, count=500, target_nodes=node)
            cursor, keys = next(iter(found[0].values())), found[1]
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.get(key)
            pipe.pttl(key)
        found = await pipe.execute()
        return int(cursor), list(zip(map(_text, keys), found[::2], found[1::2], strict=True))

    async def share_config(self, config: SharedConfig) -> None:
        # One key, so a reader never sees the version of one file with the text of another.
        value = json.dumps({"version": config.version, "text": config.text, "at": config.at})
        await self._call(lambda: self.client.set(f"{self.prefix}:{{config}}:shared", value))


# Compare-and-set of one profile: written only when nobody wrote since it was read.
_STORE_IF = """
local current = redis.call('GET', KEYS[1])
local unchanged
if ARGV[2] == 'absent' then unchanged = (current == false) else unchanged = (current == ARGV[1]) end
if unchanged then
  redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
  return 1
end
return 0
"""


# A counter that lives ``ARGV[1]`` seconds from its first count (INCR and EXPIRE at once: a
# counter is never left without its expiry).
_BUMP = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _tally_table(raw: Mapping[Any, Any]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for field, count in raw.items():
        variant, _, name = _text(field).rpartition(":")
        if name in TALLY_FIELDS:
            try:
                table.setdefault(variant, dict.fromkeys(TALLY_FIELDS, 0))[name] = int(count)
            except ValueError:
                continue
    return table
