"""Where the learned lists live: the interface, and the store in this process's memory.

A list's counts are kept as of its *stamp*: a weight added at time ``t`` counts
``w * 2 ** ((t - stamp) / half_life)``, and once ``t - stamp`` reaches an eighth of the half-life
every count is multiplied by ``2 ** ((stamp - t) / half_life)`` and the stamp moves to ``t``.
Ranking within a list never needs the present; ``read`` brings the counts to ``now``. The Redis
store does exactly the same in a script (redis_model.py).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from opmaat.recommend.model import ModelSettings, Update

ListKey = tuple[str, str]  # (family, key)
Ranked = list[tuple[str, float]]  # members with their counts as of now, highest first


@dataclass(frozen=True, slots=True)
class Lists:
    """Lists read from a store: those changed since the cursor given (all of them when
    ``full``), and the cursor to give next time. An empty list is one that is gone."""

    lists: dict[ListKey, Ranked]
    cursor: float
    full: bool


class ModelStore(Protocol):
    """The learned lists, shared by whoever uses the same store."""

    settings: ModelSettings

    async def add(self, updates: Iterable[Update], at: float) -> None:
        """Add the updates' weights, as of time ``at``, keeping every list within its bound."""

    async def read(self, since: float | None, now: float) -> Lists:
        """The best ``settings.shown`` members of the lists changed since the cursor ``since``
        (None: of every list), with counts as of ``now``."""

    async def close(self) -> None: ...


def grouped(updates: Iterable[Update]) -> dict[ListKey, dict[str, float]]:
    """Updates summed per list and member."""
    out: defaultdict[ListKey, dict[str, float]] = defaultdict(dict)
    for family, key, member, weight in updates:
        members = out[(family, key)]
        members[member] = members.get(member, 0.0) + weight
    return out


class _Counts:
    __slots__ = ("scores", "seq", "stamp")

    def __init__(self, stamp: float) -> None:
        self.scores: dict[str, float] = {}
        self.stamp = stamp
        self.seq = 0


class MemoryModelStore:
    """The learned lists in this process (one reader: the Recommender that owns it). The least
    recently changed list goes first when there are ``settings.max_keys``."""

    def __init__(self, settings: ModelSettings | None = None) -> None:
        self.settings = settings or ModelSettings()
        self._lists: dict[ListKey, _Counts] = {}
        self._seq = 0

    def __len__(self) -> int:
        return len(self._lists)

    async def add(self, updates: Iterable[Update], at: float) -> None:
        settings = self.settings
        for (family, key), members in grouped(updates).items():
            counts = self._lists.pop((family, key), None)
            if counts is None:
                counts = _Counts(at)
            half_life = settings.half_life(family)
            scores = counts.scores
            if at - counts.stamp >= settings.rescale_after(family):
                factor = 2.0 ** ((counts.stamp - at) / half_life)
                for member in scores:
                    scores[member] *= factor
                counts.stamp = at
            grow = 2.0 ** ((at - counts.stamp) / half_life)
            for member, weight in members.items():
                scores[member] = scores.get(member, 0.0) + weight * grow
            if len(scores) > settings.cut_at(family, key):
                cap = settings.cap(family, key)
                counts.scores = dict(heapq.nlargest(cap, scores.items(), key=lambda kv: kv[1]))
            self._seq += 1
            counts.seq = self._seq
            self._lists[(family, key)] = counts  # last: the most recently changed
        while len(self._lists) > settings.max_keys:
            del self._lists[next(iter(self._lists))]

    async def read(self, since: float | None, now: float) -> Lists:
        settings = self.settings
        out: dict[ListKey, Ranked] = {}
        for (family, key), counts in reversed(self._lists.items()):
            if since is not None and counts.seq <= since:
                break
            limit = settings.shown(family, key)
            factor = 2.0 ** ((counts.stamp - now) / settings.half_life(family))
            top = heapq.nlargest(limit, counts.scores.items(), key=lambda kv: kv[1])
            out[(family, key)] = [(member, score * factor) for member, score in top]
        return Lists(out, float(self._seq), since is None)

    async def close(self) -> None:
        return None
