"""The cockpit's ledger on Redis, seen by every node (``PREFIX`` is the store's, ``opmaat``;
one hash tag, so a Redis Cluster keeps them together and scripts can use several):

- ``opmaat:{cockpit}:head``: the newest version's number and hash (JSON);
- ``opmaat:{cockpit}:versions``: a hash, version number -> the version (JSON, with the text);
- ``opmaat:{cockpit}:drafts``: a hash, campaign id -> draft; ``...:archived`` likewise;
- ``opmaat:{cockpit}:audit``: a list of JSON entries (the newest ``MAX_AUDIT``), numbered by
  ``...:audit-seq``;
- ``opmaat:{cockpit}:users``: a hash, user name -> user (with the scrypt hash);
- ``opmaat:{cockpit}:lock``: held (with an expiry) while a publish runs.

Adding a version and saving a draft are compare-and-set scripts. None of these keys has a TTL,
so a Redis bounded with ``volatile-lru`` never evicts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import orjson
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError

from opmaat_edge.cockpit.ledger import (
    AuditEntry,
    Draft,
    LedgerBusy,
    LedgerUnavailable,
    UserRecord,
    Version,
)

T = TypeVar("T")
TIMEOUT = 2.0
MAX_AUDIT = 100_000
LOCK_SECONDS = 30
LOCK_WAIT_SECONDS = 10.0

_ADD_VERSION = """
local head = redis.call('GET', KEYS[1])
local number = 0
if head then number = cjson.decode(head)['number'] end
if number + 1 ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('SET', KEYS[1], ARGV[3])
return 1
"""

_SAVE_DRAFT = """
local kept = redis.call('HGET', KEYS[1], ARGV[1])
local revision = 0
if kept then revision = cjson.decode(kept)['revision'] end
if revision ~= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""

_AUDIT = """
local id = redis.call('INCR', KEYS[2])
redis.call('RPUSH', KEYS[1], '{"id":' .. id .. ',' .. string.sub(ARGV[1], 2))
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
return id
"""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _load(raw: Any) -> Any:
    if raw is None:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


class RedisLedger:
    def __init__(self, client: Redis | RedisCluster, prefix: str) -> None:
        self.client = client
        base = f"{prefix}:{{cockpit}}"
        self.keys = {
            name: f"{base}:{name}"
            for name in ("head", "versions", "drafts", "archived", "audit", "audit-seq", "users")
        }
        self.keys["lock"] = f"{base}:lock"
        self.where = f"Redis keys {base}:*"
        self._add_version = client.register_script(_ADD_VERSION)
        self._save_draft = client.register_script(_SAVE_DRAFT)
        self._append = client.register_script(_AUDIT)
        self._unlock = client.register_script(_UNLOCK)

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        try:
            async with asyncio.timeout(TIMEOUT):
                return await make()
        except (RedisError, RedisClusterException, OSError, TimeoutError) as exc:
            raise LedgerUnavailable(f"redis: {type(exc).__name__}") from None

    # --- versions ------------------------------------------------------------------------

    async def head(self) -> tuple[int, str] | None:
        data = _load(await self._call(lambda: self.client.get(self.keys["head"])))
        if not isinstance(data, dict):
            return None
        try:
            return int(data["number"]), str(data["hash"])
        except (KeyError, TypeError, ValueError):
            return None

    async def add_version(self, version: Version) -> bool:
        head = _json({"number": version.number, "hash": version.hash})
        keys = [self.keys["head"], self.keys["versions"]]
        args: list[str | int] = [version.number, _json(version.record()), head]
        return bool(await self._call(lambda: self._add_version(keys=keys, args=args)))

    async def version(self, number: int) -> Version | None:
        raw = await self._call(lambda: self.client.hget(self.keys["versions"], str(number)))
        return Version.of(_load(raw))

    async def versions(self, newest: int, count: int) -> list[Version]:
        numbers = [str(n) for n in range(newest, max(0, newest - count), -1)]
        if not numbers:
            return []
        raws = await self._call(lambda: self.client.hmget(self.keys["versions"], numbers))
        found = (Version.of(_load(raw)) for raw in raws)
        return [v for v in found if v is not None]

    # --- drafts and archived campaigns ---------------------------------------------------

    async def draft(self, campaign: str) -> Draft | None:
        raw = await self._call(lambda: self.client.hget(self.keys["drafts"], campaign))
        return Draft.of(_load(raw))

    async def drafts(self) -> list[Draft]:
        raws = await self._call(lambda: self.client.hgetall(self.keys["drafts"]))
        found = (Draft.of(_load(raw)) for raw in raws.values())
        return sorted((d for d in found if d is not None), key=lambda d: d.campaign)

    async def save_draft(self, draft: Draft, expected: int) -> bool:
        args: list[str | int] = [draft.campaign, expected, _json(draft.record())]
        keys = [self.keys["drafts"]]
        return bool(await self._call(lambda: self._save_draft(keys=keys, args=args)))

    async def drop_draft(self, campaign: str) -> bool:
        return bool(await self._call(lambda: self.client.hdel(self.keys["drafts"], campaign)))

    async def archived(self) -> dict[str, dict[str, Any]]:
        raws = await self._call(lambda: self.client.hgetall(self.keys["archived"]))
        out: dict[str, dict[str, Any]] = {}
        for key, raw in raws.items():
            data = _load(raw)
            if isinstance(data, dict):
                out[key.decode() if isinstance(key, bytes) else str(key)] = data
        return out

    async def put_archived(self, campaign: str, record: dict[str, Any]) -> None:
        await self._call(lambda: self.client.hset(self.keys["archived"], campaign, _json(record)))

    async def drop_archived(self, campaign: str) -> None:
        await self._call(lambda: self.client.hdel(self.keys["archived"], campaign))

    # --- the audit log -------------------------------------------------------------------

    async def audit(self, entry: AuditEntry) -> int:
        keys = [self.keys["audit"], self.keys["audit-seq"]]
        # The entry without its id, which the script puts first (an object with keys).
        record = {k: v for k, v in entry.record().items() if k != "id"}
        args: list[str | int] = [_json(record), MAX_AUDIT]
        return int(await self._call(lambda: self._append(keys=keys, args=args)))

    async def _tail(self, count: int) -> list[AuditEntry]:
        raws = await self._call(lambda: self.client.lrange(self.keys["audit"], -count, -1))
        found = (AuditEntry.of(_load(raw)) for raw in reversed(raws))
        return [e for e in found if e is not None]

    async def audit_entries(self, before: int | None, count: int) -> list[AuditEntry]:
        if before is None:
            return await self._tail(count)
        newest = await self._call(lambda: self.client.get(self.keys["audit-seq"]))
        # Entries are numbered without gaps: the one before ``before`` is this far from the end.
        skip = max(0, int(newest or 0) - before + 1)
        key = self.keys["audit"]
        raws = await self._call(lambda: self.client.lrange(key, -(skip + count), -(skip + 1)))
        found = (AuditEntry.of(_load(raw)) for raw in reversed(raws))
        return [e for e in found if e is not None and e.id < before]

    async def audit_entry(self, entry_id: int) -> AuditEntry | None:
        found = await self.audit_entries(entry_id + 1, 1)
        return found[0] if found and found[0].id == entry_id else None

    async def audit_lines(self) -> AsyncIterator[str]:
        key, page = self.keys["audit"], 1000
        start = 0
        while True:
            raws = await self._call(
                lambda start=start: self.client.lrange(key, start, start + page - 1)  # type: ignore[misc]
            )
            for raw in raws:
                yield (raw.decode() if isinstance(raw, bytes) else str(raw)) + "\n"
            if len(raws) < page:
                return
            start += page

    # --- users ---------------------------------------------------------------------------

    async def users(self) -> dict[str, UserRecord]:
        raws = await self._call(lambda: self.client.hgetall(self.keys["users"]))
        found = (UserRecord.of(_load(raw)) for raw in raws.values())
        return {u.name: u for u in found if u is not None}

    async def put_user(self, user: UserRecord) -> None:
        record = _json(user.record())
        await self._call(lambda: self.client.hset(self.keys["users"], user.name, record))

    async def drop_user(self, name: str) -> bool:
        return bool(await self._call(lambda: self.client.hdel(self.keys["users"], name)))

    # --- publishing ----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def publishing(self) -> AsyncIterator[None]:
        token = secrets.token_urlsafe(16)
        key = self.keys["lock"]
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while not await self._call(lambda: self.client.set(key, token, nx=True, ex=LOCK_SECONDS)):
            if time.monotonic() > deadline:
                raise LedgerBusy("another publish is running")
            await asyncio.sleep(0.05)
        try:
            yield
        finally:
            with contextlib.suppress(LedgerUnavailable):  # it expires by itself
                await self._call(lambda: self._unlock(keys=[key], args=[token]))
