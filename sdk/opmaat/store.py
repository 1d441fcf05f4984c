"""Where visitor records live between requests."""

from __future__ import annotations

import logging
import time
import zlib
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs

import orjson
from cachetools import TLRUCache

from opmaat.expiring_lru import ExpiringLRU
from opmaat.paused_file import PausedFile

log = logging.getLogger("opmaat.store")
Record = dict[str, Any]
# Per campaign and arm (a variant's key, or HOLDOUT_ARM): impressions, clicks and goal
# conversions as they happen; visitors assigned to the arm when decided, and how many of those
# reached the goal at least once (what uplift against the holdout compares).
# ``held_back`` counts decisions the visitor's own channel choices held back: under the name
# HELD_BACK (no campaign id starts with "_"), with the channel as the arm.
TALLY_FIELDS = ("impressions", "clicks", "conversions", "visitors", "converted", "held_back")
HOLDOUT_ARM = "(holdout)"
HELD_BACK = "_held-back"
# Daily counts are kept this many days (the cockpit's charts show fewer).
DAILY_DAYS = 35


def encode_record(record: Record) -> bytes:
    """Compact UTF-8 JSON (orjson: a tenth of the time of the json module on a profile)."""
    # A copy of exactly its size: orjson's own bytes keep its whole output buffer (4 KB at
    # least), and the memory store keeps these for every visitor.
    return bytes(memoryview(orjson.dumps(record, option=orjson.OPT_NON_STR_KEYS)))


def decode_record(data: bytes | str | None) -> Record | None:
    if data is None:
        return None
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


Tallies = dict[str, dict[str, dict[str, int]]]  # campaign -> variant -> field -> count
Daily = dict[str, dict[str, dict[str, dict[str, int]]]]  # campaign -> day -> variant -> field


def tally_day(now: float | None = None) -> str:
    """The UTC day a tally counts for, as YYYY-MM-DD."""
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() if now is None else now))


@dataclass(frozen=True, slots=True)
class SharedConfig:
    """A campaign file one node shared with the others: its version (a hash of the text), the
    text, and when it was loaded there (Unix time; the newest file wins)."""

    version: str
    text: str
    at: float


# A stored profile as ``profiles()`` lists it: visitor id, record, seconds it has left to live.
StoredProfile = tuple[str, Record, float]


class ProfileStore(Protocol):
    """Where a site's state lives: visitor records (plain JSON-able dicts, keyed by visitor
    id), campaign tallies, the event stream, the campaign file shared by several nodes, and
    short-lived named values (the cockpit's sessions) that every node on the store sees.

    Records are written with ``store_if`` only (compare-and-set), with how long they may be
    kept (the site's retention, or the session for session-only consent). ``state`` is ``ok``
    or ``degraded`` (the store cannot be reached and decisions use the request alone).
    """

    errors: int

    @property
    def state(self) -> str: ...

    async def get(self, visitor_id: str) -> Record | None: ...

    async def load(self, visitor_id: str) -> tuple[Record | None, bytes | None]:
        """The record and its stored bytes, to hand back to ``store_if``."""
        ...

    async def store_if(
        self,
        visitor_id: str,
        record: Record,
        ttl_seconds: float,
        expected: bytes | None,
        encoded: bytes | None = None,
    ) -> bytes | None:
        """Write ``record`` only if what is stored is still ``expected`` (None: nothing);
        returns the new stored bytes, or None when another request wrote in between.
        ``encoded``: the record's ``encode_record`` bytes when the caller has them already."""
        ...

    async def delete(self, visitor_id: str) -> bool: ...

    async def close(self) -> None: ...

    async def tally(self, campaign: str, variant: str | None, field: str) -> None: ...

    async def tallies(self, campaigns: Iterable[str]) -> Tallies: ...

    async def daily_tallies(self, campaigns: Iterable[str], days: int = DAILY_DAYS) -> Daily:
        """The same counts per UTC day, for the last ``days`` days (at most ``DAILY_DAYS``)."""
        ...

    async def append_event(self, event: Mapping[str, str]) -> None: ...

    async def shared_config(self) -> SharedConfig | None: ...

    async def share_config(self, config: SharedConfig) -> None: ...

    async def paused(self) -> set[str]: ...

    async def set_paused(self, campaign: str, paused: bool) -> None: ...

    async def note_visitor(self, scope: str, visitor_id: str, ttl_seconds: float) -> int:
        """Note that ``visitor_id`` came by ``scope`` (a PURL); how many distinct visitors
        have, on every node (at most ``MAX_SCOPE_VISITORS`` are told apart)."""
        ...

    async def forget_visitor(self, scope: str, visitor_id: str) -> None:
        """Take ``visitor_id`` out of ``scope`` (the visitor asked to be forgotten)."""
        ...

    async def put_expiring(self, name: str, value: str, ttl_seconds: float) -> None:
        """Keep ``value`` under ``name`` for ``ttl_seconds`` (names apart from visitor ids)."""
        ...

    async def get_expiring(self, name: str) -> str | None:
        """The value kept under ``name``, or None once it expired or was deleted."""
        ...

    async def delete_expiring(self, name: str) -> bool:
        """Forget ``name`` at once; whether it was there."""
        ...

    async def bump(self, name: str, ttl_seconds: float) -> int:
        """Add one to the counter ``name`` and return it; a counter starts at 1 and is gone
        ``ttl_seconds`` after that (every worker and node on the store counts together)."""
        ...

    def profiles(self) -> AsyncIterator[StoredProfile]:
        """Every live profile, a few at a time (to move them to another store)."""
        ...


def _expires(key: str, value: tuple[Any, float], now: float) -> float:
    # Entries are (value, seconds to live).
    return now + value[1]


def _until(key: str, value: tuple[Any, float], now: float) -> float:
    # Entries are (value, the cache timer's time.monotonic() when they go).
    return value[1]


MAX_SCOPE_VISITORS = 1000
# Short-lived values the memory store keeps at most (the least recently used go first).
MAX_EXPIRING = 10_000

# What most stored profiles spell out, as a preset dictionary for zlib: a 2.5 KB profile packs
# into about 700 bytes (level 1: ~12 µs to pack, ~5 µs to unpack).
_ZDICT = b"".join(
    (
        b'{"visits":1,"first_seen":1.7,"last_seen":1.7,"session":{"id":"","started":',
        b'"pageviews":1,"landing_url":"https://","pages":["/","/c/","/product/"],',
        b'"utm_campaign":null,"days_since_last_visit":null,"referrer":{"url":null,',
        b'"host":null,"medium":"direct","source":null,"term":null},"utm":{},"events":{',
        b'"page_view":[[1,1]],"product_view":[[',
        b'"interests":{"decisions":[{"at":1,"path":"/","slot":"hero","campaign":"',
        b'"variant":"a","holdout":false,"reason":"you came from a Google search for ',
        b'shown to every visitor","consent":"full"}],"response":{"impressions":1,',
        b'"clicks":0,"conversions":0,"adaptive":{"session":"","variant":"',
        b'"viewed":[{"id":"","name":"","price":1.0,"category":"","url":"/product/","at":',
        b'"cart":{"items":[{"quantity":1}],"updated":,"orders":{"count":1,"value":',
        b'"bought":[],"customer":{"id":"","prefs":{"interests":{"more","less"}}',
    )
)


def _pack(data: bytes) -> bytes:
    packer = zlib.compressobj(1, zdict=_ZDICT)
    return packer.compress(data) + packer.flush()


def _unpack(blob: bytes) -> bytes:
    return zlib.decompressobj(zdict=_ZDICT).decompress(blob)


def _is_json(blob: bytes) -> bool:
    # A record's JSON starts with "{"; a zlib stream (level 1) with "x".
    return blob[:1] == b"{"


class MemoryStore:
    """The embedded default: one process, bounded by count and by time since the last write.

    Records are kept as compact JSON packed with zlib (about a quarter of live dicts, and a
    copy that callers cannot change by accident), except the ``max_hot`` most recently read or
    written, which stay plain JSON until they leave that tier: a returning visitor's requests
    then neither unpack nor pack (about 3 KB each, counted apart from the packed profiles).
    Of these, the ``max_decoded`` most recent that a request handed back when it was done
    (``adopt``) are kept decoded too, and the visitor's next request gets that dict instead
    of decoding the JSON again (a fifteenth of a decide request's instructions).
    Paused campaigns are kept in ``paused_file`` when one is given (see opmaat.paused_file).
    """

    state = "ok"
    errors = 0

    def __init__(
        self,
        *,
        max_profiles: int = 100_000,
        max_events: int = 10_000,
        max_hot: int = 10_000,
        max_decoded: int = 1_000,
        paused_file: str | Path | None = None,
    ) -> None:
        # visitor id -> (JSON or packed JSON, the time.monotonic() when it goes)
        self._data: ExpiringLRU[bytes] = ExpiringLRU(max_profiles)
        self._hot: OrderedDict[str, None] = OrderedDict()  # ids kept as JSON, oldest first
        self._max_hot = max_hot
        # visitor id -> (the stored JSON it was written as, the record): taken by the next load
        # (so only one request has it), valid only while that JSON is what is stored.
        self._decoded: OrderedDict[str, tuple[bytes, Record]] = OrderedDict()
        self._max_decoded = max_decoded
        self._tallies: Counter[tuple[str, str, str]] = Counter()
        self._daily: Counter[tuple[str, str, str, str]] = Counter()
        self._today = ""
        self.events: deque[dict[str, str]] = deque(maxlen=max_events)
        self._paused: set[str] = set()
        self._paused_file = PausedFile(paused_file) if paused_file is not None else None
        if self._paused_file is not None:
            self._paused = set(self._paused_file.paused)
        self._scopes: TLRUCache[str, tuple[set[str], float]] = TLRUCache(
            maxsize=max_profiles, ttu=_expires
        )
        self._expiring: TLRUCache[str, tuple[str, float]] = TLRUCache(
            maxsize=MAX_EXPIRING, ttu=_expires
        )
        self._counters: TLRUCache[str, tuple[int, float]] = TLRUCache(
            maxsize=max_profiles, ttu=_until
        )

    def _keep_hot(self, visitor_id: str, data: bytes, until: float) -> None:
        self._data[visitor_id] = (data, until)
        hot = self._hot
        hot[visitor_id] = None
        hot.move_to_end(visitor_id)
        while len(hot) > self._max_hot:
            cold, _ = hot.popitem(last=False)
            self._decoded.pop(cold, None)
            found = self._data.peek(cold)
            if found is not None and _is_json(found[0]):
                self._data[cold] = (_pack(found[0]), found[1])

    def _json(self, visitor_id: str) -> bytes | None:
        """The stored JSON, moved into the hot tier (None: nothing stored)."""
        found = self._data.get(visitor_id)
        if found is None:
            return None
        data, until = found
        if _is_json(data):
            self._hot.move_to_end(visitor_id)
        else:
            data = _unpack(data)
            self._keep_hot(visitor_id, data, until)
        return data

    async def get(self, visitor_id: str) -> Record | None:
        found = self._data.get(visitor_id)
        if found is None:
            return None
        return decode_record(found[0] if _is_json(found[0]) else _unpack(found[0]))

    async def load(self, visitor_id: str) -> tuple[Record | None, bytes | None]:
        # The token is the JSON: what store_if compares.
        data = self._json(visitor_id)
        kept = self._decoded.pop(visitor_id, None)
        if data is None:
            return None, None
        if kept is not None and kept[0] is data:
            return kept[1], data
        return decode_record(data), data

    def adopt(self, visitor_id: str, token: bytes, record: Record) -> None:
        """Keep ``record``, decoded, for the visitor's next ``load``, if ``token`` (what
        ``store_if`` returned for it) is still what is stored. The caller gives it up: it
        must not read or change it afterwards."""
        found = self._data.peek(visitor_id)
        if found is None or found[0] is not token or self._max_decoded <= 0:
            return
        decoded = self._decoded
        decoded[visitor_id] = (token, record)
        decoded.move_to_end(visitor_id)
        if len(decoded) > self._max_decoded:
            decoded.popitem(last=False)

    async def store_if(
        self,
        visitor_id: str,
        record: Record,
        ttl_seconds: float,
        expected: bytes | None,
        encoded: bytes | None = None,
    ) -> bytes | None:
        found = self._data.get(visitor_id)
        if found is None:
            if expected is not None:
                return None
        elif expected is None:
            return None
        else:
            stored = found[0]
            if (
                stored is not expected
                and (stored if _is_json(stored) else _unpack(stored)) != expected
            ):
                return None
        data = encode_record(record) if encoded is None else encoded
        self._keep_hot(visitor_id, data, time.monotonic() + max(0.0, ttl_seconds))
        return data

    async def delete(self, visitor_id: str) -> bool:
        kept = [e for e in self.events if e.get("visitor") != visitor_id]
        self.events.clear()
        self.events.extend(kept)
        self._hot.pop(visitor_id, None)
        self._decoded.pop(visitor_id, None)
        return self._data.pop(visitor_id, None) is not None

    async def close(self) -> None:
        self._data.clear()
        self._hot.clear()
        self._decoded.clear()
        self._expiring.clear()
        self._counters.clear()

    async def tally(self, campaign: str, variant: str | None, field: str) -> None:
        self._tallies[(campaign, variant or "-", field)] += 1
        day = tally_day()
        if day != self._today:
            self._today = day
            oldest = tally_day(time.time() - DAILY_DAYS * 86400)
            for key in [k for k in self._daily if k[1] < oldest]:
                del self._daily[key]
        self._daily[(campaign, day, variant or "-", field)] += 1

    async def daily_tallies(self, campaigns: Iterable[str], days: int = DAILY_DAYS) -> Daily:
        wanted = set(campaigns)
        oldest = tally_day(time.time() - (min(days, DAILY_DAYS) - 1) * 86400)
        out: Daily = {c: {} for c in wanted}
        for (campaign, day, variant, field), count in self._daily.items():
            if campaign in wanted and day >= oldest:
                arms = out[campaign].setdefault(day, {})
                arms.setdefault(variant, dict.fromkeys(TALLY_FIELDS, 0))[field] = count
        return out

    async def tallies(self, campaigns: Iterable[str]) -> Tallies:
        wanted = set(campaigns)
        out: Tallies = {c: {} for c in wanted}
        for (campaign, variant, field), count in self._tallies.items():
            if campaign in wanted:
                row = out[campaign].setdefault(variant, dict.fromkeys(TALLY_FIELDS, 0))
                row[field] = count
        return out

    async def append_event(self, event: Mapping[str, str]) -> None:
        self.events.append(dict(event))

    async def shared_config(self) -> SharedConfig | None:
        return None  # one process: nothing to share

    async def share_config(self, config: SharedConfig) -> None:
        return None

    async def paused(self) -> set[str]:
        if self._paused_file is not None:
            self._paused = set(self._paused_file.read())
        return set(self._paused)

    async def note_visitor(self, scope: str, visitor_id: str, ttl_seconds: float) -> int:
        found = self._scopes.get(scope)
        members = found[0] if found is not None else set()
        if len(members) < MAX_SCOPE_VISITORS:
            members.add(visitor_id)
        self._scopes[scope] = (members, max(0.0, ttl_seconds))
        return len(members)

    async def forget_visitor(self, scope: str, visitor_id: str) -> None:
        found = self._scopes.get(scope)
        if found is not None:
            found[0].discard(visitor_id)

    async def put_expiring(self, name: str, value: str, ttl_seconds: float) -> None:
        self._expiring[name] = (value, max(0.0, ttl_seconds))

    async def get_expiring(self, name: str) -> str | None:
        found = self._expiring.get(name)
        return found[0] if found is not None else None

    async def delete_expiring(self, name: str) -> bool:
        return self._expiring.pop(name, None) is not None

    async def bump(self, name: str, ttl_seconds: float) -> int:
        found = self._counters.get(name)
        count, until = found if found is not None else (0, time.monotonic() + ttl_seconds)
        self._counters[name] = (count + 1, until)
        return count + 1

    async def profiles(self) -> AsyncIterator[StoredProfile]:
        self._data.expire()
        now = time.monotonic()
        for visitor_id, (data, until) in list(self._data.items()):
            record = decode_record(data if _is_json(data) else _unpack(data))
            if record is not None and until > now:
                yield visitor_id, record, until - now

    async def set_paused(self, campaign: str, paused: bool) -> None:
        if self._paused_file is not None:
            self._paused_file.set(campaign, paused)
            self._paused = set(self._paused_file.paused)
        else:
            self._paused = self._paused | {campaign} if paused else self._paused - {campaign}

    def dump(self) -> dict[str, bytes]:
        """Every live record as its JSON (for tests and audits)."""
        self._data.expire()
        return {
            key: data if _is_json(data) else _unpack(data) for key, (data, _) in self._data.items()
        }

    def hot_bytes(self) -> int:
        """What the hot tier's plain JSON takes beyond the packed copies it stands for."""
        return sum(
            len(found[0]) - len(_pack(found[0]))
            for found in map(self._data.peek, self._hot)
            if found is not None and _is_json(found[0])
        )

    def __len__(self) -> int:
        self._data.expire()
        return len(self._data)


def open_store(url: str, *, paused_file: str | Path | None = None) -> ProfileStore:
    """The store a URL names: ``memory://`` (this process only; ``paused_file`` keeps its
    pauses), ``sqlite:///path/opmaat.db`` (the processes of one machine: opmaat.sqlite_store)
    or ``redis://host:port/db``, ``rediss://...``, ``redis-cluster://host:port`` (see
    opmaat.redis_store). SQLite and Redis keep pauses themselves."""
    if url in ("memory", "memory://"):
        return MemoryStore(paused_file=paused_file)
    if url.startswith("memory://?"):
        query = parse_qs(url.split("?", 1)[1], keep_blank_values=True)
        unknown = set(query) - {"max_profiles"}
        if unknown:
            raise ValueError(f"unknown memory store option {sorted(unknown)[0]!r}: max_profiles")
        text = query.get("max_profiles", [""])[-1]
        if not (text.isascii() and text.isdigit()) or not 100 <= int(text) <= 100_000_000:
            raise ValueError("max_profiles must be a whole number from 100 to 100000000")
        return MemoryStore(max_profiles=int(text), paused_file=paused_file)
    if url.split("://", 1)[0] in ("redis", "rediss", "redis-cluster"):
        from opmaat.redis_store import RedisStore

        return RedisStore.from_url(url)
    if url.startswith("sqlite://"):
        from opmaat.sqlite_store import SQLiteStore

        return SQLiteStore.from_url(url)
    # Only the scheme: the rest may hold a password.
    scheme = url.split("://", 1)[0][:20] if "://" in url else "(none)"
    raise ValueError(
        f"unknown store scheme {scheme!r}: use memory://, sqlite:///path/opmaat.db "
        "or redis://host:port/db"
    )
