"""Where visitor records live between requests."""

from __future__ import annotations

import json
from typing import Any, Protocol

from cachetools import TTLCache

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
    """Async storage of visitor records (plain JSON-able dicts), keyed by visitor id."""

    async def get(self, visitor_id: str) -> Record | None: ...

    async def put(self, visitor_id: str, record: Record) -> None: ...

    async def delete(self, visitor_id: str) -> bool: ...

    async def close(self) -> None: ...


class MemoryStore:
    """The embedded default: one process, bounded by count and by time since the last write.

    Records are kept as compact JSON, which is both smaller than live dicts and a copy that
    callers cannot change by accident.
    """

    def __init__(self, *, max_profiles: int = 100_000, ttl_seconds: float = 30 * 86400) -> None:
        self._data: TTLCache[str, bytes] = TTLCache(maxsize=max_profiles, ttl=ttl_seconds)

    async def get(self, visitor_id: str) -> Record | None:
        return decode_record(self._data.get(visitor_id))

    async def put(self, visitor_id: str, record: Record) -> None:
        self._data[visitor_id] = encode_record(record)

    async def delete(self, visitor_id: str) -> bool:
        return self._data.pop(visitor_id, None) is not None

    async def close(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
