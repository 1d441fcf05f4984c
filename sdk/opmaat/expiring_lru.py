"""The memory store's table of profiles: key -> (value, deadline on ``time.monotonic()``).

The least recently read or written entry goes first once there are more than ``maxsize``; an
entry past its deadline is gone for every reader at once, and swept out as writes come (a heap
of deadlines; entries a later write replaced are skipped there). What cachetools' TLRUCache
did for it, in a few dict operations a request instead of its layers of Python calls.
"""

from __future__ import annotations

import heapq
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

V = TypeVar("V")


class ExpiringLRU(Generic[V]):
    """``get`` and item assignment touch an entry (most recently used); ``[]``, ``items()``
    and the rest only look."""

    __slots__ = ("_deadlines", "_items", "maxsize", "timer")

    def __init__(self, maxsize: int, timer: Callable[[], float] = time.monotonic) -> None:
        self._items: OrderedDict[str, tuple[V, float]] = OrderedDict()
        self._deadlines: list[tuple[float, str]] = []
        self.maxsize = maxsize
        self.timer = timer

    def get(self, key: str) -> tuple[V, float] | None:
        found = self._items.get(key)
        if found is None:
            return None
        if found[1] <= self.timer():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return found

    def peek(self, key: str) -> tuple[V, float] | None:
        """The live entry, without touching it."""
        found = self._items.get(key)
        return found if found is not None and found[1] > self.timer() else None

    def __setitem__(self, key: str, entry: tuple[V, float]) -> None:
        items = self._items
        items[key] = entry
        items.move_to_end(key)
        deadlines = self._deadlines
        heapq.heappush(deadlines, (entry[1], key))
        if deadlines[0][0] <= self.timer():
            self.expire()
        while len(items) > self.maxsize:
            items.popitem(last=False)
        if len(deadlines) > 2 * len(items) + 64:  # mostly replaced entries: start afresh
            self._deadlines = [(e[1], k) for k, e in items.items()]
            heapq.heapify(self._deadlines)

    def expire(self) -> None:
        """Drop every entry past its deadline."""
        now, items, deadlines = self.timer(), self._items, self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, key = heapq.heappop(deadlines)
            found = items.get(key)
            if found is not None and found[1] <= now:
                del items[key]

    def __getitem__(self, key: str) -> tuple[V, float]:
        found = self._items[key]
        if found[1] <= self.timer():
            raise KeyError(key)
        return found

    def pop(self, key: str, default: None = None) -> tuple[V, float] | None:
        found = self._items.pop(key, None)
        return found if found is not None and found[1] > self.timer() else default

    def clear(self) -> None:
        self._items.clear()
        self._deadlines.clear()

    def items(self) -> Iterator[tuple[str, tuple[V, float]]]:
        now = self.timer()
        return ((k, e) for k, e in list(self._items.items()) if e[1] > now)

    def keys(self) -> Iterator[str]:
        return (k for k, _ in self.items())

    def values(self) -> Iterator[tuple[V, float]]:
        return (e for _, e in self.items())

    def __contains__(self, key: object) -> bool:
        found = self._items.get(key) if isinstance(key, str) else None
        return found is not None and found[1] > self.timer()

    def __len__(self) -> int:
        self.expire()
        return len(self._items)
