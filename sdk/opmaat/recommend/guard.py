"""The flood guard: one address cannot move what the crowd is said to like.

Each address (an IPv6 /64 counts as one, as for the other per-address limits) contributes at
most ``per_window`` events per product per ``window`` seconds (fixed windows of event time);
what comes beyond adds nothing to any list. The counts live in this process, for at most
``max_keys`` (address, product, window) triples at once: with several nodes behind a load
balancer each node keeps its own, so an address gets at most ``per_window`` from each node.
"""

from __future__ import annotations

from cachetools import LRUCache

from opmaat.limits import address_key

PER_WINDOW = 3
WINDOW_SECONDS = 3600


class FloodGuard:
    """At most ``per_window`` contributions per address per product per window."""

    def __init__(
        self,
        per_window: int = PER_WINDOW,
        window: float = WINDOW_SECONDS,
        max_keys: int = 100_000,
    ) -> None:
        if per_window < 1 or window <= 0:
            raise ValueError("per_window must be at least 1 and window positive")
        self.per_window = per_window
        self.window = window
        self.refused = 0
        self._counts: LRUCache[tuple[str, str, int], int] = LRUCache(maxsize=max_keys)

    def allow(self, address: str, product: str, at: float) -> bool:
        """Count one contribution of ``address`` to ``product`` at time ``at``; False when
        it is over the limit (and then it is not counted)."""
        key = (address_key(address), product, int(at // self.window))
        count = self._counts.get(key, 0)
        if count >= self.per_window:
            self.refused += 1
            return False
        self._counts[key] = count + 1
        return True
