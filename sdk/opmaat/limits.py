"""What one client can make opmaat keep: how many new profiles an address starts, and how large
one profile grows. The edge and the middlewares both decide through ``Visit.save``, which asks
this module before it writes, so every path that creates or grows a stored profile (decide,
events, identify, consent, preferences, PURL landings, the privacy page) is held to the same
limits.

Each list and map in a record has a bound of its own where it is kept (10 decisions, 50 cart
lines, 30 interests…); ``fit_record`` bounds the record as a whole, dropping the oldest of what
matters least first, so a visitor's cart and choices outlast their page history.
"""

from __future__ import annotations

import contextlib
import ipaddress
import time
from collections.abc import Callable
from typing import Any

import orjson
from cachetools import TTLCache

from opmaat import log_lines
from opmaat.store import ProfileStore, Record, encode_record

MAX_RECORD_BYTES = 16 * 1024  # a profile's JSON; a real one is 1-3 KB
NEW_PROFILES_PER_MINUTE = 60  # per address (an IPv6 /64 counts as one)


def address_key(address: str) -> str:
    """A client address as a rate-limit key: an IPv6 client holds a whole /64, and a key is
    never longer than an IPv6 network's text."""
    if ":" in address and "/" not in address:
        with contextlib.suppress(ValueError):
            return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return address[:64]


class RateLimit:
    """At most ``per_minute`` hits per key in each clock minute (fixed windows), for up to
    ``max_keys`` keys at once (the least recent are forgotten first: memory stays bounded
    whatever the number of visitors). One process's count: with several workers each keeps
    its own."""

    def __init__(self, per_minute: int, max_keys: int = 100_000) -> None:
        self.per_minute = per_minute
        self._counts: TTLCache[tuple[str, int], int] = TTLCache(maxsize=max_keys, ttl=120)

    def hit(self, key: str, now: float | None = None) -> float | None:
        """Count a hit; None when allowed, else the seconds until the next window."""
        if self.per_minute <= 0:
            return None
        moment = time.time() if now is None else now
        window = int(moment // 60)
        count = self._counts.get((key, window), 0) + 1
        self._counts[(key, window)] = count
        if count > self.per_minute:
            return (window + 1) * 60 - moment
        return None


class Limits:
    """The limits of one Personalizer (``OPMAAT_NEW_VISITORS_PER_MINUTE`` on the edge; the
    middlewares take the defaults)."""

    def __init__(
        self,
        new_profiles_per_minute: int = NEW_PROFILES_PER_MINUTE,
        max_record_bytes: int = MAX_RECORD_BYTES,
    ) -> None:
        self.new_profiles = RateLimit(new_profiles_per_minute)
        self.max_record_bytes = max_record_bytes

    def admit_new_profile(self, address: str | None) -> bool:
        """Whether a profile may be started for a visitor from ``address`` (None: unknown,
        which counts as one address of its own), counted in this process."""
        return self.new_profiles.hit(address_key(address or "-")) is None

    async def admit_new_profile_in(self, store: ProfileStore, address: str | None) -> bool:
        """``admit_new_profile``, counted in ``store``: the workers and nodes sharing it hold
        to one budget per address. When the store cannot count, this process does."""
        most = self.new_profiles.per_minute
        if most <= 0:
            return True
        window = int(time.time() // 60)
        try:
            # Kept past its minute, so a clock a little behind another node's still counts.
            count = await store.bump(f"new-profiles:{address_key(address or '-')}:{window}", 120)
        except Exception:
            return self.admit_new_profile(address)
        return count <= most


def _drop_oldest(path: tuple[str, ...]) -> Callable[[Record], int]:
    # Removes the first (oldest) item of the list at ``path``; the bytes it took, or 0.
    def drop(record: Record) -> int:
        holder: Any = record
        for key in path[:-1]:
            holder = holder.get(key) if isinstance(holder, dict) else None
        items = holder.get(path[-1]) if isinstance(holder, dict) else None
        if not isinstance(items, list) or not items:
            return 0
        return len(orjson.dumps(items.pop(0))) + 1

    return drop


def _drop_log_line(key: str) -> Callable[[Record], int]:
    # Removes the oldest entry of the log (log_lines) at ``key``; the bytes it took, or 0.
    def drop(record: Record) -> int:
        if key not in record:
            return 0
        record[key], freed = log_lines.without_oldest(record[key])
        return freed

    return drop


def _drop_smallest(key: str, rank: Callable[[Any], float]) -> Callable[[Record], int]:
    # Removes the entry of the map at ``key`` that ranks lowest; the bytes it took, or 0.
    def drop(record: Record) -> int:
        entries = record.get(key)
        if not isinstance(entries, dict) or not entries:
            return 0
        name = min(entries, key=lambda k: rank(entries[k]))
        return len(orjson.dumps({name: entries.pop(name)}))

    return drop


def _newest(value: Any) -> float:
    # An event's newest hourly bucket, an interest's score: [[hour, count], ...] / [score, ts].
    with contextlib.suppress(TypeError, IndexError, ValueError):
        last = value[-1]
        return float(last[0] if isinstance(last, list) else value[0])
    return 0.0


# What goes first when a record is too large: page history before what the visitor did, the
# cart and their own choices last of all.
_SHEDDING: tuple[Callable[[Record], int], ...] = (
    _drop_oldest(("session", "pages")),
    _drop_log_line("decisions"),
    _drop_oldest(("viewed",)),
    _drop_smallest("events", _newest),
    _drop_oldest(("bought",)),
    _drop_smallest("interests", _newest),
    _drop_oldest(("cart", "items")),
)


def fit_record(record: Record, most: int) -> bytes | None:
    """Shrink ``record`` in place until its JSON takes at most ``most`` bytes, dropping the
    oldest page history first (``_SHEDDING``); the JSON (``encode_record``'s bytes, for the
    store), or None when even that is not enough (the caller keeps what is stored)."""
    data = encode_record(record)
    size = len(data)
    if size <= most:
        return data
    for shed in _SHEDDING:
        while size > most:
            freed = shed(record)
            if not freed:
                break
            size -= freed
    data = encode_record(record)  # the estimate can be off by a separator or two
    return data if len(data) <= most else None
