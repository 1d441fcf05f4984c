"""Where visitor records live between requests."""

from __future__ import annotations

import json
from typing import Any, Protocol

from cachetools import TLRUCache

Record = dict[str, Any]


def encode_record(record: Record) -> bytes:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode()


def decode_record(data: bytes | str | None) -> Record | None:
    if data is None:
        return None
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class ProfileStore(Protocol):
    """Async storage of visitor records (plain JSON-able dicts), keyed by visitor id.

    ``put`` takes how long the record may be kept (the site's retention, or the session for
    session-only consent); None means the store's own default.
    """

    async def get(self, visitor_id: str) -> Record | None: ...

    async def put(
        self, visitor_id: str, record: Record, ttl_seconds: float | None = None
    ) -> None: ...

    async def delete(self, visitor_id: str) -> bool: ...

    async def close(self) -> None: ...


def _expires(key: str, value: tuple[bytes, float], now: float) -> float:
    return now + value[1]


class MemoryStore:
    """The embedded default: one process, bounded by count and by time since the last write.

    Records are kept as compact JSON, which is both smaller than live dicts and a copy that
    callers cannot change by accident.
    """

    def __init__(self, *, max_profiles: int = 100_000, ttl_seconds: float = 30 * 86400) -> None:
        self.ttl_seconds = ttl_seconds
        self._data: TLRUCache[str, tuple[bytes, float]] = TLRUCache(
            maxsize=max_profiles, ttu=_expires
        )

    async def get(self, visitor_id: str) -> Record | None:
        found = self._data.get(visitor_id)
        return decode_record(found[0]) if found is not None else None

    async def put(self, visitor_id: str, record: Record, ttl_seconds: float | None = None) -> None:
        ttl = self.ttl_seconds if ttl_seconds is None else max(0.0, ttl_seconds)
        self._data[visitor_id] = (encode_record(record), ttl)

    async def delete(self, visitor_id: str) -> bool:
        return self._data.pop(visitor_id, None) is not None

    async def close(self) -> None:
        self._data.clear()

    def dump(self) -> dict[str, bytes]:
        """Every live record as stored (for tests and audits)."""
        self._data.expire()
        return {key: value[0] for key, value in self._data.items()}

    def __len__(self) -> int:
        self._data.expire()
        return len(self._data)
