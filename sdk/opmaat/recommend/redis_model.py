"""The learned lists on Redis, so that several nodes learn from each other's visitors.

Keys (``PREFIX`` is ``opmaat``; braces are Redis Cluster hash tags, so a list and its stamp
share a slot):

- ``opmaat:rec:{FAMILY:KEY}``: a sorted set, member -> count as of the stamp (see store.py);
- ``opmaat:rec:{FAMILY:KEY}:t``: the stamp;
- ``opmaat:rec:{index}``: a sorted set of ``FAMILY:KEY`` -> when it last changed, which tells
  a reader what changed since it last read.

Bounds: a list is cut to its cap when it grows past ``ModelSettings.cut_at``; a list and
its stamp expire ten half-lives after their last change (a count by then is below 1/1000 of
what it was); the index keeps the ``max_keys`` most recently changed lists and none older than
the longest time to live.

Every call has a timeout and goes through a circuit breaker (share the profile store's, so one
unreachable Redis opens one breaker); a failure raises ``StoreUnavailable``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError

from opmaat.breaker import CircuitBreaker, StoreUnavailable
from opmaat.recommend.model import FAMILIES, ModelSettings, Update
from opmaat.recommend.store import ListKey, Lists, Ranked, grouped
from opmaat.redis_store import PREFIX

T = TypeVar("T")
READ_BATCH = 200  # lists per round trip when reading
PAGE = 5000  # members of a long list per round trip
SKEW = 5.0  # seconds a reader looks back further, for nodes whose clocks run behind

# KEYS: list, stamp. ARGV: at, half-life s, rescale after s, cap, cut at, ttl s, member, weight…
_ADD = """
local at, half = tonumber(ARGV[1]), tonumber(ARGV[2])
local stamp = tonumber(redis.call('GET', KEYS[2]))
if not stamp then
  stamp = at
  redis.call('SET', KEYS[2], ARGV[1])
elseif at - stamp >= tonumber(ARGV[3]) then
  redis.call('ZUNIONSTORE', KEYS[1], 1, KEYS[1], 'WEIGHTS', 2 ^ ((stamp - at) / half))
  stamp = at
  redis.call('SET', KEYS[2], ARGV[1])
end
local grow = 2 ^ ((at - stamp) / half)
for i = 7, #ARGV, 2 do
  redis.call('ZINCRBY', KEYS[1], tonumber(ARGV[i + 1]) * grow, ARGV[i])
end
local size = redis.call('ZCARD', KEYS[1])
if size > tonumber(ARGV[5]) then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, size - tonumber(ARGV[4]) - 1)
end
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[6])
"""


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class RedisModelStore:
    """A ModelStore on Redis (a single server or a Cluster)."""

    def __init__(
        self,
        client: Redis | RedisCluster,
        settings: ModelSettings | None = None,
        *,
        prefix: str = PREFIX,
        timeout: float = 0.1,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.client = client
        self.settings = settings or ModelSettings()
        self.prefix = prefix
        self.timeout = timeout
        self.breaker = breaker or CircuitBreaker()
        self.errors = 0
        self._index = f"{prefix}:rec:{{index}}"
        self._ttl = {f: max(86400, int(10 * self.settings.half_life(f))) for f in FAMILIES}

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        if not self.breaker.allow():
            raise StoreUnavailable("redis: circuit open after repeated failures")
        try:
            async with asyncio.timeout(self.timeout):
                result = await make()
        except (RedisError, RedisClusterException, OSError, TimeoutError) as exc:
            self.errors += 1
            self.breaker.failure()
            raise StoreUnavailable(f"redis: {type(exc).__name__}") from None
        except BaseException:
            self.breaker.trying = False
            raise
        self.breaker.success()
        return result

    def _key(self, family: str, key: str) -> str:
        return f"{self.prefix}:rec:{{{family}:{key}}}"

    async def add(self, updates: Iterable[Update], at: float) -> None:
        settings = self.settings
        lists = grouped(updates)
        if not lists:
            return
        oldest = at - max(self._ttl.values())

        async def write() -> None:
            pipe = self.client.pipeline(transaction=False)
            for (family, key), members in lists.items():
                name = self._key(family, key)
                args: list[Any] = [
                    repr(at),
                    repr(settings.half_life(family)),
                    repr(settings.rescale_after(family)),
                    settings.cap(family, key),
                    settings.cut_at(family, key),
                    self._ttl[family],
                ]
                for member, weight in members.items():
                    args += [member, repr(weight)]
                pipe.eval(_ADD, 2, name, f"{name}:t", *args)
            pipe.zadd(self._index, {f"{family}:{key}": at for family, key in lists})
            pipe.zremrangebyrank(self._index, 0, -settings.max_keys - 1)
            pipe.zremrangebyscore(self._index, "-inf", oldest)
            await pipe.execute()

        await self._call(write)

    async def read(self, since: float | None, now: float) -> Lists:
        async def changed() -> list[tuple[Any, float]]:
            low = "-inf" if since is None else since - SKEW
            found: list[Any] = await self.client.zrangebyscore(
                self._index, low, "+inf", withscores=True
            )
            return [(member, float(score)) for member, score in found]

        index = await self._call(changed)
        cursor = max((score for _, score in index), default=since or 0.0)
        keys: list[ListKey] = []
        for member, _ in index:
            family, _, key = _text(member).partition(":")
            if family in FAMILIES and key:
                keys.append((family, key))
        out: dict[ListKey, Ranked] = {}
        for start in range(0, len(keys), READ_BATCH):
            out.update(await self._read_lists(keys[start : start + READ_BATCH], now))
        return Lists(out, cursor, since is None)

    async def _read_lists(self, keys: list[ListKey], now: float) -> dict[ListKey, Ranked]:
        async def fetch() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            for family, key in keys:
                name = self._key(family, key)
                pipe.get(f"{name}:t")
                last = min(PAGE, self.settings.shown(family, key)) - 1
                pipe.zrevrange(name, 0, last, withscores=True)
            return list(await pipe.execute())

        raw = await self._call(fetch)
        out: dict[ListKey, Ranked] = {}
        for i, (family, key) in enumerate(keys):
            stamp, members = raw[2 * i], raw[2 * i + 1]
            if len(members) == PAGE:
                rest = await self._rest(self._key(family, key), self.settings.shown(family, key))
                members = [*members, *rest]
            try:
                factor = 2.0 ** ((float(stamp) - now) / self.settings.half_life(family))
            except (TypeError, ValueError):
                factor = 0.0  # no stamp: the list expired
            out[(family, key)] = [(_text(m), float(s) * factor) for m, s in members if factor]
        return out

    async def _rest(self, name: str, limit: int) -> list[Any]:
        # A long list (popular:all) after its first page, up to ``limit``, a page a round trip.
        rest: list[Any] = []
        start = PAGE
        while start < limit:
            end = min(start + PAGE, limit) - 1

            async def page(start: int = start, end: int = end) -> list[Any]:
                found: list[Any] = await self.client.zrevrange(name, start, end, withscores=True)
                return found

            found = await self._call(page)
            rest += found
            if len(found) < end - start + 1:
                break
            start = end + 1
        return rest

    async def close(self) -> None:
        await self.client.aclose()
